"""The pieces of SecretGuard on their own: log records, reports, the terminal writer, files."""

from __future__ import annotations

import io
import logging
import sys

from _pytest._io import TerminalWriter

from pytest_spark.redact import Redactor
from pytest_spark.secret_guard import guard_writer, redact_file, redact_record

SECRET = "Gu4rd-S3cret/é"
R = Redactor([SECRET])


def record(msg: str, *args: object, exc_info=None, stack_info=None) -> logging.LogRecord:
    rec = logging.LogRecord("t", logging.ERROR, __file__, 1, msg, args, exc_info)
    rec.stack_info = stack_info
    return rec


def test_a_record_is_redacted_with_its_args_traceback_and_stack():
    try:
        raise ConnectionError(f"login with {SECRET} refused")
    except ConnectionError:
        exc = sys.exc_info()
    rec = record("GET /v?token=%s %s", SECRET, 401, exc_info=exc, stack_info=f"at {SECRET}")
    redact_record(rec, R)
    text = logging.Formatter("%(message)s").format(rec)
    assert rec.getMessage() == "GET /v?token=*** 401"
    assert "ConnectionError: login with *** refused" in text and "at ***" in text
    assert SECRET not in text


def test_a_record_without_secrets_keeps_its_args():
    rec = record("%s of %d", "3", 4)
    redact_record(rec, R)
    assert rec.args == ("3", 4) and rec.getMessage() == "3 of 4"


def test_a_bad_format_string_is_left_to_logging():
    rec = record("%d apples", "many")
    redact_record(rec, R)  # logging reports the error itself when the record is emitted
    assert rec.msg == "%d apples"


def test_the_terminal_writer_never_writes_a_secret():
    out = io.StringIO()
    tw = TerminalWriter(out)
    guard_writer(tw, R)
    guard_writer(tw, R)  # once only
    tw.line(f"test_x[{SECRET}] PASSED", green=True)
    tw.write(f"{SECRET.encode('unicode_escape').decode()}\n")
    assert SECRET not in out.getvalue() and out.getvalue().count("***") == 2


def test_a_file_is_rewritten_only_when_it_holds_a_secret(tmp_path):
    clean, dirty = tmp_path / "clean.xml", tmp_path / "dirty.xml"
    clean.write_text("<a>nothing</a>")
    dirty.write_text(f'<a b="{SECRET}">x</a>')
    dirty.chmod(0o640)
    before = clean.stat().st_mtime_ns
    redact_file(clean, R)
    redact_file(dirty, R)
    redact_file(tmp_path / "missing.xml", R)
    assert clean.stat().st_mtime_ns == before
    assert dirty.read_text() == '<a b="***">x</a>' and dirty.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean.xml", "dirty.xml"]  # no temp
