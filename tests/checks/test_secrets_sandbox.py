"""The real checks against the real sandbox: its DSN passwords (given as the --spark-sandbox
layer, the one place literal secrets are expected) are registered and appear nowhere."""

from __future__ import annotations

from typing import Any

from psycopg.conninfo import conninfo_to_dict

from pytest_spark.bundle import verify


def test_sandbox_passwords_never_leave_a_real_run(run_checks: Any, sandbox: Any, pytester) -> None:
    ep = sandbox.endpoints
    passwords = {
        conninfo_to_dict(dsn)["password"]
        for dsn in (ep.db_dsn, ep.pgbouncer_dsn, ep.pgbouncer_admin_dsn)
    }
    assert passwords and all(len(p) >= 8 for p in passwords)
    run = run_checks(
        "BS-02", "BS-03", "PF-06", "RT-07",
        args=("--junitxml=junit.xml", "-rA", "-v", "-o", "log_cli=true", "--log-cli-level=DEBUG"),
    )  # fmt: skip
    assert run.verdict["verdict"] == "GO", run.output[-3000:]
    assert verify(run.folder).ok
    written = [run.output, (pytester.path / "junit.xml").read_text()]
    written += [p.read_text(errors="replace") for p in run.folder.rglob("*") if p.is_file()]
    for text in written:
        assert not any(pw in text for pw in passwords)
    config = run.record("BS-02")  # the record exists and the bundle's config shows the mask
    assert config["outcome"] == "passed"
