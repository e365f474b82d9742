"""Run state and the plain functions behind the plugin's hooks.

The hooks in plugin.py only route pytest events here; everything that decides
something (outcome classification, policy gates, verdict, bundle) is a function
that can be read and tested without pytest's machinery.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import secrets
import signal
import socket
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from . import __version__, bundle, catalog, suite, verdict
from .config import ConfigError, SparkConfig
from .evidence import build_record, safe_name, utc_iso
from .probes import ProbeError
from .report import outcome as words
from .waivers import Waiver

POLICY_PREFIX = words.POLICY_PREFIX


@dataclass
class SparkState:
    """Per-run state kept in ``config.stash`` (no module globals)."""

    config: SparkConfig
    waivers: list[Waiver]
    waivers_source: str
    evidence_dir: Path
    release: str
    write_bundle: bool = True
    sandbox: bool = False  # targets are the reference stack: evidence for no real release
    started: float = field(default_factory=time.time)
    run_id: str = ""
    active: bool = False
    selected: set[str] = field(default_factory=set)  # nodeids
    finished: set[str] = field(default_factory=set)
    tests: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    partial: dict[str, dict[str, Any]] = field(default_factory=dict)  # nodeid -> in progress
    artifacts: dict[str, dict[str, bytes]] = field(default_factory=lambda: defaultdict(dict))
    unbound_failures: int = 0
    collection_errors: list[str] = field(default_factory=list)
    uncalled: list[str] = field(default_factory=list)  # nodeids whose call phase never ran
    foreign: list[str] = field(default_factory=list)  # bound nodeids outside the suite dir
    code: dict[str, Any] | None = None  # suite.identity of a --release run, before conftests
    deselected: set[str] = field(default_factory=set)  # check ids with a deselected test
    bound: set[str] = field(default_factory=set)  # check ids of the collected tests
    request: dict[str, Any] = field(default_factory=dict)  # the selection asked for (scope)
    records: list[dict[str, Any]] = field(default_factory=list)
    verdict: dict[str, Any] | None = None
    bundle_path: Path | None = None
    tarball: Path | None = None

    def __post_init__(self) -> None:
        stamp = dt.datetime.fromtimestamp(self.started, dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        self.run_id = self.run_id or f"{stamp}-{secrets.token_hex(3)}"


_CHECK_KEY = pytest.StashKey["catalog.Check | None"]()


def interrupt_on_sigterm() -> None:
    """Treat SIGTERM (a cancelled CI job) like Ctrl-C: fixtures clean up, the verdict says
    "incomplete" and a stack started for the run is stopped, instead of dying mid-drill."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _raise_interrupt)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"terminated by signal {signum}")


def check_of(item: pytest.Item) -> catalog.Check | None:
    """The catalog entry a test is bound to with @pytest.mark.spark_check("ID") (memoised)."""
    try:
        return item.stash[_CHECK_KEY]
    except KeyError:
        check = item.stash[_CHECK_KEY] = _lookup_check(item)
        return check


def _lookup_check(item: pytest.Item) -> catalog.Check | None:
    mark = item.get_closest_marker("spark_check")
    if mark is None:
        return None
    if len(mark.args) != 1 or not isinstance(mark.args[0], str):
        raise pytest.UsageError(f"{item.nodeid}: spark_check takes exactly one check id")
    try:
        return catalog.get(mark.args[0])
    except KeyError as exc:
        raise pytest.UsageError(f"{item.nodeid}: {exc.args[0]}") from None


def check_ids(wanted: set[str]) -> None:
    """--spark-check names only catalog ids (checked before anything runs)."""
    unknown = wanted - set(catalog.BY_ID)
    if unknown:
        raise ConfigError(
            f"--spark-check: unknown check id(s) {', '.join(sorted(unknown))}; "
            f"ids look like {', '.join(list(catalog.BY_ID)[:3])}, ..."
        )


def usable_evidence_dir(path: Path) -> Path:
    """The bundle folder must be creatable: found out now, not after every check has run.

    Nothing is created here (a plain test run leaves no reports/ behind).
    """
    where = f"--spark-evidence-dir {path}"
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{where}: exists and is not a directory")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{where}: cannot write below {existing}")
    return path


def select_checks(
    items: list[pytest.Item], wanted: set[str]
) -> tuple[list[pytest.Item], list[pytest.Item]]:
    """--spark-check: keep the tests bound to the wanted ids."""
    keep, drop = [], []
    for item in items:
        check = check_of(item)
        (keep if check is not None and check.id in wanted else drop).append(item)
    return keep, drop


def label(item: pytest.Item, policy: Any) -> None:
    """Give a bound test its suite marker (so -m selects it), junit properties, and a
    skip marker when the run's policy forbids it (decided once, at collection)."""
    check = check_of(item)
    if check is None:
        return
    if item.get_closest_marker(str(check.suite)) is None:
        item.add_marker(str(check.suite))
    item.user_properties += [("spark_check", check.id), ("spark_severity", str(check.severity))]
    outside_suite(item)  # decided now, before any fixture runs
    reason = policy_skip_reason(check, policy)
    if reason:
        item.add_marker(pytest.mark.skip(reason=reason))


def outside_suite(item: pytest.Item) -> bool:
    """Is a bound test's file outside the suite directory? Decided once, at collection:
    a fixture changing ``item.path`` later cannot move it into the suite."""
    try:
        return item.stash[_OUTSIDE_KEY]
    except KeyError:
        home = suite.suite_dir(item.config.rootpath)
        found = item.stash[_OUTSIDE_KEY] = suite.outside_suite(item.path, home)
        return found


def is_spark_item(item: pytest.Item) -> bool:
    names = {m.name for m in item.iter_markers()}
    return bool(names & ({"spark_check", *catalog.SUITES, *catalog.OTHER_MARKERS}))


def policy_skip_reason(check: catalog.Check, policy: dict[str, Any] | Any) -> str | None:
    """Why a check may not run under this run's policy, or None when it may."""
    gate = check.policy_gate
    if gate == "disruptive":
        if policy["production"]:
            return f"{POLICY_PREFIX}{check.id} is disruptive and the target is production"
        if not policy["allow_disruptive"]:
            return f"{POLICY_PREFIX}{check.id} is disruptive; pass --spark-allow-disruptive"
    elif gate == "writes" and not policy["allow_writes"]:
        return f"{POLICY_PREFIX}{check.id} writes to the target; pass --spark-allow-writes"
    return None


def classify(report: pytest.TestReport, call: pytest.CallInfo[Any]) -> tuple[str, str, str]:
    """(outcome, skip_kind, message) of one phase: assertion = failed, anything else = error."""
    if report.passed:
        return verdict.PASSED, "", ""
    if report.skipped:
        reason = _skip_reason(report)
        kind = "policy" if reason.startswith(POLICY_PREFIX) else "skip"
        return verdict.SKIPPED, kind, reason.removeprefix(POLICY_PREFIX)
    excinfo = call.excinfo
    message = _first_lines(excinfo.exconly() if excinfo else str(report.longrepr))
    timed_out = message.startswith(("Failed: Timeout", "Timeout"))  # pytest-timeout
    if (
        report.when == "call"
        and excinfo is not None
        and excinfo.errisinstance((AssertionError, pytest.fail.Exception))
        and not timed_out
    ):
        first = str(excinfo.value).strip().splitlines()
        return verdict.FAILED, "", _first_lines(first[0] if first else message)
    if excinfo is not None and not timed_out:
        message = _error_text(excinfo.value)
    return verdict.ERROR, "", message


_SAYS_WHAT_FAILED = (ProbeError, OSError, TimeoutError)


def _error_text(exc: BaseException) -> str:
    """An error as a reader needs it: never a module path (``pytest_spark.probes.ProbeError:``).

    Probe errors and OS errors are written for people (target, limit, what happened),
    so their text stands alone; anything else keeps its bare class name, which tells
    a reviewer the check itself broke (``KeyError: 'x'``)."""
    text = str(exc).strip()
    if text and isinstance(exc, _SAYS_WHAT_FAILED):
        return _first_lines(text)
    name = type(exc).__name__
    return _first_lines(f"{name}: {text}" if text else name)


def _skip_reason(report: pytest.TestReport) -> str:
    if isinstance(getattr(report, "wasxfail", None), str):  # its longrepr is a traceback
        return f"xfail: {report.wasxfail}"
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr or "")


def _first_lines(text: str, limit: int = 600) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    text = " ".join(ln.strip() for ln in lines[:6])
    return text if len(text) <= limit else text[: limit - 3] + "..."


def phase_payload(
    item: pytest.Item,
    check: catalog.Check,
    report: pytest.TestReport,
    call: pytest.CallInfo[Any],
    state: SparkState,
) -> dict[str, Any] | None:
    """Plain data attached to a report so it survives xdist's wire format.

    This runs three times per test, so a passing setup or call phase only notes
    its start time; the teardown payload always comes and carries the timing.
    """
    if report.when == "call":
        item.stash[_CALLED_KEY] = True
    if report.passed and report.when != "teardown":
        if report.when == "setup":
            item.stash[_START_KEY] = call.start
        return None
    payload: dict[str, Any] = {
        "when": report.when,
        "check": check.id,
        "outcome": verdict.PASSED,
        "start": item.stash.get(_START_KEY, call.start),
        "stop": call.stop,
    }
    redactor = state.config.redactor
    if not report.passed:
        outcome, skip_kind, message = classify(report, call)
        payload["outcome"], payload["skip_kind"] = outcome, skip_kind
        payload["message"] = redactor.text(message) if message else ""
        payload["shown"] = test_word(state, check, outcome)
        if report.failed:  # the whole traceback goes to the bundle, whatever --tb prints
            payload["traceback"] = redactor.text(report.longreprtext)
        merge_phase(item.stash.setdefault(_TEST_KEY, _fresh(payload["start"])), payload)
    if report.when == "teardown":
        payload["called"] = item.stash.get(_CALLED_KEY, False)
        payload["outside_suite"] = outside_suite(item)
        test = dict(item.stash.get(_TEST_KEY, _fresh(payload["start"])))
        test["shown"] = test_word(state, check, test["outcome"])
        payload["test"] = test  # the test's own result: -v check line, JUnit, HTML row
        recorder = item.stash.get(RECORDER_KEY, None)
        if recorder is not None:
            payload.update(recorder.export())
    return payload


def _fresh(start: float) -> dict[str, Any]:
    return {"outcome": verdict.PASSED, "start": start, "message": "", "skip_kind": ""}


def merge_phase(cur: dict[str, Any], payload: dict[str, Any]) -> None:
    """Fold one phase's outcome into a test's: the first problem wins, except that a later
    error (a teardown that broke after a failure) makes the whole test untrustworthy."""
    if payload["outcome"] == verdict.PASSED:
        return
    if cur["outcome"] == verdict.PASSED:
        cur.update(outcome=payload["outcome"], skip_kind=payload.get("skip_kind", ""))
        cur["message"] = payload.get("message", "")
    elif payload["outcome"] == verdict.ERROR and cur["outcome"] != verdict.ERROR:
        cur.update(outcome=verdict.ERROR, message=payload.get("message", ""))


def waived_today(state: SparkState, check_id: str) -> bool:
    """An active waiver covers this check on the run's day (as ``verdict.apply_waivers``)."""
    day = dt.datetime.fromtimestamp(state.started, dt.UTC).date()
    return any(w.check == check_id and w.active_on(day) for w in state.waivers)


def test_word(state: SparkState, check: catalog.Check, outcome: str) -> str:
    """The shown outcome of one test of ``check`` (report.outcome.shown, with this run's
    waivers and exempt list)."""
    return words.shown(
        outcome,
        severity=str(check.severity),
        waived=waived_today(state, check.id),
        exempt=check.id in set(state.config.policy["exempt"]),
    )


_START_KEY = pytest.StashKey[float]()
_CALLED_KEY = pytest.StashKey[bool]()
_OUTSIDE_KEY = pytest.StashKey[bool]()
_TEST_KEY = pytest.StashKey[dict[str, Any]]()


RECORDER_KEY = pytest.StashKey["Any"]()


def absorb(state: SparkState, report: pytest.TestReport) -> None:
    """Fold one phase report (local or from an xdist worker) into the run's results."""
    payload = getattr(report, "spark", None)
    if payload is None:
        if report.failed:
            state.unbound_failures += 1
        if report.when == "teardown":
            state.finished.add(report.nodeid)
        return
    state.active = True  # a bound test ran here or on a worker
    nodeid = report.nodeid
    cur = state.partial.setdefault(
        nodeid,
        {"nodeid": nodeid, "outcome": verdict.PASSED, "start": payload["start"], "message": ""},
    )
    cur["start"] = min(cur["start"], payload["start"])
    cur["stop"] = payload["stop"]
    merge_phase(cur, payload)
    if payload.get("traceback"):
        cur.setdefault("tracebacks", []).append(
            f"--- {payload['when']} ---\n{payload['traceback']}"
        )
    if payload["when"] == "teardown":
        state.finished.add(nodeid)
        done = state.partial.pop(nodeid)
        if payload.get("outside_suite"):
            # not the suite's check: no record, so nothing downstream (combine) counts it
            if nodeid not in state.foreign:
                state.foreign.append(nodeid)
            return
        if not payload.get("called", True) and done["outcome"] == verdict.PASSED:
            # --setup-only / --setup-plan, or a plugin that skipped the call: nothing was
            # checked, so nothing passed (EVIDENCE.md: no completed call phase = not run)
            state.uncalled.append(nodeid)
            return
        done["observations"] = payload.get("observations", [])
        arts = dict(payload.get("artifacts", {}))
        tracebacks = done.pop("tracebacks", None)
        if tracebacks:
            name = traceback_name(nodeid, set(arts) | set(state.artifacts[payload["check"]]))
            arts[name] = "\n".join(tracebacks).encode("utf-8")
        done["artifacts"] = arts
        state.tests[payload["check"]].append(done)
        if arts:
            state.artifacts[payload["check"]].update(arts)


def traceback_name(nodeid: str, taken: set[str]) -> str:
    """artifacts/<ID>/traceback.txt (traceback-<test>.txt when a check has several tests)."""
    name = "traceback.txt"
    if name in taken:
        name = safe_name(f"traceback-{nodeid.rpartition('::')[2]}.txt")
    base, n = name, 1
    while name in taken:
        n += 1
        name = f"{base}.{n}"
    return name


def bundle_paths(state: SparkState) -> tuple[Path, Path]:
    """Where this run's bundle folder and tarball go (bundle.write_bundle's layout), known
    before they are written so the HTML report can name them."""
    folder = state.evidence_dir / safe_name(state.release or "unreleased") / state.run_id
    return folder, folder.with_name(f"{state.run_id}.tar.gz")


def records(state: SparkState) -> list[dict[str, Any]]:
    return [build_record(catalog.get(cid), tests) for cid, tests in sorted(state.tests.items())]


def decide(state: SparkState, exitstatus: int | pytest.ExitCode, shouldstop: Any) -> dict[str, Any]:
    interrupted = bool(shouldstop) or int(exitstatus) in (
        pytest.ExitCode.INTERRUPTED,
        pytest.ExitCode.INTERNAL_ERROR,
    )
    not_run = sorted(state.selected - state.finished)
    not_run += [f"{nodeid} (collection error)" for nodeid in state.collection_errors]
    not_run += [f"{nodeid} (no call phase)" for nodeid in sorted(state.uncalled)]
    outside = f"(bound outside the suite's {suite.SUITE_DIR}/)"
    not_run += [f"{nodeid} {outside}" for nodeid in state.foreign]
    not_run += undigested(state.code)
    state.records = records(state)  # built once; the bundle writes these same records
    return verdict.compute(
        state.records,
        waivers=state.waivers,
        exempt=state.config.policy["exempt"],
        day=dt.datetime.fromtimestamp(state.started, dt.UTC).date(),
        interrupted=interrupted,
        not_run=not_run,
        scope=scope(state),
        release=state.release,
    )


def undigested(code: dict[str, Any] | None) -> list[str]:
    """not_run entries for code that could not be digested (a symlink in checks/, ...): the
    bundle could not name what decided, so the run cannot be GO."""
    out = []
    for part, where in (("suite", f"{suite.SUITE_DIR}/"), ("plugin", "pytest_spark/")):
        tree = (code or {}).get(part)
        if isinstance(tree, dict) and tree.get("error"):
            out.append(f"{where} (not digested: {tree['error']})")
    return out


def selection_request(
    *,
    markexpr: str = "",
    ids: set[str] | frozenset[str] = frozenset(),
    keyword: str = "",
    last_failed: bool = False,
    deselect: list[str] | tuple[str, ...] = (),
    paths: list[str] | tuple[str, ...] = (),
) -> dict[str, Any]:
    """What the user asked to run, and the catalog ids that selection is meant to verify.

    Only -m (evaluated against each catalog check's suite marker) and --spark-check
    narrow the scope. -k, --lf, --deselect and paths only filter tests: an in-scope
    check they filter out entirely is "not run" and blocks (EVIDENCE.md, Scope).
    """
    in_scope = sorted(ids) if ids else list(catalog.BY_ID)
    if markexpr:
        in_scope = [cid for cid in in_scope if suite_matches(markexpr, catalog.BY_ID[cid])]
    name = " and ".join(
        part for part in (markexpr, f"--spark-check {','.join(sorted(ids))}" if ids else "") if part
    )
    return {
        "name": name or "all checks",
        "selection": {
            "markexpr": markexpr,
            "spark_check": sorted(ids),
            "keyword": keyword,
            "last_failed": last_failed,
            "deselect": list(deselect),
            "paths": list(paths),
        },
        "in_scope": in_scope,
    }


def request_of(config: pytest.Config, ids: set[str]) -> dict[str, Any]:
    """The selection options of this pytest invocation (see ``selection_request``)."""
    return selection_request(
        markexpr=config.option.markexpr or "",
        ids=ids,
        keyword=config.option.keyword or "",
        last_failed=bool(config.getoption("lf", False)),
        deselect=config.getoption("deselect", None) or [],
        paths=list(config.args) if config.args_source == config.ArgsSource.ARGS else [],
    )


def suite_matches(markexpr: str, check: catalog.Check) -> bool:
    """Does ``-m markexpr`` select a test carrying only this check's suite marker?"""
    from _pytest.mark.expression import Expression

    marks = {str(check.suite), "spark_check"}
    try:
        return bool(Expression.compile(markexpr).evaluate(lambda name, **kw: name in marks))
    except SyntaxError:
        return True  # pytest itself rejects the expression; never narrow the scope on it


def scope(state: SparkState) -> dict[str, Any]:
    """The verdict's scope: the request, the ids selected, the catalog ids out of scope."""
    req = state.request or selection_request()
    in_scope = req["in_scope"]
    selected = sorted(state.bound | set(state.tests))
    out_of_scope = [cid for cid in catalog.BY_ID if cid not in set(in_scope)]
    partial = []
    if req["selection"]["spark_check"]:
        partial.append(f"{len(in_scope)} of {len(catalog.BY_ID)} catalog checks")
    thinned = sorted(state.deselected & set(in_scope) & set(selected))
    if thinned:
        partial.append(f"some tests of {', '.join(thinned)} deselected")
    files = [p for p in req["selection"]["paths"] if "::" in p or p.endswith(".py")]
    if files:
        partial.append(f"only {', '.join(files)}")
    return dict(
        req,
        selected=selected,
        out_of_scope=out_of_scope,
        partial="; ".join(partial),
    )


def exit_status(state: SparkState, original: int) -> int:
    """0 on GO (unless a test outside the catalog failed), non-zero on NO-GO."""
    assert state.verdict is not None
    if state.verdict["verdict"] == verdict.GO:
        return pytest.ExitCode.TESTS_FAILED if state.unbound_failures else pytest.ExitCode.OK
    return original if original not in (0, pytest.ExitCode.NO_TESTS_COLLECTED) else 1


def run_metadata(state: SparkState, rootdir: Path, end: float) -> dict[str, Any]:
    cfg = state.config
    return {
        "run_id": state.run_id,
        "release": state.release,
        "sandbox": state.sandbox,
        "start": utc_iso(state.started),
        "end": utc_iso(end),
        "host": socket.gethostname(),
        "python": platform.python_version(),
        "pytest": pytest.__version__,
        "tool": {"pytest-spark-deploy": __version__},
        "suite_git_sha": git_sha(rootdir),
        "code": state.code if state.code is not None else suite.identity(rootdir),
        "argv": [cfg.redactor.text(a) for a in sys.argv[1:]],
        "config": cfg.redacted(),
        "waivers_source": state.waivers_source,
        "artifact_digest": cfg.release["artifact_digest"],
        "interrupted": bool(state.verdict and state.verdict["interrupted"]),
        "not_run": state.verdict["not_run"] if state.verdict else [],
    }


def git_sha(rootdir: Path) -> str:
    from .probes.command import CommandError, run_argv

    try:
        out = run_argv(["git", "rev-parse", "HEAD"], cwd=rootdir, timeout=5, cap=256)
    except CommandError:
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def finish(state: SparkState, rootdir: Path, extra_files: dict[str, Path]) -> None:
    """Write the bundle (and the CI step summary) for a decided run."""
    assert state.verdict is not None
    redactor = state.config.redactor  # argv, config, not-run node ids: no registered secret
    run = redactor.strings(run_metadata(state, rootdir, time.time()))
    policy = {
        "exempt": list(state.config.policy["exempt"]),
        "allow_writes": state.config.policy["allow_writes"],
        "allow_disruptive": state.config.policy["allow_disruptive"],
        "production": state.config.policy["production"],
    }
    data = bundle.RunData(
        run_id=state.run_id,
        release=state.release,
        records=redactor.strings(state.records),  # node ids and messages, before signing
        artifacts=dict(state.artifacts),
        verdict=redactor.strings(state.verdict),
        waivers=state.waivers,
        policy=policy,
        run=run,
        extra_files=extra_files,
        signing_key=signing_key(state.config),
        redact=redactor.known_bytes,
    )
    state.bundle_path, state.tarball = bundle.write_bundle(state.evidence_dir, data)
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        try:
            with open(step_summary, "a", encoding="utf-8") as fh:
                summary = (state.bundle_path / "summary.md").read_text(encoding="utf-8")
                fh.write(redactor.known(summary))
        except OSError as exc:  # the bundle is written; a CI nicety must not hide the verdict
            print(
                f"pytest-spark: warning: cannot append to $GITHUB_STEP_SUMMARY: {exc}",
                file=sys.stderr,
            )


def signing_key(cfg: SparkConfig) -> Any:
    """The configured Ed25519 key (validated at start), or None for an unsigned bundle."""
    value = cfg.evidence["signing_key"]
    if not value:
        return None
    from .signing import load_private_key

    return load_private_key(value)


NO_VERDICT_COLLECT_ONLY = (
    "SPARK VERDICT: none -- --collect-only runs no check (exit 5: no verdict, not a GO)"
)


def finish_or_explain(state: SparkState, rootdir: Path, extra_files: dict[str, Path]) -> str:
    """Write the bundle; if the disk refuses (full, read-only, quota), the run is NO-GO.

    A GO without its evidence cannot be reviewed, so it is no GO. The half-written
    folders are removed and the problem is returned as one line ("" when written).
    """
    try:
        finish(state, rootdir, extra_files)
    except OSError as exc:
        _remove_partial_bundle(state)
        why = f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
        assert state.verdict is not None
        state.verdict["verdict"] = verdict.NO_GO
        state.verdict["reasons"].append(
            {"check": "*", "outcome": "no evidence", "message": f"bundle not written: {why}"}
        )
        state.bundle_path = state.tarball = None
        return f"the evidence bundle could not be written ({why}); the run is NO-GO"
    return ""


def _remove_partial_bundle(state: SparkState) -> None:
    """Remove what write_bundle left of this run: staging folder, folder, tarball, sidecar."""
    import shutil

    from .evidence import safe_name

    release_dir = state.evidence_dir / safe_name(state.release or "unreleased")
    rid = state.run_id
    for folder in (release_dir / f".{rid}.partial", release_dir / rid):
        shutil.rmtree(folder, ignore_errors=True)
    for name in (f"{rid}.tar.gz", f"{rid}.tar.gz.sha256"):
        (release_dir / name).unlink(missing_ok=True)
    for tmp in release_dir.glob(f".{rid}.tar.gz*.tmp"):
        tmp.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        release_dir.rmdir()  # only when empty: never another run's evidence


def summary_lines(v: dict[str, Any]) -> list[str]:
    """The terminal's verdict section: reasons, warnings, waivers."""
    lines = [f"  {r['check']:6} {'{:12} {}'.format(*words.reason_word(r))}" for r in v["reasons"]]
    lines += [f"  {w['check']:6} {'warning':12} {w['message']}" for w in v["warnings"]]
    lines += [
        f"  {w['check']:6} {'waived':12} by {w['approver']} until {w['expires']}: "
        f"{w['justification']}"
        for w in v["waivers"]["applied"]
    ]
    lines += [
        f"  {w['check']:6} {'EXPIRED':12} waiver expired {w['expires']}, not applied"
        for w in v["waivers"]["expired"]
    ]
    return lines
