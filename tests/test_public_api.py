"""The public surface is what we meant, and importing d8a pulls in no optional extra."""

from __future__ import annotations

import subprocess
import sys

import d8a


def test_public_names() -> None:
    assert set(d8a.__all__) >= {
        "Pipeline",
        "PipelineBuilder",
        "replay",
        "read_requests",
        "Settings",
        "ConfigurationError",
        "ManualClock",
        "Response",
    }
    for name in d8a.__all__:
        assert hasattr(d8a, name), name


def test_import_pulls_in_no_optional_dependency() -> None:
    code = (
        "import sys, d8a, d8a.testing, d8a.warehouse, d8a.queue, d8a.storage\n"
        "heavy = {'duckdb', 'clickhouse_connect', 'google', 'redis', 'uvicorn', 'hypothesis',\n"
        "         'device_detector', 'ua_parser', 'maxminddb', 'mmdb_writer'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_core_dependencies_are_exactly_the_five() -> None:
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    names = sorted(d.split(">")[0].split("=")[0] for d in project["project"]["dependencies"])
    assert names == ["cbor2", "pyarrow", "sqlitedict", "typing-extensions", "zstandard"]


def test_no_pickle_no_wall_clock_no_builtin_hash() -> None:
    import re
    from pathlib import Path

    root = Path(d8a.__file__).parent
    for path in root.rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"^\s*(import|from) pickle", text, re.M), path
        assert not re.search(r"(?<![\w.])hash\(", text), path
        if path.name != "clock.py":
            assert not re.search(r"time\.time\(\)|datetime\.now\(|datetime\.utcnow\(", text), path
