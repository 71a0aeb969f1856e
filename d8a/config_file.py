"""Pipeline configuration from a TOML file, overridden by ``D8A_<SETTING>`` variables.

The file's keys are the setting names of :class:`d8a.config.Settings`
(``session_timeout = 1800``, a ``[filters]`` table, ...) plus the backend keys
in :data:`BACKEND_KEYS`. An environment variable ``D8A_<KEY>`` (the key upper
cased, such as ``D8A_SESSION_TIMEOUT``) overrides the file's value; its text is
read as an int, a float, ``true``/``false``, JSON when it starts with ``[`` or
``{`` (lists and tables), and as a plain string otherwise. ``D8A_`` variables
that name no key are ignored, since other tools share the prefix.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from typing import Any

from d8a.config import Settings
from d8a.errors import ConfigurationError
from d8a.pipeline import Pipeline, PipelineBuilder

__all__ = [
    "BACKEND_KEYS",
    "builder_from_config",
    "load_config",
    "parse_env_value",
    "pipeline_from_config",
]

BACKEND_KEYS: tuple[str, ...] = (
    "queue",
    "state",
    "warehouse",
    "layout",
    "partitions",
    "protocols",
    "closer",
    "closed_queue",
)
"""Keys that choose backends rather than settings (see :class:`d8a.PipelineBuilder`)."""
PROCESS_KEYS: tuple[str, ...] = ("role",)
"""Keys a command reads for its own process (``d8a worker``'s role), not for the pipeline."""

ENV_PREFIX = "D8A_"


def _known() -> tuple[str, ...]:
    return (*Settings.names(), *BACKEND_KEYS, *PROCESS_KEYS)


def parse_env_value(text: str) -> Any:
    """An environment variable's text as a TOML-like value (see the module docstring)."""
    stripped = text.strip()
    lowered = stripped.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if stripped[:1] in ("[", "{"):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"not JSON: {text!r} ({exc})") from None
    for kind in (int, float):
        try:
            return kind(stripped)
        except ValueError:
            pass
    return text


def load_config(path: str | None, environ: Mapping[str, str]) -> dict[str, Any]:
    """The configuration in the TOML file ``path`` (None for none), with ``environ``'s
    ``D8A_<KEY>`` overrides applied. Raises ConfigurationError for unknown keys,
    naming them, and for a file that is not TOML."""
    config: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as file:
                config = tomllib.load(file)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"{path}: not TOML: {exc}") from None
        except OSError as exc:
            raise ConfigurationError(f"cannot read config file {path}: {exc}") from None
    known = _known()
    unknown = sorted(set(config) - set(known))
    if unknown:
        raise ConfigurationError(
            f"unknown key(s) {', '.join(unknown)} in {path}; known: {', '.join(sorted(known))}"
        )
    for key in known:
        name = ENV_PREFIX + key.upper()
        if name in environ:
            try:
                config[key] = parse_env_value(environ[name])
            except ConfigurationError as exc:
                raise ConfigurationError(f"{name}: {exc}") from None
    return config


def pipeline_from_config(config: Mapping[str, Any]) -> Pipeline:
    """A built :class:`Pipeline` from a :func:`load_config` mapping: settings to the
    builder, each backend key to its builder method. Raises ConfigurationError."""
    return builder_from_config(config).build()


def builder_from_config(config: Mapping[str, Any]) -> PipelineBuilder:
    """The :class:`PipelineBuilder` :func:`pipeline_from_config` builds, for callers
    that add more (batching, pings) before ``build()``."""
    values = {key: value for key, value in config.items() if key not in PROCESS_KEYS}
    backends = {key: values.pop(key) for key in BACKEND_KEYS if key in values}
    builder = Pipeline.builder(**values)
    for key in ("queue", "state", "warehouse", "layout"):
        if key in backends:
            getattr(builder, key)(backends[key])
    if "partitions" in backends:
        partitions = backends["partitions"]
        if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
            raise ConfigurationError(f"partitions must be a positive int, not {partitions!r}")
        builder.partitions(partitions)
    if "protocols" in backends:
        protocols = backends["protocols"]
        if isinstance(protocols, str):
            protocols = [protocols]
        if not isinstance(protocols, list) or not all(isinstance(p, str) for p in protocols):
            raise ConfigurationError(f"protocols must be a list of names, not {protocols!r}")
        builder.protocols(*protocols)
    if "closer" in backends or "closed_queue" in backends:
        kind = backends.get("closer", "async")
        if not isinstance(kind, str):
            raise ConfigurationError(f"closer must be 'direct' or 'async', not {kind!r}")
        builder.closer(kind, backends.get("closed_queue"))
    return builder
