"""The documentation site: its code runs, it builds strictly, its generated page is current.

Every ```` ```python ```` block of ``docs/index.md``, ``docs/concepts.md`` and
``docs/extending/*.md`` runs, page by page: a page's blocks are joined in order
into one test module (one namespace), which runs in a directory of its own
under a temporary directory. One pytest subprocess runs all those modules, so
the conformance suites a page subclasses (``class TestX(DriverConformance)``)
run too, and a last test in each module proves that every block ran to the end.
The same modules pass ``mypy --strict``; the site builds with ``mkdocs build
--strict``; ``docs/settings.md`` is what :mod:`d8a._docs` generates.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ElementTree
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from d8a._docs import env_value, field_docs, settings_markdown, toml_value
from d8a.config import Settings
from d8a.config_file import load_config

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"
SETTINGS_PAGE = DOCS / "settings.md"
CODE_PAGES = sorted(
    [DOCS / "index.md", DOCS / "concepts.md", *(DOCS / "extending").glob("*.md")],
    key=lambda page: str(page),
)
_PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```\s*$", re.DOTALL | re.MULTILINE)
_DONE = "_DOCS_BLOCKS_RAN_TO_THE_END"


def python_blocks(markdown: str) -> list[str]:
    """The bodies of the ```` ```python ```` fenced blocks of ``markdown``, in order."""
    return _PYTHON_BLOCK.findall(markdown)


def module_name(page: Path) -> str:
    relative = page.relative_to(DOCS).with_suffix("")
    return "test_docs_" + re.sub(r"\W", "_", str(relative))


def page_module(page: Path) -> str:
    """The test module for ``page``: chdir to its own directory, its blocks, a last test."""
    blocks = python_blocks(page.read_text(encoding="utf-8"))
    return "\n\n".join(
        [
            "import os as _os\n_os.chdir(_os.path.dirname(_os.path.abspath(__file__)))",
            *blocks,
            f"{_DONE} = True\n\n\ndef test_every_block_ran() -> None:\n    assert {_DONE}",
        ]
    )


@dataclass
class Outcomes:
    """Test outcomes per module of one pytest run, and its output."""

    returncode: int
    output: str
    by_module: dict[str, Counter[str]]


def _outcomes(report: Path) -> dict[str, Counter[str]]:
    by_module: dict[str, Counter[str]] = {}
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        module = (case.get("classname") or case.get("name") or "").split(".")[0]
        outcome = "passed"
        for kind in ("failure", "error", "skipped"):
            if case.find(kind) is not None:
                outcome = kind
        by_module.setdefault(module, Counter())[outcome] += 1
    return by_module


@pytest.fixture(scope="module")
def docs_code(tmp_path_factory: pytest.TempPathFactory) -> Outcomes:
    """Run every code page's module in one pytest subprocess."""
    directory = tmp_path_factory.mktemp("docs-code")
    files = []
    for page in CODE_PAGES:
        name = module_name(page)
        (directory / name).mkdir()
        (directory / name / f"{name}.py").write_text(page_module(page), encoding="utf-8")
        files.append(f"{name}/{name}.py")
    report = directory / "report.xml"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    command += ["--import-mode=importlib", f"--junitxml={report}", "--rootdir", str(directory)]
    result = subprocess.run(
        [*command, *files],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return Outcomes(result.returncode, result.stdout + result.stderr, _outcomes(report))


def test_the_code_pages_are_found() -> None:
    names = {page.relative_to(DOCS).as_posix() for page in CODE_PAGES}
    assert {"index.md", "concepts.md", "extending/driver.md", "extending/state.md"} <= names
    for page in CODE_PAGES:
        if page != DOCS / "extending" / "index.md":  # the overview: a table, no code
            assert python_blocks(page.read_text(encoding="utf-8")), f"{page} has no python block"


def test_python_blocks_are_extracted_in_order() -> None:
    text = "x\n```python\na = 1\n```\n```bash\nls\n```\n```python\nb = a\n```\n"
    assert python_blocks(text) == ["a = 1\n", "b = a\n"]
    assert python_blocks("```pycon\n>>> 1\n```\n") == []


@pytest.mark.parametrize("page", CODE_PAGES, ids=lambda page: page.relative_to(DOCS).as_posix())
def test_page_code_runs(docs_code: Outcomes, page: Path) -> None:
    outcomes = docs_code.by_module.get(module_name(page), Counter())
    assert outcomes["passed"] >= 1, docs_code.output[-6000:]
    assert outcomes["failure"] == outcomes["error"] == outcomes["skipped"] == 0, docs_code.output[
        -6000:
    ]
    if "Conformance):" in page.read_text(encoding="utf-8"):  # the suites ran, not only the page
        assert outcomes["passed"] >= 10, outcomes


def test_the_code_pages_type_check(tmp_path: Path) -> None:
    """The worked backends are typed the way the package is: mypy --strict passes."""
    for page in CODE_PAGES:
        (tmp_path / f"{module_name(page)}.py").write_text(page_module(page), encoding="utf-8")
    config = ROOT / "pyproject.toml"
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--config-file", str(config), "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_failing_block_fails_its_page(tmp_path: Path) -> None:
    page = tmp_path / "broken.md"
    page.write_text("```python\nx = 1\n```\n\n```python\nassert x == 2\n```\n", encoding="utf-8")
    module = tmp_path / "test_broken.py"
    module.write_text(page_module(page), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(module)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert "assert x == 2" in result.stdout + result.stderr


def _mkdocs(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    result = _mkdocs(ROOT / "mkdocs.yml", tmp_path / "site")
    assert result.returncode == 0, result.stdout + result.stderr
    site = tmp_path / "site"
    for page in DOCS.rglob("*.md"):  # every page is built (mkdocs' directory URLs)
        parts = page.relative_to(DOCS).with_suffix("").parts
        built = site.joinpath(*parts[:-1]) if parts[-1] == "index" else site.joinpath(*parts)
        assert (built / "index.html").is_file(), parts


@pytest.fixture
def docs_copy(tmp_path: Path) -> Path:
    """A copy of mkdocs.yml and docs/ to break."""
    shutil.copytree(DOCS, tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    return tmp_path


def test_a_broken_link_fails_the_build(docs_copy: Path) -> None:
    with (docs_copy / "docs" / "concepts.md").open("a", encoding="utf-8") as page:
        page.write("\nSee [nowhere](no-such-page.md) and [here](index.md#no-such-anchor).\n")
    result = _mkdocs(docs_copy / "mkdocs.yml", docs_copy / "site")
    assert result.returncode != 0
    assert "no-such-page.md" in result.stdout + result.stderr


def test_a_page_left_out_of_the_nav_fails_the_build(docs_copy: Path) -> None:
    (docs_copy / "docs" / "orphan.md").write_text("# Orphan\n", encoding="utf-8")
    result = _mkdocs(docs_copy / "mkdocs.yml", docs_copy / "site")
    assert result.returncode != 0
    assert "orphan.md" in result.stdout + result.stderr


def test_the_quick_start_is_the_readmes() -> None:
    def commands(text: str) -> list[str]:
        block = re.search(r"^```bash\n(.*?)^```", text, re.DOTALL | re.MULTILINE)
        assert block is not None
        return [line.split("#")[0].strip() for line in block.group(1).splitlines()]

    index = (DOCS / "index.md").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert commands(index) == commands(readme) == ["./dev demo", "./dev test"]


def test_the_settings_page_is_current() -> None:
    """Regenerate with ``python -m d8a._docs > docs/settings.md``."""
    assert SETTINGS_PAGE.read_text(encoding="utf-8") == settings_markdown(), (
        "docs/settings.md is stale: run python -m d8a._docs > docs/settings.md"
    )


def test_every_setting_has_a_section_with_its_names() -> None:
    page = SETTINGS_PAGE.read_text(encoding="utf-8")
    docs = field_docs(Settings)
    for name in Settings.names():
        assert docs[name].strip(), name
        assert f"### `{name}`" in page
        assert f"`D8A_{name.upper()}" in page
    assert "### `extra`" not in page  # reserved, not a setting


def _default(name: str) -> object:
    field = {f.name: f for f in dataclasses.fields(Settings)}[name]
    return field.default if field.default is not dataclasses.MISSING else None


@pytest.mark.parametrize("name", Settings.names())
def test_the_documented_config_values_read_back_as_the_default(name: str) -> None:
    default = _default(name)
    expected = getattr(Settings(), name)
    toml = toml_value(default)
    if toml is not None:
        value = tomllib.loads(f"{name} = {toml}")[name]
        assert getattr(Settings.from_kwargs(**{name: value}), name) == expected
    env = env_value(default)
    if env is not None:
        (text,) = shlex.split(env)
        config = load_config(None, {f"D8A_{name.upper()}": text})
        assert getattr(Settings.from_kwargs(**config), name) == expected


def test_field_docs_reads_attribute_docstrings_only() -> None:
    @dataclass
    class Sample:
        documented: int = 1
        """Said here."""
        bare: str = ""
        not_a_field = "x"
        """Not annotated, so not read."""

    assert field_docs(Sample) == {"documented": "Said here."}


def test_toml_value_says_what_toml_can_and_none_otherwise() -> None:
    assert toml_value(True) == "true"
    assert toml_value(1.5) == "1.5"
    assert toml_value('a "b"') == '"a \\"b\\""'
    assert toml_value(("x", 2)) == '["x", 2]'
    assert toml_value({"fields": ["ip"]}) == '{fields = ["ip"]}'
    for unsayable in (None, object(), [None], {"k": None}):
        assert toml_value(unsayable) is None
    assert tomllib.loads(f"v = {toml_value({'a': [1, 2], 'b': 'c'})}")["v"] == {
        "a": [1, 2],
        "b": "c",
    }
