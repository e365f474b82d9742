"""pytest hooks of pytest-spark. Thin by design: each hook routes to session.py.

Loaded through the ``pytest11`` entry point ``spark``. Module-level hooks
register options and markers; the run's hooks live on ``SparkPlugin``, which is
registered only once the configuration is known to be valid.
"""

from __future__ import annotations

import gc
import glob
import tempfile
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from . import catalog, first_run, options, suite, waivers
from . import session as run
from .config import SCHEMA, ConfigError, build
from .report import junit
from .report import terminal as words
from .secret_guard import SecretGuard, redact_file
from .verdict import GO, one_line

STATE = pytest.StashKey[run.SparkState]()
SANDBOX = pytest.StashKey[Any]()
SANDBOX_LAYER = pytest.StashKey[dict[str, Any]]()
CODE = pytest.StashKey[dict[str, Any]]()  # suite.identity, before the conftests load


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> None:
    """Before any conftest or test is collected: refuse a rootdir our own flag moved, and
    a release run's paths outside the suite (their conftests would load next); digest the
    suite before its own conftest.py runs."""
    problem = options.rootdir_moved(early_config, parser, args)
    if problem:
        raise pytest.UsageError(problem)
    ns = parser.parse_known_args(args)
    if ns.release and not hasattr(early_config, "workerinput"):
        _refuse_tests_outside_the_suite(early_config, ns)
        early_config.stash[CODE] = suite.identity(early_config.rootpath)
    # Registered before every other plugin's cleanup, so it runs after them: the objects
    # frozen at collection end stay out of pytest's final gc passes, then become
    # collectable again (an in-process pytester run must not keep its session forever).
    early_config.add_cleanup(gc.unfreeze)


#: The plugin's parts a run cannot go without (``-p no:NAME`` is refused, exit 4).
REQUIRED_PARTS = {
    "spark-run": "the checks would run with no verdict, and exit 0 would look like a GO",
    "spark-fixtures": "the checks would have no targets, deadlines or evidence",
    "spark-secrets": "credentials would reach the terminal and reports",
}


def pytest_configure(config: pytest.Config) -> None:
    for name in catalog.Suite:
        config.addinivalue_line("markers", f"{name}: Spark {name} checks (pytest-spark)")
    for name, text in catalog.OTHER_MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text} (pytest-spark)")
    config.addinivalue_line(
        "markers", "spark_check(id): bind this test to a check id of the pytest-spark catalog"
    )
    if config.option.help or config.option.markers or config.option.showfixtures:
        return
    try:
        options.check_known_ids(options.selected_ids(config))
        evidence_dir = run.usable_evidence_dir(Path(config.getoption("spark_evidence_dir")))
        layer = _sandbox_layer(config)
        cfg = build(
            path=_path(config.getoption("spark_config")),
            env_name=config.getoption("spark_env"),
            overrides=options.overrides(config, layer),
        )
        loaded, source = waivers.load(_path(config.getoption("spark_waivers")))
    except ConfigError as exc:
        raise pytest.UsageError(f"pytest-spark: {exc}") from None
    run.interrupt_on_sigterm()
    state = run.SparkState(
        config=cfg,
        waivers=loaded,
        waivers_source=source,
        evidence_dir=evidence_dir,
        release=cfg.release["version"] or "",
        write_bundle=not config.getoption("spark_no_bundle"),
        active=bool(config.getoption("release")),
        sandbox=bool(config.getoption("spark_sandbox")),
    )
    config.stash[STATE] = state
    # a --release run's digest, taken before the initial conftests loaded; other runs get
    # theirs when the bundle is written (no release: never a GO)
    state.code = config.stash.get(CODE, None)
    from . import fixtures

    for name, without in REQUIRED_PARTS.items():
        if config.pluginmanager.is_blocked(name):  # -p no:spark-run
            raise pytest.UsageError(
                f"pytest-spark: {name} cannot be disabled: without it {without}"
            )
    config.pluginmanager.register(fixtures, "spark-fixtures")
    config.pluginmanager.register(SparkPlugin(config, state), "spark-run")
    config.pluginmanager.register(SecretGuard(config, cfg.redactor), "spark-secrets")
    if config.pluginmanager.hasplugin("html"):
        from .report.html import HtmlHooks

        config.pluginmanager.register(HtmlHooks(state, config), "spark-html")


def _refuse_tests_outside_the_suite(config: pytest.Config, ns: Any) -> None:
    """A release run collects the suite's checks/ only (when the rootdir has one): a test
    module or conftest from elsewhere would run its code inside the run. The paths are
    the ones pytest will collect: the arguments, else (from the rootdir) testpaths, else
    the invocation directory."""
    where = f"{suite.SUITE_DIR}/"
    home = config.rootpath
    if ns.pyargs and suite.suite_dir(home) is not None:
        raise pytest.UsageError(f"pytest-spark: a release run collects {where} only, not --pyargs")
    here = config.invocation_params.dir
    paths = [str(a) for a in ns.file_or_dir]
    if not paths and here == home:  # pytest expands testpaths as globs (recursive) ...
        for pattern in config.getini("testpaths"):
            paths += sorted(glob.iglob(pattern, root_dir=home, recursive=True))
    paths = paths or [str(here)]  # ... and collects the invocation dir when none matches
    outside = suite.args_outside(home, here, paths)
    if outside:
        raise pytest.UsageError(
            f"pytest-spark: a release run collects the suite in {where} only; "
            f"{', '.join(outside[:3])} is outside it (from {home}: `pytest {where}`)"
        )


def _sandbox_layer(config: pytest.Config) -> dict[str, Any] | None:
    """With --spark-sandbox: start (or reuse) the stack and return its targets as a layer."""
    if not config.getoption("spark_sandbox"):
        return None
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:  # xdist worker: the controller owns the stack
        return workerinput["spark_sandbox_layer"]
    from .sandbox.launcher import SandboxError
    from .sandbox.targets import config_layer, start_or_attach

    try:
        box, started = start_or_attach(Path(config.getoption("spark_sandbox_dir")))
    except SandboxError as exc:
        raise pytest.UsageError(f"pytest-spark: {exc}") from None
    config.stash[SANDBOX] = box
    if started:
        config.add_cleanup(box.down)
    config.stash[SANDBOX_LAYER] = config_layer(box.endpoints)
    return config.stash[SANDBOX_LAYER]


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: hand the sandbox's targets to each worker (no second stack)."""
    layer = node.config.stash.get(SANDBOX_LAYER, None)
    if layer is not None:
        node.workerinput["spark_sandbox_layer"] = layer


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


class SparkPlugin:
    """The run's hooks; state lives in ``config.stash[STATE]``."""

    def __init__(self, config: pytest.Config, state: run.SparkState) -> None:
        self.config = config
        self.state = state
        self.is_worker = hasattr(config, "workerinput")
        self.running = False  # inside the test loop: -v check lines are ours
        state.request = run.request_of(config, options.selected_ids(config))

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Before -m filtering: give each bound test its catalog suite marker and junit ids."""
        wanted = options.selected_ids(self.config)
        if wanted:
            keep, drop = run.select_checks(items, wanted)
            if drop:
                self.config.hook.pytest_deselected(items=drop)
                items[:] = keep
        for item in items:
            run.label(item, self.state.config.policy)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:  # a check module that cannot be imported must not vanish quietly
            self.state.collection_errors.append(report.nodeid or "<rootdir>")

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.state.deselected.update(c.id for c in map(run.check_of, items) if c is not None)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self._refuse_without_targets(session.items)
        self.state.selected.update(item.nodeid for item in session.items)
        self.state.bound.update(c.id for c in map(run.check_of, session.items) if c is not None)
        if any(run.is_spark_item(item) for item in session.items):
            self.state.active = True
        # Everything imported so far lives until the process ends: out of the cyclic GC's
        # reach, pytest's end-of-run gc.collect() passes do not walk it again
        # (https://docs.python.org/3/library/gc.html#gc.freeze).
        gc.freeze()

    def pytest_collection(self) -> None:
        warning = options.dropped_by_markexpr(
            options.selected_ids(self.config), self.config.option.markexpr or ""
        )
        if warning and not self.is_worker:
            _write(self.config, warning, yellow=True)

    def _refuse_without_targets(self, items: list[pytest.Item]) -> None:
        """One message, exit 4, when no selected check has the targets it needs."""
        if self.is_worker or self.config.option.collectonly:  # listing needs no target
            return
        targeted = {
            c.id
            for item in items
            if (c := run.check_of(item)) is not None
            and first_run.TARGET_FIXTURES & set(getattr(item, "fixturenames", ()))
        }
        cfg = self.state.config
        lacking = first_run.nothing_usable({s: cfg.section(s) for s in SCHEMA}, targeted)
        if lacking:
            self.state.active = False  # no verdict, no bundle: nothing was checked
            args = self.config.invocation_params.args
            raise pytest.UsageError(first_run.refusal(lacking, source=cfg.source, args=args))

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.state.selected.update(ids)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[Any]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield  # redacted by SecretGuard (spark-secrets) before anyone prints it
        check = run.check_of(item)
        if check is not None:
            payload = run.phase_payload(item, check, report, call, self.state)
            if payload is not None:
                report.spark = payload  # type: ignore[attr-defined]
                short = None if words.tb_explicit(self.config) else words.short_longrepr(report)
                if short is not None:
                    report.longrepr = short  # the traceback is in the bundle (payload)
                if report.when == "teardown":
                    report.user_properties.append(("spark_outcome", payload["test"]["shown"]))
        return report

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(self, report: pytest.TestReport) -> Any:
        own_line = self.running and self.config.get_verbosity() > 0
        return words.teststatus(report, own_line=own_line)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self) -> Generator[None, object, object]:
        self.running = True
        try:
            return (yield)
        finally:
            self.running = False

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.is_worker:
            return
        run.absorb(self.state, report)
        if self.config.get_verbosity() > 0:
            tr = self.config.pluginmanager.get_plugin("terminalreporter")
            if tr is not None:
                words.write_test_line(tr, report)

    def pytest_report_header(self) -> list[str]:
        cfg = self.state.config
        return [
            f"spark: release={self.state.release or '-'} env={cfg.env or '-'} "
            f"config={cfg.source or '(defaults)'} evidence={self.state.evidence_dir}/"
        ]

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Generator[None, None, None]:
        """Decide before the report plugins write (the HTML banner needs it), bundle after."""
        state = self.state
        if self.is_worker or not state.active:
            return (yield)
        if self.config.option.collectonly:
            # Listing is not checking: no verdict, and never exit 0 where CI reads 0 as GO.
            result = yield
            if session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED
            _write(self.config, run.NO_VERDICT_COLLECT_ONLY, red=True)
            return result
        state.verdict = run.decide(
            state, session.exitstatus, session.shouldstop or session.shouldfail
        )
        session.exitstatus = run.exit_status(state, session.exitstatus)
        result = yield
        junit_path = _report_files(self.config).get("junit.xml")
        if junit_path is not None and junit_path.is_file():
            warning = junit.rewrite(junit_path, state.verdict, state.release, state.run_id)
            if warning:
                _write(self.config, f"pytest-spark: warning: {warning}", yellow=True)
            redact_file(junit_path, state.config.redactor)
        if state.write_bundle:
            with tempfile.TemporaryDirectory(prefix="spark-report-") as tmp:
                files = _bundle_report_files(self.config, Path(tmp))
                problem = run.finish_or_explain(state, self.config.rootpath, files)
            if problem:
                _write(self.config, f"pytest-spark: {problem}", red=True)
                session.exitstatus = run.exit_status(state, session.exitstatus)
        where = str(state.tarball) if state.tarball else "(no bundle written)"
        if not state.write_bundle:  # a GO without evidence is no deploy decision
            where = "(none: --spark-no-bundle, no evidence for `pytest-spark verify --require-go`)"
        go = state.verdict["verdict"] == GO
        _write(self.config, one_line(state.verdict, where), green=go, red=not go)
        return result

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        verdict = self.state.verdict
        if verdict is None:
            return
        terminalreporter.section(f"spark verdict: {verdict['verdict']}", sep="=", bold=True)
        for line in run.summary_lines(verdict):
            terminalreporter.write_line(line)
        code = self.state.code or {}
        if "suite" in code and code["suite"] is None:  # a GO here is no deploy GO
            terminalreporter.write_line(
                f"  {'*':6} {'no suite':12} no {suite.SUITE_DIR}/ under the rootdir "
                f"{self.config.rootpath}: the bundle names no suite digest, so "
                "`verify --require-go` and `combine` refuse it",
                yellow=True,
            )
        for nodeid in self.state.foreign[:5]:  # why "incomplete": it ran, yet does not count
            terminalreporter.write_line(
                f"  {'*':6} {'not counted':12} {nodeid}: bound outside {suite.SUITE_DIR}/, it "
                "cannot stand in for the suite's check"
            )


def _write(config: pytest.Config, line: str, **markup: bool) -> None:
    tr = config.pluginmanager.get_plugin("terminalreporter")
    if tr is not None:
        tr.write_line(line, bold=True, **markup)


def _bundle_report_files(config: pytest.Config, work: Path) -> dict[str, Path]:
    """The report files as the bundle keeps them (HTML links rebased onto the bundle)."""
    files = _report_files(config)
    hooks = config.pluginmanager.get_plugin("spark-html")
    page = files.get("report.html")
    if hooks is not None and page is not None and page.is_file():
        files["report.html"] = hooks.bundle_copy(page, work)
    return files


def _report_files(config: pytest.Config) -> dict[str, Path]:
    out = {}
    junit = config.getoption("xmlpath", None)
    if junit:
        out["junit.xml"] = Path(junit)
    html = config.getoption("htmlpath", None)
    if html:
        out["report.html"] = Path(html)
    return out
