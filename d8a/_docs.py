"""The settings reference page, generated from :class:`d8a.config.Settings`.

``python -m d8a._docs > docs/settings.md`` regenerates ``docs/settings.md``;
``tests/test_docs.py`` fails when the page is stale. Every setting's meaning is
its attribute docstring in ``d8a/config.py``, read with :mod:`ast`, so the
page and the code cannot drift apart.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import itertools
import json
import re
import shlex
import textwrap
from collections.abc import Mapping
from typing import Any

from d8a.config import Settings
from d8a.config_file import BACKEND_KEYS, ENV_PREFIX

__all__ = ["BACKEND_KEY_HELP", "env_value", "field_docs", "settings_markdown", "toml_value"]

BACKEND_KEY_HELP: Mapping[str, tuple[str, str, str]] = {
    "queue": (
        "str",
        '"memory://"',
        "Where accepted hits wait for the worker: `memory://`, `sqlite:///path` or "
        "`redis://host:port/db` (`PipelineBuilder.queue`).",
    ),
    "state": (
        "str",
        '"memory://"',
        "Where open protosessions live: `memory://`, `sqlite:///path` or "
        "`redis://host:port/db` (`PipelineBuilder.state`).",
    ),
    "warehouse": (
        "str",
        '"memory://"',
        "Where rows are written: `sqlite:///events.db`, `parquet:///dir`, `csv:///dir`, "
        "`duckdb:///x.duckdb`, `clickhouse://...` ([warehouses](warehouses.md)).",
    ),
    "layout": (
        "str",
        '"embedded"',
        "How columns become tables: `embedded`, `split` or `ga4_export` "
        "([warehouses](warehouses.md)).",
    ),
    "partitions": (
        "int",
        "1",
        "Queue partitions hits are spread over by a stable hash of property and "
        "client id ([scaling](scaling.md)).",
    ),
    "protocols": (
        "list[str]",
        '["ga4"]',
        "Protocols served, by name (`ga4`, `d8a`, `matomo`).",
    ),
    "closer": (
        "str",
        '"direct"',
        "How closed protosessions become rows: `direct` (the worker writes them) or "
        "`async` (published to a second queue for `d8a worker --role writer` "
        "processes; [scaling](scaling.md)).",
    ),
    "closed_queue": (
        "str",
        "beside the queue",
        "The async closer's queue URL; by default a second queue beside `queue` "
        "([scaling](scaling.md)).",
    ),
}
"""(type, default, meaning) of each backend key of the config file."""

_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")
_DOUBLE_BACKTICKS = re.compile(r"``(.+?)``", re.DOTALL)


def _markdown(docstring: str) -> str:
    """A reST-flavoured attribute docstring as one Markdown paragraph."""
    text = " ".join(textwrap.dedent(docstring).split())
    text = _ROLE.sub(lambda m: f"`{m.group(1).rsplit('.', 1)[-1]}`", text)
    return _DOUBLE_BACKTICKS.sub(lambda m: f"`{m.group(1)}`", text)


def field_docs(cls: type[Any] = Settings) -> dict[str, str]:
    """Each annotated attribute of ``cls`` mapped to the string literal right after it."""
    (node,) = ast.parse(textwrap.dedent(inspect.getsource(cls))).body
    assert isinstance(node, ast.ClassDef)
    docs: dict[str, str] = {}
    body = node.body
    for statement, following in itertools.pairwise(body):
        if (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[statement.target.id] = following.value.value
    return docs


def toml_value(value: Any) -> str | None:
    """``value`` written as TOML, or None when TOML cannot say it (None: leave the key out)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, tuple | list):
        items = [toml_value(item) for item in value]
        if any(item is None for item in items):
            return None
        return "[" + ", ".join(str(item) for item in items) + "]"
    if isinstance(value, Mapping):
        pairs = [(key, toml_value(item)) for key, item in value.items()]
        if any(item is None for _, item in pairs):
            return None
        return "{" + ", ".join(f"{key} = {item}" for key, item in pairs) + "}"
    return None


def _default(field: dataclasses.Field[Any]) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    raise ValueError(f"setting {field.name} has no default")


def env_value(value: Any) -> str | None:
    """``value`` as a shell-quoted ``D8A_<SETTING>`` value, or None when none says it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list | Mapping):
        return shlex.quote(json.dumps(list(value) if isinstance(value, tuple) else value))
    return shlex.quote(str(value))


def _short(value: Any) -> str:
    text = repr(value)
    if len(text) <= 40:
        return f"`{text}`"
    return f"{len(value)} names" if isinstance(value, tuple) else "see below"


def _setting_section(field: dataclasses.Field[Any], doc: str) -> list[str]:
    default = _default(field)
    toml = toml_value(default)
    key = field.name
    env = ENV_PREFIX + key.upper()
    file_line = f"`{key} = {toml}`" if toml is not None else "leave the key out (the default)"
    env_text = env_value(default)
    env_line = f"`{env}={env_text}`" if env_text is not None else f"`{env}` unset (the default)"
    return [
        "",
        f"### `{key}`",
        "",
        _markdown(doc),
        "",
        f"- Type: `{field.type}`",
        f"- Default: `{default!r}`",
        f"- Config file: {file_line}",
        f"- Environment: {env_line}",
    ]


def settings_markdown() -> str:
    """The ``docs/settings.md`` page."""
    docs = field_docs()
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    names = Settings.names()
    undocumented = [name for name in names if not docs.get(name)]
    if undocumented:
        raise ValueError(f"settings without a docstring: {', '.join(undocumented)}")
    missing = sorted(set(BACKEND_KEYS) - set(BACKEND_KEY_HELP))
    if missing:
        raise ValueError(f"backend keys without help: {', '.join(missing)}")
    lines = [
        "# Settings reference",
        "",
        "<!-- Generated by `python -m d8a._docs > docs/settings.md`; do not edit",
        "     (tests/test_docs.py fails when this page is stale). -->",
        "",
        "Every setting of `d8a.config.Settings`, from its docstring in `d8a/config.py`.",
        "A setting has one name everywhere: a keyword of `d8a.replay(...)` and of",
        "`Pipeline.builder(...)`, a key of the TOML config file of the `d8a` command",
        "([cli](cli.md)), and, upper-cased after `D8A_`, an environment variable that",
        "overrides the file. An environment value is read as `true`/`false`, JSON when",
        "it starts with `[` or `{`, an int, a float, or else a string. Durations are",
        "seconds. An unknown name or a bad value raises `ConfigurationError` naming it.",
        "",
        "| Setting | Default | Environment variable |",
        "| --- | --- | --- |",
    ]
    for name in names:
        lines.append(
            f"| [`{name}`](#{name}) | {_short(_default(fields[name]))} "
            f"| `{ENV_PREFIX}{name.upper()}` |"
        )
    lines += ["", "## Settings"]
    for name in names:
        lines += _setting_section(fields[name], docs[name])
    lines += [
        "",
        "## Backend keys",
        "",
        "The config file and `D8A_<KEY>` variables also choose the backends; in Python",
        "these are the `PipelineBuilder` methods of the same names.",
        "",
        "| Key | Type | Default | Environment variable | Meaning |",
        "| --- | --- | --- | --- | --- |",
    ]
    for key in BACKEND_KEYS:
        type_, default, meaning = BACKEND_KEY_HELP[key]
        lines.append(
            f"| `{key}` | `{type_}` | `{default}` | `{ENV_PREFIX}{key.upper()}` | {meaning} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(settings_markdown(), end="")
