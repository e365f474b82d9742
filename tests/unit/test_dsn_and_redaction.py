"""DSN parsing and redaction, including property tests over generated DSNs."""

from __future__ import annotations

import contextlib
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_spark.dsn import describe, dsn_password, parse_dsn
from pytest_spark.redact import MASK, Redactor, redact_headers

WORD = st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=12)
PASSWORD = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=4, max_size=20
)


@given(user=WORD, password=PASSWORD, host=WORD, port=st.integers(1, 65535), db=WORD)
def test_url_dsn_round_trip(user, password, host, port, db):
    dsn = f"postgresql://{user}:{quote(password, safe='')}@{host}:{port}/{db}"
    parsed = parse_dsn(dsn)
    assert parsed["password"] == password
    assert parsed["user"] == user and parsed["port"] == str(port) and parsed["dbname"] == db
    assert describe(dsn) == f"{user}@{host.lower()}:{port}/{db}"


@given(password=PASSWORD.filter(lambda p: "'" not in p and "\\" not in p))
def test_kv_dsn_password_is_found_and_masked(password):
    dsn = f"host=db port=5432 user=spark password='{password}' dbname=spark"
    assert dsn_password(dsn) == password
    # nothing registered: the key=value shape alone must be masked
    masked = Redactor().text(f"connecting with {dsn}")
    assert masked == "connecting with host=db port=5432 user=spark password=*** dbname=spark"


@given(st.text())
def test_parse_dsn_never_crashes_with_anything_but_valueerror(text):
    with contextlib.suppress(ValueError):
        parse_dsn(text)


@pytest.mark.parametrize("bad", ["", "mysql://x/y", "host=a 'b"])
def test_bad_dsn_is_a_value_error(bad):
    with pytest.raises(ValueError):
        parse_dsn(bad)


def test_shapes_are_masked_without_being_told():
    r = Redactor()
    text = r.text(
        "postgresql://app:hunter2@db/x password=abc123 https://x/?token=zzzz Bearer abcdefgh123"
    )
    for secret in ("hunter2", "abc123", "zzzz", "abcdefgh123"):
        assert secret not in text
    assert text.count(MASK) == 4


def test_secret_keys_and_headers_are_masked_recursively():
    r = Redactor()
    data = {"headers": {"Authorization": "Basic Zm9vOmJhcg==", "Date": "x"}, "api_token": "t0k3n"}
    out = r.value(data)
    assert out["headers"]["Authorization"] == MASK and out["headers"]["Date"] == "x"
    assert out["api_token"] == MASK
    assert redact_headers([("Set-Cookie", "s=1"), ("Server", "x")]) == [
        ["Set-Cookie", MASK],
        ["Server", "x"],
    ]


@given(st.binary())
def test_binary_captures_never_crash(data):
    assert isinstance(Redactor(["secret-value"]).bytes(data), bytes)


def test_header_pairs_as_received_are_masked():
    headers = [["Set-Cookie", "session=abc123"], ["Content-Type", "text/html"]]
    assert Redactor().value({"headers": headers}) == {
        "headers": [["Set-Cookie", MASK], ["Content-Type", "text/html"]]
    }
