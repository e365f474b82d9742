"""Config loading: file, [env.NAME], ${ENV} secrets, CLI overrides, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_spark.config import BOUNDS, SCHEMA, ConfigError, build, reference_markdown

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
        ("[thresholds]\nclock_skew_s = -1\n", "clock_skew_s must be in (0, 60] s, got -1"),
        ("[thresholds]\nclock_skew_s = nan\n", "clock_skew_s must be a finite number, got nan"),
        ("[policy]\ntimeout_s = 1e9\n", "timeout_s must be in (0, 300] s, got 1000000000.0"),
        ("[thresholds]\npool_sample_window_s = 1e9\n", "pool_sample_window_s must be in (0, 60]"),
        ("[thresholds]\nbaseline_window = '5 minutes'\n", "must be a PromQL duration"),
        ("[thresholds]\nslo_availability = 1.0\n", "slo_availability must be in (0, 0.99999]"),
        ("[thresholds]\nheader_min_grade = 'Z'\n", "header_min_grade must be one of A+, A, A-,"),
        ("[thresholds]\nheader_min_grade = 'A++'\n", "got 'A++'"),
        ("[thresholds]\nheader_min_grade = ''\n", "header_min_grade must be one of"),
        (
            "[policy]\nproduction = true\nallow_disruptive = true\n",
            "refused when policy.production",
        ),
        ("[release]\nversion = '../../etc'\n", "is not a release label"),
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


NUMERIC = sorted(
    (sec, key)
    for sec, keys in SCHEMA.items()
    for key, spec in keys.items()
    if spec.type in (int, float)
)


def test_every_numeric_setting_has_a_range_and_its_default_is_in_it():
    """Issue 8: bounds come from the schema, not from the keys someone tried."""
    for sec, key in NUMERIC:
        assert key in BOUNDS.get(sec, {}), f"{sec}.{key} has no range in config.BOUNDS"
        spec = SCHEMA[sec][key]
        spec.bounds.check(spec.default, f"{sec}.{key}")


@pytest.mark.parametrize(("sec", "key"), NUMERIC)
@pytest.mark.parametrize("literal", ["nan", "+nan", "-nan", "inf", "+inf", "-inf"])
def test_non_finite_numbers_are_refused_for_every_setting(tmp_path, sec, key, literal):
    """TOML has nan/inf literals; every comparison with NaN is false, so NaN would pass."""
    with pytest.raises(ConfigError) as exc:
        build(path=write(tmp_path, f"[{sec}]\n{key} = {literal}\n"), environ={})
    assert f"{sec}.{key} must be" in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize(("sec", "key"), NUMERIC)
@pytest.mark.parametrize("value", [-1, 10**30, -(10**30)])
def test_absurd_numbers_are_refused_for_every_setting(tmp_path, sec, key, value):
    with pytest.raises(ConfigError, match=rf"{sec}\.{key} must be in"):
        build(path=write(tmp_path, f"[{sec}]\n{key} = {value}\n"), environ={})


@pytest.mark.parametrize("raw", ["nan", "inf", "-inf", "1e9", "-0.5"])
def test_non_finite_and_absurd_values_from_the_command_line_are_refused(raw):
    from pytest_spark.options import settings_from_flags

    for item in (f"thresholds.clock_skew_s={raw}", f"policy.timeout_s={raw}"):
        with pytest.raises(ConfigError, match="must be"):
            build(path=None, cwd=Path("/x"), environ={}, overrides=settings_from_flags([item]))


@given(st.sampled_from(NUMERIC), st.floats(allow_nan=True, allow_infinity=True))
def test_any_accepted_number_is_finite_and_within_its_range(setting, value):
    sec, key = setting
    spec = SCHEMA[sec][key]
    if spec.type is int:
        value = int(value) if value == value and abs(value) != float("inf") else value
    try:
        cfg = build(path=None, cwd=Path("/x"), environ={}, overrides={sec: {key: value}})
    except ConfigError as exc:
        assert "\n" not in str(exc)
    else:
        got = cfg.section(sec)[key]
        assert got == got and abs(got) != float("inf")
        spec.bounds.check(got, key)


@pytest.mark.parametrize("grade", ["A+", "a-", " b ", "F", "D-"])
def test_header_min_grade_takes_every_grade_of_the_rule(tmp_path, grade):
    """PF-05's scorer grades on the Observatory chart (rules/headers.py GRADES): any of
    its grades is a valid minimum, case and spaces aside; stored as the rule writes it."""
    cfg = build(path=write(tmp_path, f"[thresholds]\nheader_min_grade = {grade!r}\n"), environ={})
    assert cfg.thresholds["header_min_grade"] == grade.strip().upper()


def test_header_min_grade_from_the_command_line_is_checked_too(tmp_path):
    with pytest.raises(ConfigError, match=r"header_min_grade must be one of .*got 'Z'$"):
        build(
            path=None, overrides={"thresholds": {"header_min_grade": "Z"}}, environ={}, cwd=tmp_path
        )
