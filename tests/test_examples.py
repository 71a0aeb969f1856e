"""Every example in examples/ runs and prints what it promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SERVERS = {"flask_app.py", "fastapi_app.py"}
"""Examples that serve until stopped; tests/test_example_servers.py runs them."""
EXAMPLES = sorted(
    path
    for path in (Path(__file__).parent.parent / "examples").glob("*.py")
    if path.name not in SERVERS
)


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_example_runs(example: Path, tmp_path: Path) -> None:
    args = [sys.executable, str(example)]
    if example.name == "embedded_pipeline.py":
        args.append(str(tmp_path))
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    if example.name == "embedded_pipeline.py":
        assert (tmp_path / "events.db").exists()
        assert " hits in " in result.stdout


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 3
