"""Hatchling build hook: with ``D8A_COMPILE=1``, the wheel ships d8a's hot modules
compiled by mypyc.

    D8A_COMPILE=1 pip install .        # or: D8A_COMPILE=1 pip wheel . -w dist

Without the variable (and for editable installs) nothing happens: the wheel is
pure Python, as always. With it, the build environment gets ``mypy`` (which
ships mypyc) and ``setuptools``, the modules of ``HOT_MODULES`` are compiled by
``benchmarks/build_compiled.py`` (the same routine as the benchmarks' compiled
copy) into ``build/compiled``, or the folder ``D8A_COMPILED_BUILD`` names, which
is reused while no source changes, and the wheel gets their extension modules
beside the sources, tagged for this interpreter and platform. Python imports an
extension module before a source file of the same name. It needs a C compiler
and Python's headers.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

COMPILE = "D8A_COMPILE"
BUILD_FOLDER = "D8A_COMPILED_BUILD"


def compile_requested() -> bool:
    """Whether ``D8A_COMPILE`` asks for a compiled wheel (1, true, yes or on)."""
    return os.environ.get(COMPILE, "").strip().lower() in {"1", "true", "yes", "on"}


def _build_compiled(root: Path) -> ModuleType:
    """``benchmarks/build_compiled.py``, loaded by path (the build has no sys.path to it)."""
    path = root / "benchmarks" / "build_compiled.py"
    spec = importlib.util.spec_from_file_location("d8a_build_compiled", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class CompiledModulesHook(BuildHookInterface):  # type: ignore[type-arg]
    """Adds the compiled modules to a wheel when ``D8A_COMPILE`` is set."""

    PLUGIN_NAME = "custom"

    def dependencies(self) -> list[str]:
        """What compiling needs in the build environment; nothing otherwise."""
        return ["mypy>=1.10", "setuptools>=65"] if compile_requested() else []

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version == "editable" or not compile_requested():
            return
        root = Path(self.root)
        compiler = _build_compiled(root)
        folder = Path(os.environ.get(BUILD_FOLDER) or root / "build" / "compiled")
        try:
            target = compiler.build(folder, root / "d8a")
        except RuntimeError as exc:
            raise RuntimeError(f"{COMPILE} is set but the compiled build failed: {exc}") from None
        for path, name in compiler.wheel_files(target).items():
            build_data["force_include"][str(path)] = name
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
