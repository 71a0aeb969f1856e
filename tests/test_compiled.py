"""The mypyc-compiled build (benchmarks/build_compiled.py): it builds, its hot
modules are really the compiled ones, it gives the same tables as the Python
build, and the core test files pass against it. A wheel built with
``D8A_COMPILE=1`` (hatch_build.py) ships those modules; one built without it is
pure Python."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc
import pytest

import d8a
from d8a.testing import generate_traffic

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))  # hatch_build.py, the project's build hook

from build_compiled import HOT_MODULES, STAMP, build, compiled_modules  # noqa: E402

import hatch_build  # noqa: E402

REPLAY = """
import sys
import pyarrow as pa
import d8a, d8a.hits, d8a.sessions.writer
from d8a.testing import generate_traffic

assert d8a.hits.__file__.endswith(".so"), d8a.hits.__file__
assert d8a.sessions.writer.__file__.endswith(".so"), d8a.sessions.writer.__file__
table = d8a.replay(list(generate_traffic(visitors=60, seed=7, days=2)))["events"]
with pa.OSFile(sys.argv[1], "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
    writer.write_table(table)
"""

CORE_TESTS = (
    "tests/test_replay.py",
    "tests/test_receiver.py",
    "tests/test_ga4_protocol.py",
    "tests/test_ga4_columns.py",
    "tests/test_session_columns.py",
    "tests/test_sessionisation_properties.py",
    "tests/test_layouts.py",
    "tests/test_row_arrays.py",
)
"""Test files run against the compiled build; they patch nothing at run time."""


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield build(tmp_path_factory.mktemp("compiled"))


def _env(target: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{target}{os.pathsep}{ROOT}"}


def test_every_hot_module_is_compiled(compiled: Path) -> None:
    built = {path.name.split(".")[0] for path in compiled_modules(compiled)}
    assert {Path(module).stem for module in HOT_MODULES} <= built
    assert (compiled / STAMP).exists()


def test_an_unchanged_source_is_not_built_again(compiled: Path) -> None:
    before = {path: path.stat().st_mtime_ns for path in compiled_modules(compiled)}
    assert build(compiled) == compiled
    assert {path: path.stat().st_mtime_ns for path in compiled_modules(compiled)} == before


def _replay_from(folder: Path, out: Path) -> pa.Table:
    """The events table of a replay by the d8a in ``folder`` (checked to be compiled)."""
    subprocess.run(
        [sys.executable, "-c", REPLAY, str(out)],
        cwd=folder,  # first on sys.path: not the checkout's d8a
        env=_env(folder),
        check=True,
        timeout=300,
    )
    with pa.memory_map(str(out)) as source:
        return pa.ipc.open_file(source).read_all()


def test_compiled_replay_gives_the_python_tables(compiled: Path, tmp_path: Path) -> None:
    from_compiled = _replay_from(compiled, tmp_path / "events.arrow")
    expected = d8a.replay(list(generate_traffic(visitors=60, seed=7, days=2)))["events"]
    assert from_compiled.num_rows == expected.num_rows > 100
    assert from_compiled.equals(expected)


def _pip_wheel(folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Build d8a's wheel into ``folder`` with this environment's hatchling."""
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    return subprocess.run(
        [*command, "-q", "-w", str(folder), str(ROOT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def _wheel(folder: Path, env: dict[str, str]) -> Path:
    done = _pip_wheel(folder, env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    (wheel,) = folder.glob("d8a-*.whl")
    return wheel


def _without_compile() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("D8A_COMPILE", "D8A_COMPILED_BUILD")}


def test_a_wheel_is_pure_python_unless_asked(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path, _without_compile())
    assert wheel.name.endswith("-py3-none-any.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "d8a/hits.py" in names
    assert not [name for name in names if name.endswith(".so")]


def test_a_compiled_wheel_ships_the_compiled_modules(compiled: Path, tmp_path: Path) -> None:
    before = {path: path.stat().st_mtime_ns for path in compiled_modules(compiled)}
    env = {**_without_compile(), "D8A_COMPILE": "1", "D8A_COMPILED_BUILD": str(compiled)}
    wheel = _wheel(tmp_path / "dist", env)
    assert {path: path.stat().st_mtime_ns for path in compiled_modules(compiled)} == before
    assert "-py3-none-any" not in wheel.name and "-cp3" in wheel.name  # interpreter-tagged
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in HOT_MODULES:  # each compiled module beside its source
        assert module in names
        assert [n for n in names if n.startswith(module[:-3] + ".cpython-")], module
    assert [n for n in names if "/" not in n and n.endswith(".so")]  # mypyc's shared library
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)  # what pip installs, without a new environment
    from_wheel = _replay_from(site, tmp_path / "events.arrow")
    expected = d8a.replay(list(generate_traffic(visitors=60, seed=7, days=2)))["events"]
    assert from_wheel.equals(expected)


def test_a_failed_compile_fails_the_build_and_says_why(tmp_path: Path) -> None:
    """No C compiler (here: one that always fails): no wheel, and the reason."""
    env = {
        **_without_compile(),
        "D8A_COMPILE": "1",
        "D8A_COMPILED_BUILD": str(tmp_path / "build"),
        "CC": "/bin/false",
    }
    done = _pip_wheel(tmp_path / "dist", env)
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "D8A_COMPILE is set but the compiled build failed: mypyc failed" in output
    assert not list((tmp_path / "dist").glob("*.whl"))


@pytest.mark.parametrize(
    ("value", "asked"),
    [("1", True), ("true", True), (" Yes ", True), ("on", True), ("0", False), ("", False)],
)
def test_d8a_compile_values(monkeypatch: pytest.MonkeyPatch, value: str, asked: bool) -> None:
    monkeypatch.setenv("D8A_COMPILE", value)
    assert hatch_build.compile_requested() is asked


PYTEST_COMPILED = """
import sys
import pytest
import d8a.hits  # imported from the compiled copy (the current folder) before pytest runs

assert d8a.hits.__file__.endswith(".so"), d8a.hits.__file__
sys.exit(pytest.main(sys.argv[1:]))
"""


def test_core_tests_pass_against_the_compiled_build(compiled: Path) -> None:
    options = ["-p", "no:cacheprovider", f"--rootdir={ROOT}"]  # -q comes from pyproject.toml
    command = [
        sys.executable,
        "-c",
        PYTEST_COMPILED,
        *options,
        *(str(ROOT / t) for t in CORE_TESTS),
    ]
    done = subprocess.run(
        command, cwd=compiled, env=_env(compiled), capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout


def test_the_phase_benchmark_refuses_the_compiled_build(compiled: Path) -> None:
    """Wrappers on compiled code time nothing: the script says so instead."""
    script = ROOT / "benchmarks" / "bench_replay_phases.py"
    done = subprocess.run(
        [sys.executable, str(script), "--hits", "200"],
        cwd=compiled,
        env=_env(compiled),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    assert "are compiled" in done.stderr and "receiver" in done.stderr
