"""Config loading: file, [env.NAME], ${ENV} secrets, CLI overrides, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_spark.config import SCHEMA, ConfigError, build, reference_markdown

GOOD = """
[targets]
api_urls = ["https://api-1.spark.example", "https://api-2.spark.example"]
db_dsn = "postgresql://spark_ro:${SPARK_DB_PASSWORD}@db.spark.example:5432/spark"
prometheus_url = "https://prom.spark.example"
ntp_servers = ["ntp1.example:123"]

[thresholds]
ntp_max_offset_s = 0.001
sequence_fail_ratio = 0.9

[release]
version = "1.4.0"
migration = 7

[env.staging.targets]
api_urls = ["https://staging.spark.example"]

[env.staging.policy]
allow_writes = true
"""


def write(tmp_path: Path, text: str, name: str = "spark.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


ENV = {"SPARK_DB_PASSWORD": "s3cr3t-pw"}


def test_good_file_is_loaded_with_defaults_for_the_rest(tmp_path):
    cfg = build(path=write(tmp_path, GOOD), environ=ENV)
    assert cfg.targets["api_urls"][1] == "https://api-2.spark.example"
    assert cfg.thresholds["ntp_max_offset_s"] == 0.001
    assert cfg.thresholds["clock_skew_s"] == 1.0  # default kept
    assert cfg.release["migration"] == 7
    assert cfg.targets["db_dsn"].endswith(":s3cr3t-pw@db.spark.example:5432/spark")


def test_spark_toml_in_cwd_is_found(tmp_path):
    write(tmp_path, GOOD)
    assert build(path=None, cwd=tmp_path, environ=ENV).source.endswith("spark.toml")


def test_no_file_at_all_gives_defaults(tmp_path):
    cfg = build(path=None, cwd=tmp_path, environ={})
    assert cfg.policy["allow_writes"] is False and cfg.targets["api_urls"] == []


def test_env_section_overrides_base(tmp_path):
    cfg = build(path=write(tmp_path, GOOD), env_name="staging", environ=ENV)
    assert cfg.targets["api_urls"] == ["https://staging.spark.example"]
    assert cfg.policy["allow_writes"] is True
    assert cfg.thresholds["ntp_max_offset_s"] == 0.001


def test_cli_overrides_win(tmp_path):
    cfg = build(
        path=write(tmp_path, GOOD),
        environ=ENV,
        overrides={"targets": {"api_urls": "http://127.0.0.1:1,http://127.0.0.1:2"}},
    )
    assert cfg.targets["api_urls"] == ["http://127.0.0.1:1", "http://127.0.0.1:2"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[targets\n", "invalid TOML"),
        ("[tragets]\nx=1\n", "unknown section [tragets]"),
        (
            "[thresholds]\nntp_max_ofset_s = 1\n",
            "thresholds.ntp_max_ofset_s is not a known setting",
        ),
        ("[thresholds]\nntp_max_offset_s = 'fast'\n", "must be a number, got str 'fast'"),
        ("[thresholds]\nsaturation_ratio = 80\n", "saturation_ratio must be in (0, 1]"),
        ("[policy]\nallow_writes = 'yes'\n", "must be true or false"),
        ("[policy]\nexempt = ['XX-99']\n", "unknown check id 'XX-99'"),
        ("[targets]\napi_urls = ['ftp://x']\n", "is not an http(s) URL"),
        ("[targets]\ndb_dsn = 'mysql://x'\n", "unsupported DSN scheme"),
        ("[targets]\ndb_dsn = 'postgresql://u:${NOPE}@h/db'\n", "${NOPE}, which is not set"),
        ("[thresholds]\nclock_skew_s = -1\n", "must not be negative"),
        (
            "[policy]\nproduction = true\nallow_disruptive = true\n",
            "refused when policy.production",
        ),
        ("[release]\nversion = '../../etc'\n", "is not a version label"),
        ("[targets]\nhtml_paths = []\n", "targets.html_paths must name at least one path"),
        ("[targets]\napi_paths = ['version']\n", "'version' must start with /"),
    ],
)
def test_bad_values_are_one_clear_line(tmp_path, text, message):
    with pytest.raises(ConfigError) as exc:
        build(path=write(tmp_path, text), environ={})
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_missing_file_and_unknown_env(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        build(path=tmp_path / "nope.toml", environ={})
    with pytest.raises(ConfigError, match="'prod' is not defined"):
        build(path=write(tmp_path, GOOD), env_name="prod", environ=ENV)


def test_secrets_are_redacted_in_the_stored_config(tmp_path):
    cfg = build(path=write(tmp_path, GOOD), environ=ENV)
    stored = repr(cfg.redacted())
    assert "s3cr3t-pw" not in stored
    assert cfg.redactor.text("error from postgres for s3cr3t-pw") == "error from postgres for ***"


def test_reference_lists_every_setting():
    ref = reference_markdown()
    for sec, keys in SCHEMA.items():
        for key in keys:
            assert f"`{sec}.{key}`" in ref


FLOAT_THRESHOLDS = sorted(k for k, spec in SCHEMA["thresholds"].items() if spec.type is float)


@given(st.dictionaries(st.sampled_from(FLOAT_THRESHOLDS), st.floats(0.01, 0.99)))
def test_any_float_threshold_table_is_taken_or_refused_in_one_line(values):
    try:
        cfg = build(path=None, cwd=Path("/x"), environ={}, overrides={"thresholds": values})
    except ConfigError as exc:  # cross-field rules, e.g. warn ratio above fail ratio
        assert "\n" not in str(exc) and "thresholds." in str(exc)
    else:
        assert {k: cfg.thresholds[k] for k in values} == values


@given(st.dictionaries(st.sampled_from(sorted(SCHEMA["thresholds"])), st.text(max_size=5)))
def test_wrongly_typed_thresholds_never_crash(values):
    try:
        build(path=None, cwd=Path("/x"), environ={}, overrides={"thresholds": values})
    except ConfigError as exc:
        assert "\n" not in str(exc)
