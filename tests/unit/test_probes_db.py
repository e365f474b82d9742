"""probes.db.connect refuses a session whose startup options were dropped; probes.accounts
never guesses an account. No server: psycopg.connect is replaced by a fake session."""

from __future__ import annotations

import re
from typing import Any

import pytest

from pytest_spark import catalog
from pytest_spark.evidence import Recorder
from pytest_spark.probes import ProbeError
from pytest_spark.probes import db as db_probe
from pytest_spark.probes.accounts import probe_account
from pytest_spark.redact import Redactor

DSN = "postgresql://spark:pw@127.0.0.1:6432/spark"
DROPPED = (
    r"PostgreSQL spark@127.0.0.1:6432/spark dropped the session options "
    r"\(read-only, statement_timeout\): cannot guarantee a safe session"
)


class FakeCursor:
    def __init__(self, session: FakeSession) -> None:
        self.session = session
        self.description: list[str] | None = None

    def __enter__(self) -> FakeCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def execute(self, sql: str, params: Any = None) -> None:
        self.session.queries.append(sql)
        self.description = ["read_only", "statement_timeout"]

    def fetchall(self) -> list[dict[str, Any]]:
        return [dict(self.session.settings)]


class FakeSession:
    """What psycopg.connect returns: answers the settings query from ``settings``."""

    def __init__(self, settings: dict[str, str]) -> None:
        self.settings = settings
        self.queries: list[str] = []
        self.closed = False

    def cursor(self) -> FakeCursor:
        return FakeCursor(self)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Any:
    """``session(read_only=..., statement_timeout=...)``: the fake the next connect returns."""
    made: dict[str, Any] = {}

    def configure(read_only: str = "on", statement_timeout: str = "5s") -> FakeSession:
        fake = FakeSession({"read_only": read_only, "statement_timeout": statement_timeout})

        def fake_connect(dsn: str, **kwargs: Any) -> FakeSession:
            made["kwargs"] = kwargs
            return fake

        monkeypatch.setattr(db_probe.Session, "connect", fake_connect)
        made["session"] = fake
        return fake

    configure.made = made  # type: ignore[attr-defined]
    return configure


def test_session_with_its_options_is_checked_in_one_round_trip(session: Any) -> None:
    fake = session(read_only="on", statement_timeout="5s")
    with db_probe.connect(DSN, timeout=5.0) as conn:
        assert conn is fake
        assert fake.queries == [db_probe.SESSION_SETTINGS_SQL]
    assert fake.closed
    assert "default_transaction_read_only=on" in session.made["kwargs"]["options"]


@pytest.mark.parametrize(
    ("read_only", "statement_timeout", "lost"),
    [
        ("off", "0", "default_transaction_read_only is 'off'; statement_timeout is 0"),
        ("off", "5s", "default_transaction_read_only is 'off'"),
        ("on", "0", "statement_timeout is 0"),
    ],
)
def test_dropped_options_close_the_session_and_raise(
    session: Any, read_only: str, statement_timeout: str, lost: str
) -> None:
    """PgBouncer with ignore_startup_parameters=options: the server's defaults come back."""
    fake = session(read_only=read_only, statement_timeout=statement_timeout)
    with pytest.raises(ProbeError, match=DROPPED) as caught, db_probe.connect(DSN, timeout=5.0):
        pytest.fail("the session must not be handed out")
    assert lost in str(caught.value)
    assert fake.closed


def test_writable_session_needs_only_the_deadline(session: Any) -> None:
    fake = session(read_only="off", statement_timeout="5s")
    with db_probe.connect(DSN, timeout=5.0, read_only=False):
        pass
    assert fake.closed
    session(read_only="off", statement_timeout="0")
    with (
        pytest.raises(ProbeError, match=DROPPED),
        db_probe.connect(DSN, timeout=5, read_only=False),
    ):
        pass


def test_admin_console_sessions_are_not_checked(session: Any) -> None:
    """options=False (PgBouncer's admin console): nothing was asked, nothing to verify."""
    fake = session(read_only="off", statement_timeout="0")
    with db_probe.connect(DSN, timeout=5.0, options=False):
        pass
    assert fake.queries == []
    assert "options" not in session.made["kwargs"]


# ---------------------------------------------------------------------------
# probes.accounts: the account writing checks (RT-02, RT-06) order under
# ---------------------------------------------------------------------------


def recorder() -> Recorder:
    return Recorder(catalog.get("RT-02"), Redactor())


@pytest.mark.parametrize("configured", ["", "   ", None])
def test_probe_account_requires_the_configured_test_account(configured: Any) -> None:
    evidence = recorder()
    with pytest.raises(
        ProbeError,
        match=re.escape(
            "set schema.test_account: writing checks never place orders under a customer's account"
        ),
    ):
        probe_account({"test_account": configured, "orders_table": "orders"}, evidence)
    assert evidence.observations == []


def test_probe_account_is_the_configured_one() -> None:
    evidence = recorder()
    assert probe_account({"test_account": "SPARK-TEST"}, evidence) == "SPARK-TEST"
    assert evidence.observations == [
        {
            "name": "account_source",
            "data": {"configured": "schema.test_account", "account": "SPARK-TEST"},
        }
    ]
