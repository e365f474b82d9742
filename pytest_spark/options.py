"""Every command-line option in one place, and how each maps onto a config key."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

# option dest -> (config section, key); the CLI wins over spark.toml and [env.NAME].
TARGET_FLAGS: dict[str, tuple[str, str, str]] = {
    "--spark-api-url": ("targets", "api_urls", "API base URL(s), comma separated"),
    "--spark-db-dsn": ("targets", "db_dsn", "PostgreSQL DSN"),
    "--spark-pgbouncer-dsn": ("targets", "pgbouncer_dsn", "DSN through PgBouncer"),
    "--spark-pgbouncer-admin-dsn": ("targets", "pgbouncer_admin_dsn", "PgBouncer admin DSN"),
    "--spark-prometheus-url": ("targets", "prometheus_url", "Prometheus base URL"),
    "--spark-alertmanager-url": ("targets", "alertmanager_url", "Alertmanager base URL"),
    "--spark-ntp-server": ("targets", "ntp_servers", "NTP server(s) host[:port], comma separated"),
}


def dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def add_options(parser: pytest.Parser) -> None:
    group = _Tracked(parser.getgroup("spark", "pytest-spark release verdict"))
    group.addoption(
        "--release",
        default=None,
        help="release under test, SemVer with optional v (1.4.0 = v1.4.0); no GO without it",
    )
    group.addoption(
        "--spark-config",
        default=None,
        metavar="PATH",
        help="spark.toml path; write --spark-config=PATH (pytest reads a separate path as a "
        "test path when it picks its rootdir)",
    )
    group.addoption("--spark-env", default="", metavar="NAME", help="use [env.NAME] overrides")
    group.addoption(
        "--spark-evidence-dir",
        default="reports",
        metavar="DIR",
        help="where evidence bundles go (default: reports/)",
    )
    group.addoption("--spark-waivers", default=None, metavar="PATH", help="waivers.toml path")
    group.addoption(
        "--spark-allow-writes",
        action="store_true",
        default=None,
        help="allow checks that write to the target (e.g. RT-02, RT-06)",
    )
    group.addoption(
        "--spark-allow-disruptive",
        action="store_true",
        default=None,
        help="allow disruptive checks (restore drills, chaos); refused in production",
    )
    group.addoption(
        "--spark-sandbox",
        action="store_true",
        default=False,
        help="start the reference stack and point every target at it",
    )
    group.addoption(
        "--spark-sandbox-dir",
        default=".sandbox",
        metavar="DIR",
        help="state dir of the sandbox; a stack already running there is reused (default .sandbox)",
    )
    group.addoption(
        "--spark-check",
        action="append",
        default=[],
        metavar="IDS",
        help="run only these check ids (comma separated, repeatable), e.g. PF-05,RT-04",
    )
    group.addoption(
        "--spark-set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="set any spark.toml setting, e.g. thresholds.ntp_max_offset_s=0.001 (repeatable)",
    )
    group.addoption(
        "--spark-signing-key",
        default=None,
        metavar="PATH",
        help="Ed25519 private key (PEM) that signs the bundle's attestation (evidence.signing_key)",
    )
    group.addoption(
        "--spark-no-bundle",
        action="store_true",
        default=False,
        help="compute the verdict but write no evidence bundle",
    )
    group.addoption(
        "--spark-stage",
        type=int,
        default=None,
        metavar="PERCENT",
        help="canary: judge this stage (1, 5, 25, 50 or 100) at the weight your tooling set",
    )
    group.addoption(
        "--spark-rollout",
        action="store_true",
        default=False,
        help="canary: drive every stage in order (needs --spark-allow-disruptive)",
    )
    group.addoption(
        "--spark-rollback",
        action="store_true",
        default=False,
        help="canary: roll back on a NO-GO stage (or set canary.rollback_command)",
    )
    for flag, (_sec, _key, text) in TARGET_FLAGS.items():
        group.addoption(flag, default=None, dest=dest(flag), help=text)


# Our options that take a value: written with a space (`--spark-config /tmp/x.toml`), the
# value is a bare path to pytest's rootdir search, which runs before plugins load.
VALUE_FLAGS: set[str] = set()


class _Tracked:
    """An option group that remembers which of its options take a value."""

    def __init__(self, group: Any) -> None:
        self.group = group

    def addoption(self, *names: str, **attrs: Any) -> None:
        if attrs.get("action", "store") in ("store", "append"):
            VALUE_FLAGS.update(names)
        self.group.addoption(*names, **attrs)


def rootdir_moved(config: pytest.Config, parser: pytest.Parser, args: list[str]) -> str:
    """One line when a space-separated value of ours moved pytest's ini file (and rootdir).

    pytest picks its rootdir and ini file from the positional arguments *before* any
    plugin has added its options, so ``--spark-config /tmp/x.toml`` reads to it as a test
    path under /tmp: no pyproject.toml, no testpaths, the invocation dir's every test
    collected (issue 15). ``--spark-config=/tmp/x.toml`` is one token and never moves it.
    """
    spaced = [(a, args[i + 1]) for i, a in enumerate(args[:-1]) if a in VALUE_FLAGS]
    if not spaced:
        return ""
    import inspect

    from _pytest.config.findpaths import determine_setup

    ns = parser.parse_known_args(args)
    kwargs = {
        "inifile": ns.inifilename,
        "override_ini": ns.override_ini,
        "args": [str(a) for a in ns.file_or_dir],
        "rootdir_cmd_arg": ns.rootdir or None,
        "invocation_dir": config.invocation_params.dir,
    }
    wanted = inspect.signature(determine_setup).parameters
    rootpath, inipath, *_ = determine_setup(**{k: v for k, v in kwargs.items() if k in wanted})
    if inipath == config.inipath:  # same ini: same testpaths and addopts, nothing lost
        return ""
    moved = [(f, v) for f, v in spaced if Path(config.invocation_params.dir, v).exists()]
    flag, value = (moved or spaced)[0]
    return (
        f"pytest-spark: write {flag}={value} (with '='): given as a separate word, pytest "
        f"takes {value} for a test path when it picks its rootdir and ini file "
        f"({config.inipath or config.rootpath} instead of {inipath or rootpath}) and would "
        "collect the wrong tests"
    )


def selected_ids(config: pytest.Config) -> set[str]:
    """--spark-check ids, case-insensitive (``pf-05`` is PF-05)."""
    return parse_ids(config.getoption("spark_check"))


def parse_ids(values: list[str]) -> set[str]:
    return {i.strip().upper() for v in values for i in v.split(",") if i.strip()}


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """`` (did you mean 'X'?)`` for a near miss (difflib, as argparse does), else ``""``."""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_known_ids(wanted: set[str]) -> None:
    """--spark-check names only catalog ids (checked before anything runs)."""
    from .catalog import BY_ID
    from .config import ConfigError

    unknown = sorted(wanted - set(BY_ID))
    if unknown:
        hints = "; ".join(f"{cid!r}{did_you_mean(cid, BY_ID)}" for cid in unknown)
        raise ConfigError(f"--spark-check: unknown check id(s) {hints}; see `pytest-spark catalog`")


def overrides(
    config: pytest.Config, base: dict[str, dict[str, object]] | None = None
) -> dict[str, dict[str, object]]:
    """The CLI's contribution to the config (over ``base``, e.g. the sandbox's targets)."""
    out: dict[str, dict[str, object]] = {
        "targets": {},
        "policy": {},
        "release": {},
        "schema": {},
        "evidence": {},
        "contracts": {},
    }
    for sec, values in (base or {}).items():
        if sec in out:
            out[sec].update(values)
    for sec, values in settings_from_flags(config.getoption("spark_set")).items():
        out.setdefault(sec, {}).update(values)
    cli = {sec: {} for sec in out}
    for flag, (sec, key, _text) in TARGET_FLAGS.items():
        cli[sec][key] = config.getoption(dest(flag))
    cli["policy"]["allow_writes"] = config.getoption("spark_allow_writes")
    cli["policy"]["allow_disruptive"] = config.getoption("spark_allow_disruptive")
    cli["release"]["version"] = config.getoption("release")
    cli["evidence"]["signing_key"] = config.getoption("spark_signing_key")
    for sec, values in cli.items():
        out[sec].update({k: v for k, v in values.items() if v is not None})
    return out


def settings_from_flags(items: list[str]) -> dict[str, dict[str, object]]:
    """Parse --spark-set SECTION.KEY=VALUE; VALUE is read as TOML, else taken as a string."""
    import tomllib

    from .config import SCHEMA, ConfigError

    out: dict[str, dict[str, object]] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        section, _, key = name.strip().partition(".")
        if not sep or section not in SCHEMA or key not in SCHEMA[section]:
            known = [f"{sec}.{k}" for sec, keys in SCHEMA.items() for k in keys]
            raise ConfigError(  # the value is not echoed: it may be a secret
                f"--spark-set {name.strip()!r}: expected SECTION.KEY=VALUE with a known setting"
                f"{did_you_mean(name.strip(), known)} (see `pytest-spark config-reference`)"
            )
        try:
            value: object = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        out.setdefault(section, {})[key] = value
    return out


def dropped_by_markexpr(ids: set[str], markexpr: str) -> str:
    """A warning when ``-m`` drops checks that --spark-check names (else ``""``): the run
    would otherwise silently verify less than asked for."""
    if not ids or not markexpr:
        return ""
    from .catalog import BY_ID
    from .session import suite_matches

    dropped = sorted(cid for cid in ids if cid in BY_ID and not suite_matches(markexpr, BY_ID[cid]))
    if not dropped:
        return ""
    suites = sorted({str(BY_ID[cid].suite) for cid in dropped})
    kept = sorted(ids - set(dropped))
    return (
        f"pytest-spark: warning: -m {markexpr!r} drops {', '.join(dropped)} named by "
        f"--spark-check ({' and '.join(suites)} check{'s' if len(dropped) > 1 else ''}); "
        + (f"only {', '.join(kept)} will run" if kept else "none of them will run")
        + "; leave out -m to run exactly the ids given"
    )
