"""Build a copy of d8a whose hot modules are compiled to C by mypyc.

d8a is plain Python, fully typed (``mypy --strict``), so mypyc can compile its
modules to C extensions without a change of code: the same source, run without
the interpreter's bytecode loop. This script copies the package into
``--target`` (default ``build/compiled``) and compiles the modules a replayed
hit runs through most (:data:`HOT_MODULES`); the others, and every base class
that host code subclasses (columns, protocols, layouts, drivers, storages),
stay Python. Put the target first on ``PYTHONPATH`` to import that copy:

    python benchmarks/build_compiled.py
    PYTHONPATH=build/compiled python benchmarks/bench_pipeline.py

It needs a C compiler, Python's headers, ``mypy`` (which ships mypyc) and
``setuptools``; ``./dev bench --compiled`` does both steps. A build is kept
until a source file changes. The compiled classes cannot be patched at run time
(``bench_replay_phases.py`` wraps methods, so it times the Python build only).

The same routine compiles the modules a wheel ships when it is built with
``D8A_COMPILE=1`` (``hatch_build.py``, the project's build hook).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

PACKAGE = Path(__file__).resolve().parent.parent / "d8a"

HOT_MODULES = (
    "d8a/hits.py",
    "d8a/encoding.py",
    "d8a/receiver.py",
    "d8a/protocols/query.py",
    "d8a/protocols/ga4.py",
    "d8a/protocols/ga4_columns.py",
    "d8a/protocols/ga4_params.py",
    "d8a/protocols/ga4_ecommerce.py",
    "d8a/protocols/ga4_sessions.py",
    "d8a/storage/memory.py",
    "d8a/protosessions/identity.py",
    "d8a/protosessions/wheel.py",
    "d8a/protosessions/handler.py",
    "d8a/protosessions/tasks.py",
    "d8a/columns/rows.py",
    "d8a/columns/casts.py",
    "d8a/columns/urls.py",
    "d8a/columns/simple.py",
    "d8a/columns/core.py",
    "d8a/columns/attribution.py",
    "d8a/columns/session_index.py",
    "d8a/columns/session_scoped.py",
    "d8a/columns/session_dominant.py",
    "d8a/columns/session_core.py",
    "d8a/columns/session_columns.py",
    "d8a/sessions/split.py",
    "d8a/sessions/writer.py",
    "d8a/layouts/row_arrays.py",
    "d8a/layouts/embedded.py",
    "d8a/runner.py",
    "d8a/pipeline.py",
    "d8a/replay.py",
)
"""The modules compiled, by path inside the package's parent folder. Not
``d8a/sessions/filters.py``: its dataclasses take the raw setting (a list where a
tuple is declared) and validate it afterwards, and compiled code checks the
declared types on entry, so a bad setting would raise a bare TypeError there. Nor
``d8a/columns/columnset.py``: compiled, its cached properties are computed again
at every use."""


MYPY_INI = "[mypy]\nignore_missing_imports = True\n"
"""mypyc type-checks what it compiles, and everything those modules import. The
packages d8a imports lazily (Redis, DuckDB, the server...) need not be installed
where it compiles (a wheel's build environment holds none of them): their types
are then unknown, which changes nothing but a few checks on entry. ``mypy
--strict d8a``, with them installed, is what checks d8a's types."""


SETUP = """\
from setuptools import setup
from mypyc.build import mypycify

setup(name="d8a-compiled", ext_modules=mypycify({modules!r}, opt_level="3"))
"""

STAMP = ".d8a-compiled"
"""File in the target holding the digest of the sources it was built from."""


def sources_digest(package: Path = PACKAGE) -> str:
    """A digest of every Python source of ``package``, the module list, the mypy
    settings and mypyc's version."""
    import mypy.version

    digest = hashlib.sha256(f"{HOT_MODULES}{MYPY_INI}{mypy.version.__version__}".encode())
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def compiled_modules(target: Path) -> list[Path]:
    """The compiled extension files of the copy in ``target``."""
    return sorted((target / "d8a").rglob("*.so"))


def wheel_files(target: Path) -> dict[Path, str]:
    """The files of the build in ``target`` that a wheel adds, by their path in the
    wheel: the compiled modules beside d8a's sources, and mypyc's shared library
    beside the package."""
    files = {path: path.relative_to(target).as_posix() for path in compiled_modules(target)}
    files.update({path: path.name for path in target.glob("*.so")})
    return files


def is_compiled(module: ModuleType) -> bool:
    """Whether ``module`` was imported from a compiled extension, not from source."""
    return str(getattr(module, "__file__", "")).endswith(".so")


def build(target: Path, package: Path = PACKAGE) -> Path:
    """Copy ``package`` into ``target`` and compile :data:`HOT_MODULES` there, unless
    ``target`` already holds a build of the same sources; return ``target``."""
    target = target.resolve()
    digest = sources_digest(package)
    stamp = target / STAMP
    if stamp.exists() and stamp.read_text() == digest and compiled_modules(target):
        return target
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(package, target / "d8a", ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    (target / "mypy.ini").write_text(MYPY_INI)
    (target / "setup.py").write_text(SETUP.format(modules=list(HOT_MODULES)))
    command = [sys.executable, "setup.py", "build_ext", "--inplace"]
    done = subprocess.run(command, cwd=target, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        output = (done.stdout + done.stderr)[-3000:]
        raise RuntimeError(f"mypyc failed (exit {done.returncode}):\n{output}")
    if len(compiled_modules(target)) < len(HOT_MODULES):
        raise RuntimeError(f"mypyc built fewer modules than {len(HOT_MODULES)} in {target}")
    stamp.write_text(digest)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", type=Path, default=Path("build/compiled"))
    args = parser.parse_args()
    try:
        target = build(args.target)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    count = len(compiled_modules(target))
    print(f"{count} compiled modules; import them with PYTHONPATH={target}{os.pathsep}...")
    return 0


if __name__ == "__main__":
    sys.exit(main())
