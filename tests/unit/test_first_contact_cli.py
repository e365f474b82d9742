"""Issue 15, first contact: the no-target refusal, init, release labels, prune, CLI manners."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_spark import catalog, first_run, options, releases, verdict
from pytest_spark.cli import main
from pytest_spark.config import SCHEMA, ConfigError, build, defaults, sample_toml
from pytest_spark.sandbox import components

# --- which settings a check cannot run without -------------------------------------


def test_needs_come_from_the_catalog_and_leave_optional_settings_out() -> None:
    assert first_run.needs("PF-02") == ("targets.ntp_servers",)
    assert first_run.needs("BS-09") == ("release.sbom",)  # no target, but a required file
    assert first_run.needs("RT-04") == ("targets.api_urls",)  # http_redirect_url is optional
    assert "targets.rehearsal_dsn" not in first_run.needs("PF-04")
    for cid in catalog.BY_ID:  # every required setting is a real one
        for dotted in first_run.needs(cid):
            sec, _, key = dotted.partition(".")
            assert key in SCHEMA[sec], dotted


PREFLIGHT = [c.id for c in catalog.CHECKS if c.suite == catalog.Suite.PREFLIGHT]


def test_nothing_usable_only_when_no_selected_check_has_its_targets() -> None:
    empty = defaults()
    lacking = first_run.nothing_usable(empty, PREFLIGHT)
    assert lacking is not None and set(lacking) == set(PREFLIGHT)
    some = defaults()
    some["targets"]["api_urls"] = ["https://api.example"]
    assert first_run.nothing_usable(some, PREFLIGHT) is None  # PF-01/05/07 can run
    assert first_run.missing(some, PREFLIGHT)["PF-02"] == ["targets.ntp_servers"]
    assert first_run.nothing_usable(empty, []) is None  # nothing reaches a target
    assert first_run.nothing_usable(some, ["PF-05"]) is None


def test_the_refusal_says_what_is_missing_and_both_ways_out_in_a_few_lines() -> None:
    lacking = first_run.nothing_usable(defaults(), PREFLIGHT)
    assert lacking is not None
    text = first_run.refusal(lacking, source="", args=["-m", "preflight", "--release", "v1.4.0"])
    lines = text.splitlines()
    assert len(lines) <= 8 and all(len(ln) <= 400 for ln in lines)
    assert "targets.ntp_servers (--spark-ntp-server)" in text
    assert "targets.api_urls (--spark-api-url)" in text
    assert "pytest-spark init" in text
    assert "pytest -m preflight --release v1.4.0 --spark-sandbox" in text
    assert "no spark.toml" in text and "exit 4" in text


# --- pytest-spark init ---------------------------------------------------------------


def _sections(cfg) -> dict:
    return {sec: dict(cfg.section(sec)) for sec in SCHEMA}


def test_init_writes_every_setting_and_loads_back_as_the_defaults(tmp_path: Path, capsys) -> None:
    path = tmp_path / "spark.toml"
    assert main(["init", str(path)]) == 0
    text = path.read_text()
    for sec, keys in SCHEMA.items():
        assert f"[{sec}]" in text
        for key in keys:
            assert re.search(rf"^# {key} = ", text, re.M), f"{sec}.{key} missing"
    loaded = build(path=path, environ={})
    assert _sections(loaded) == _sections(build(path=None, environ={}, cwd=tmp_path))
    assert loaded.source == str(path)


def test_every_listed_default_is_valid_toml_equal_to_the_schema_default(tmp_path: Path) -> None:
    """Uncomment every `# key = value` line: still valid, still exactly the defaults."""
    uncommented = re.sub(r"^# (\w+ = )", r"\1", sample_toml(), flags=re.M)
    body = tomllib.loads(uncommented)
    for sec, keys in SCHEMA.items():
        assert body[sec] == {k: spec.default for k, spec in keys.items()}, sec
    path = tmp_path / "all.toml"
    path.write_text(uncommented)
    assert _sections(build(path=path, environ={})) == _sections(build(path=None, environ={}))


def test_init_shows_secrets_only_as_env_references() -> None:
    text = sample_toml()
    secret_lines = [ln for ln in text.splitlines() if "(secret:" in ln]
    assert len(secret_lines) == sum(s.secret for keys in SCHEMA.values() for s in keys.values())
    for line in secret_lines:
        assert "${" in line, line
        value = tomllib.loads(line.split(" e.g. ", 1)[1])  # each example is valid TOML
        assert all("${" in v for v in value.values())


def test_init_refuses_to_overwrite(tmp_path: Path, capsys) -> None:
    path = tmp_path / "spark.toml"
    path.write_text("# mine\n")
    assert main(["init", str(path)]) == 2
    assert path.read_text() == "# mine\n"
    assert "refusing to overwrite" in capsys.readouterr().err


# --- release labels ------------------------------------------------------------------


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6))
def test_v_prefix_is_optional_and_one_release_has_one_label(a: int, b: int, c: int) -> None:
    core = f"{a}.{b}.{c}"
    assert releases.canonical(core) == releases.canonical(f"v{core}") == f"v{core}"
    assert releases.same_release(core, f"v{core}")


@pytest.mark.parametrize(
    "good", ["v2.0.0-rc.1", "1.0.0-alpha+001", "1.0.0+20130313144700", "1.0.0-x.7.z.92"]
)
def test_semver_pre_release_and_build_labels_are_accepted(good: str) -> None:
    """Examples from SemVer 2.0.0, items 9 and 10."""
    assert releases.canonical(good) == "v" + good.removeprefix("v")


@pytest.mark.parametrize(
    "bad", ["banana", "", "1.4", "v01.4.0", "1.4.0-", "1.4.0-01", "../1.4.0", "1.4.0 2", "vv1.4.0"]
)
def test_non_semver_labels_are_refused_saying_what_is_accepted(bad: str) -> None:
    with pytest.raises(ValueError, match=r"MAJOR\.MINOR\.PATCH") as exc:
        releases.canonical(bad)
    assert "\n" not in str(exc.value)


def test_config_stores_the_canonical_label_and_refuses_banana() -> None:
    for given_ in ("1.4.0", "v1.4.0"):
        cfg = build(path=None, environ={}, overrides={"release": {"version": given_}})
        assert cfg.release["version"] == "v1.4.0"
    with pytest.raises(ConfigError, match=r"'banana' is not a release label.*v1\.4\.0"):
        build(path=None, environ={}, overrides={"release": {"version": "banana"}})


def _rec(cid: str) -> dict:
    return {"id": cid, "severity": "blocker", "outcome": verdict.PASSED, "message": ""}


def test_a_run_without_a_release_is_never_go() -> None:
    import datetime as dt

    day = dt.date(2026, 1, 1)
    assert verdict.compute([_rec("PF-05")], day=day, release="v1.4.0")["verdict"] == verdict.GO
    v = verdict.compute([_rec("PF-05")], day=day, release="")
    assert v["verdict"] == verdict.NO_GO
    assert v["reasons"] == [
        {"check": "*", "outcome": verdict.NO_RELEASE, "message": verdict.NO_RELEASE_MESSAGE}
    ]
    assert "* no release" in verdict.one_line(v)


# --- prune ---------------------------------------------------------------------------


def _run(release_dir: Path, rid: str) -> list[Path]:
    folder = release_dir / rid
    folder.mkdir(parents=True)
    (folder / "verdict.json").write_text("{}")
    tar = release_dir / f"{rid}.tar.gz"
    tar.write_bytes(b"x")
    side = release_dir / f"{rid}.tar.gz.sha256"
    side.write_text("x")
    return [folder, tar, side]


IDS = [f"2026113{d}T0{h}0000Z-abc12{h}" for d, h in ((0, 1), (0, 2), (1, 3))]


def _tree(root: Path) -> tuple[list[list[Path]], list[Path]]:
    runs = [_run(root / "v1.4.0", rid) for rid in IDS]
    other = _run(root / "v1.3.0", IDS[0])
    keep_anyway = [
        root / "v1.4.0" / "notes.txt",
        root / "v1.4.0" / f".{IDS[0]}x.partial",
        root / "README",
        root / "v1.4.0" / "baseline",
    ]
    keep_anyway[0].write_text("mine")
    keep_anyway[1].mkdir()
    keep_anyway[2].write_text("mine")
    keep_anyway[3].mkdir()
    return runs, [*other, *keep_anyway]


def test_prune_keeps_the_newest_n_per_release_and_touches_nothing_else(
    tmp_path: Path, capsys
) -> None:
    runs, untouched = _tree(tmp_path)
    assert main(["prune", "--keep", "1", "--evidence-dir", str(tmp_path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would remove 6 path(s)" in out
    assert all(p.exists() for run in runs for p in run)  # dry run: nothing removed
    assert main(["prune", "--keep", "1", "--evidence-dir", str(tmp_path)]) == 0
    assert not any(p.exists() for run in runs[:2] for p in run)
    assert all(p.exists() for p in runs[2]) and all(p.exists() for p in untouched)


def test_prune_refuses_keep_zero_and_a_missing_dir_is_empty(tmp_path: Path, capsys) -> None:
    assert main(["prune", "--keep", "0", "--evidence-dir", str(tmp_path)]) == 2
    assert "at least 1" in capsys.readouterr().err
    assert releases.plan(tmp_path / "nope", 1).remove == []


# --- CLI manners ---------------------------------------------------------------------


def test_version(capsys) -> None:
    from pytest_spark import __version__

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"pytest-spark-deploy {__version__}"


def test_check_ids_are_case_insensitive_with_did_you_mean() -> None:
    assert options.parse_ids(["pf-05, rt-04", "Bs-01"]) == {"PF-05", "RT-04", "BS-01"}
    options.check_known_ids({"PF-05"})
    with pytest.raises(ConfigError, match=r"'PF05' \(did you mean 'PF-05'\?\)"):
        options.check_known_ids(options.parse_ids(["pf05"]))


def test_unknown_setting_gets_did_you_mean_on_the_flag_and_in_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"did you mean 'thresholds.clock_skew_s'\?"):
        options.settings_from_flags(["thresholds.clok_skew_s=1"])
    path = tmp_path / "spark.toml"
    path.write_text("[thresholds]\nclok_skew_s = 1\n")
    with pytest.raises(ConfigError, match=r"clok_skew_s is not a known setting \(did you mean"):
        build(path=path, environ={})


def test_unknown_fault_gets_did_you_mean_before_looking_for_a_stack(tmp_path: Path, capsys) -> None:
    code = main(["sandbox", "--state-dir", str(tmp_path), "fault", "csp-unsafe-inlin"])
    assert code == 2
    err = capsys.readouterr().err
    assert "did you mean 'csp-unsafe-inline'?" in err and "faults`" in err


def test_warning_when_m_drops_an_id_named_by_spark_check() -> None:
    text = options.dropped_by_markexpr({"PF-05", "RT-04"}, "preflight")
    assert "drops RT-04" in text and "only PF-05 will run" in text
    assert options.dropped_by_markexpr({"PF-05"}, "preflight") == ""
    assert options.dropped_by_markexpr({"PF-05", "RT-04"}, "") == ""
    assert "none of them" in options.dropped_by_markexpr({"RT-04"}, "preflight")


# --- chronyd without installing chrony -----------------------------------------------


def test_chronyd_from_env_then_path_then_the_unpacked_cache(tmp_path: Path) -> None:
    cache, empty, sbin = tmp_path / "cache", tmp_path / "bin", tmp_path / "sbin"
    empty.mkdir()
    sbin.mkdir()
    env = {"PATH": str(empty)}
    assert components.chronyd_binary(env, cache, str(sbin)) == "chronyd"
    cache.mkdir()
    (cache / "chronyd").write_text("")
    assert components.chronyd_binary(env, cache, str(sbin)) == str(cache / "chronyd")
    installed = sbin / "chronyd"
    installed.write_text("")
    installed.chmod(0o755)
    assert components.chronyd_binary(env, cache, str(sbin)) == str(installed)
    pinned = {**env, "SPARK_CHRONYD": "/x/chronyd"}
    assert components.chronyd_binary(pinned, cache, str(sbin)) == "/x/chronyd"
    assert components.chronyd_argv(Path("c.conf"), "/x/chronyd")[:2] == ["/x/chronyd", "-f"]
