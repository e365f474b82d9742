"""Every way out of the process passes the run's redactor (PRODUCT.md safety rules).

Two layers, so one missed path is not a leak:

* at the source -- log records are redacted when they are created (a
  ``logging`` record factory: live logs, captured logs, log files, any handler),
  and test/collect reports are redacted before any plugin sees them (tracebacks,
  skip reasons, captured output, junit properties);
* at the exits -- the terminal writer redacts every string it writes (progress
  and -v node ids, -rA, warnings summary, collection errors), .pytest_cache
  redacts the node ids it stores, the JUnit XML and HTML files are redacted once
  their plugins have written them, and the bundle writer redacts every byte it
  writes (``RunData.redact``).
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

from .redact import Redactor


class SecretGuard:
    """pytest plugin (registered as ``spark-secrets``) applying one Redactor everywhere."""

    def __init__(self, config: pytest.Config, redactor: Redactor) -> None:
        self.config = config
        self.redactor = redactor
        self.started = time.time()
        self._factory: Callable[..., logging.LogRecord] | None = None
        self._previous_factory: Callable[..., logging.LogRecord] | None = None
        self._install_record_factory()
        cache = getattr(config, "cache", None)  # set by cacheprovider's tryfirst configure
        if cache is not None:
            guard_cache(cache, redactor)

    # ---------------------------------------------------------------- sources

    def _install_record_factory(self) -> None:
        previous = logging.getLogRecordFactory()
        redactor = self.redactor

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            redact_record(record, redactor)
            return record

        logging.setLogRecordFactory(factory)
        self._factory, self._previous_factory = factory, previous

    def pytest_unconfigure(self) -> None:
        if self._factory is not None and logging.getLogRecordFactory() is self._factory:
            logging.setLogRecordFactory(self._previous_factory)  # type: ignore[arg-type]

    @pytest.hookimpl(wrapper=True, tryfirst=True)  # outside pytest-html's (it adds extras)
    def pytest_runtest_makereport(self) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        scrub_report(report, self.redactor)
        return report

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(
        self,
    ) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
        report = yield
        scrub_report(report, self.redactor)
        return report

    # ------------------------------------------------------------------ exits

    def pytest_plugin_registered(self, plugin: Any, manager: pytest.PytestPluginManager) -> None:
        """The terminal writer exists once the terminal reporter is registered."""
        if manager.get_name(plugin) == "terminalreporter":
            guard_writer(self.config.get_terminal_writer(), self.redactor)

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(self) -> Generator[None, None, None]:
        """After junitxml and pytest-html have written their files (they run inside this
        wrapper), before the bundle copies them."""
        result = yield
        for path in report_files(self.config, self.started):
            redact_file(path, self.redactor)
        return result


def guard_writer(tw: Any, redactor: Redactor) -> None:
    """Route everything the terminal writer emits through the redactor (once)."""
    if getattr(tw, "_spark_redacted", False):
        return
    raw = tw.write_raw

    def write_raw(msg: str, *, flush: bool = False) -> None:
        raw(redactor.text(msg), flush=flush)

    tw.write_raw = write_raw
    tw._spark_redacted = True


def guard_cache(cache: Any, redactor: Redactor) -> None:
    """.pytest_cache (lastfailed, nodeids, stepwise) holds node ids: redact what it stores
    (a redacted id is not found again by --lf, which then runs everything)."""
    store = cache.set

    def set_(key: str, value: object) -> None:
        store(key, redactor.strings(value))

    cache.set = set_


def redact_record(record: logging.LogRecord, redactor: Redactor) -> None:
    """Redact a log record in place: message (args folded in), traceback and stack."""
    try:
        message = record.getMessage()
    except Exception:  # logging reports its own formatting errors when the record is emitted
        return
    clean = redactor.text(message)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        record.exc_text = redactor.text(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = redactor.text(record.stack_info)


def scrub_report(report: pytest.TestReport | pytest.CollectReport, redactor: Redactor) -> None:
    """Redact what a report carries to the terminal, JUnit, HTML and xdist's wire, keeping
    its structure (a traceback stays a traceback, a skip stays a (path, line, reason))."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # skip: (path, lineno, reason)
        report.longrepr = (redactor.text(str(longrepr[0])), longrepr[1], redactor.text(longrepr[2]))
    elif longrepr is not None:
        report.longrepr = _walk(longrepr, redactor, 0)
    report.sections = [(redactor.text(t), redactor.text(b)) for t, b in report.sections]
    if isinstance(getattr(report, "wasxfail", None), str):  # xfail reason (JUnit, -rA)
        report.wasxfail = redactor.text(report.wasxfail)
    for extra in getattr(report, "extras", None) or ():  # pytest-html: base64 in a report
        if isinstance(extra, dict) and isinstance(extra.get("content"), (str, dict, list)):
            extra["content"] = redactor.strings(extra["content"])  # no file pass can read
    props = getattr(report, "user_properties", None)
    if props:
        report.user_properties = [(name, _property(value, redactor)) for name, value in props]


def _property(value: Any, redactor: Redactor) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = str(value)
    clean = redactor.text(text)
    return value if clean == text else clean


def _walk(obj: Any, redactor: Redactor, depth: int) -> Any:
    """Strings inside pytest's traceback representation, redacted in place."""
    if isinstance(obj, str):
        return redactor.text(obj)
    if depth > 12:
        return obj
    if isinstance(obj, list):
        return [_walk(v, redactor, depth + 1) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_walk(v, redactor, depth + 1) for v in obj)
    if type(obj).__module__.startswith("_pytest.") and hasattr(obj, "__dict__"):
        for name in list(vars(obj)):  # dataclass or not (CollectErrorRepr is not)
            value = getattr(obj, name, None)
            new = _walk(value, redactor, depth + 1)
            if new is not value and new != value:
                object.__setattr__(obj, name, new)
    return obj


def report_files(config: pytest.Config, since: float) -> list[Path]:
    """Files the report plugins wrote this run: JUnit XML, the HTML report and its assets."""
    base = config.invocation_params.dir
    out = []
    for option in ("xmlpath", "htmlpath"):
        value = getattr(config.option, option, None)
        if value:
            out.append(base / os.path.expanduser(os.path.expandvars(value)))
    html = getattr(config.option, "htmlpath", None)
    if html:
        assets = (base / os.path.expanduser(os.path.expandvars(html))).parent / "assets"
        if assets.is_dir():
            out += [p for p in assets.iterdir() if p.is_file() and p.stat().st_mtime >= since - 1]
    return [p for p in out if p.is_file()]


def redact_file(path: Path, redactor: Redactor) -> None:
    """Rewrite a file without any registered secret (atomically, mode kept)."""
    try:
        data = path.read_bytes()
    except OSError:
        return
    clean = redactor.known_bytes(data)
    if clean == data:
        return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(clean)
        os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
