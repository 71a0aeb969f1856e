"""The TOML configuration file, its environment overrides, and the pipeline it builds."""

from __future__ import annotations

from pathlib import Path

import pytest

from d8a.config_file import load_config, parse_env_value, pipeline_from_config
from d8a.errors import ConfigurationError
from d8a.layouts.split import SplitLayout

CONFIG = """
session_timeout = 900
property_name = "My shop"
excluded_url_params = ["utm_source", "gclid"]
warehouse = "memory://"
layout = "split"
partitions = 2
protocols = ["ga4", "d8a"]

[filters]
fields = ["ip_address"]

[[filters.conditions]]
name = "office"
type = "exclude"
test_mode = false
expression = 'ip_address == "10.0.0.1"'
"""


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "d8a.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_reads_settings_tables_and_backend_keys(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, CONFIG), {})
    assert config["session_timeout"] == 900
    assert config["filters"]["conditions"][0]["name"] == "office"
    assert config["protocols"] == ["ga4", "d8a"]


def test_no_file_and_no_environment_is_empty() -> None:
    assert load_config(None, {}) == {}


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    environ = {
        "D8A_SESSION_TIMEOUT": "60",
        "D8A_SPLIT_BY_USER_ID": "false",
        "D8A_EXCLUDED_URL_PARAMS": '["fbclid"]',
        "D8A_WAREHOUSE": "sqlite:///x.db",
        "D8A_REDIS_SERVER": "/usr/bin/redis-server",  # not a key: ignored
        "PATH": "/bin",
    }
    config = load_config(_write(tmp_path, CONFIG), environ)
    assert config["session_timeout"] == 60
    assert config["split_by_user_id"] is False
    assert config["excluded_url_params"] == ["fbclid"]
    assert config["warehouse"] == "sqlite:///x.db"
    assert "redis_server" not in config and "path" not in config


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("42", 42),
        ("1.5", 1.5),
        ("TRUE", True),
        ("false", False),
        ('{"a": [1]}', {"a": [1]}),
        ("[1, 2]", [1, 2]),
        ("Europe/Warsaw", "Europe/Warsaw"),
    ],
)
def test_environment_values_are_parsed(text: str, value: object) -> None:
    assert parse_env_value(text) == value


def test_bad_json_in_environment_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="D8A_FILTERS"):
        load_config(None, {"D8A_FILTERS": "{not json"})


def test_unknown_keys_are_named(tmp_path: Path) -> None:
    path = _write(tmp_path, "session_timeout = 10\nsesion_timeout = 5\nwarehose = 'x'\n")
    with pytest.raises(ConfigurationError, match="sesion_timeout, warehose"):
        load_config(path, {})


def test_not_toml_and_missing_file_are_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not TOML"):
        load_config(_write(tmp_path, "session_timeout = = 1"), {})
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_config(str(tmp_path / "missing.toml"), {})


def test_pipeline_from_config_applies_settings_and_backends(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, CONFIG), {"D8A_SESSION_TIMEOUT": "120"})
    with pipeline_from_config(config) as pipeline:
        assert pipeline.settings.session_timeout == 120.0
        assert pipeline.settings.property_name == "My shop"
        assert pipeline.settings.excluded_url_params == ("utm_source", "gclid")
        assert [p.id for p in pipeline.protocols] == ["ga4", "d8a"]
        assert isinstance(pipeline.layout, SplitLayout)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"partitions": 0}, "partitions"),
        ({"protocols": [1]}, "protocols"),
        ({"session_timeout": -1}, "session_timeout"),
        ({"layout": "nope"}, "nope"),
    ],
)
def test_pipeline_from_config_rejects_bad_values(config: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        pipeline_from_config(config)
