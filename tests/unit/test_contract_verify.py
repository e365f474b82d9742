"""Pure parts of the contract checks: pact files, the verifier's results, selectors, states.

The verifier JSON below is what pact_verifier 1.4 (pact-python 4.2) wrote in
this project's runs: ``interactionResults`` with ``mismatch`` of type
``mismatches`` (body/status/header mismatches) or ``error`` (request failed,
state change failed).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_spark.contracts import verify
from pytest_spark.contracts.messages import probe_order_body, relay_message
from pytest_spark.contracts.pacts import PactFileError, find_pacts, parse_pact
from pytest_spark.contracts.selectors import as_keywords, parse_selector, parse_selectors
from pytest_spark.contracts.states import StateForwarder

V4_HTTP = {
    "consumer": {"name": "spark-mobile"},
    "provider": {"name": "spark-api"},
    "interactions": [
        {"type": "Synchronous/HTTP", "description": "a request for quotes", "request": {}},
        {"type": "Synchronous/HTTP", "description": "a request for an order", "request": {}},
    ],
    "metadata": {
        "pactSpecification": {"version": "4.0"},
        "pytest-spark": {"consumerVersion": "1.2.0"},
    },
}
V4_MESSAGE = {
    "consumer": {"name": "ledger"},
    "provider": {"name": "spark-outbox"},
    "interactions": [
        {"type": "Asynchronous/Messages", "description": "an OrderAccepted event", "contents": {}}
    ],
    "metadata": {"pactSpecification": {"version": "4.0"}},
}
V3_MESSAGE = {
    "consumer": {"name": "risk-engine"},
    "provider": {"name": "spark-outbox"},
    "messages": [{"description": "an OrderAccepted event", "contents": {}}],
}


def _raw(doc: object) -> bytes:
    return json.dumps(doc).encode()


def test_pact_file_is_described_with_its_digest_and_consumer_version() -> None:
    import hashlib

    raw = _raw(V4_HTTP)
    pact = parse_pact(raw, Path("pacts/spark-mobile@1.2.0.json"))
    assert (pact.consumer, pact.provider, pact.kind) == ("spark-mobile", "spark-api", "http")
    assert pact.consumer_version == "1.2.0" and pact.specification == "4.0"
    assert pact.sha256 == hashlib.sha256(raw).hexdigest() and pact.size == len(raw)
    assert pact.interactions == ("a request for quotes", "a request for an order")
    assert pact.label == "spark-mobile 1.2.0 (spark-mobile@1.2.0.json)"


@pytest.mark.parametrize("doc", [V4_MESSAGE, V3_MESSAGE])
def test_message_pacts_v4_and_v3(doc: dict[str, object]) -> None:
    pact = parse_pact(_raw(doc), Path("m.json"))
    assert pact.kind == "message" and pact.interactions == ("an OrderAccepted event",)
    assert pact.consumer_version == "(version not recorded)"


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"{not json", "not JSON"),
        (b"[]", "top level is not an object"),
        (_raw({"consumer": {"name": "a"}, "interactions": [{}]}), "no consumer.name"),
        (_raw({**V4_HTTP, "interactions": []}), "has no interactions"),
        (
            _raw(
                {**V4_HTTP, "interactions": [*V4_HTTP["interactions"], *V4_MESSAGE["interactions"]]}
            ),
            "mixes",
        ),
    ],
)
def test_a_broken_pact_file_is_an_error_naming_the_file(raw: bytes, text: str) -> None:
    with pytest.raises(PactFileError, match=text) as info:
        parse_pact(raw, Path("bad.json"))
    assert str(info.value).startswith("bad.json: ")


def test_find_pacts_reads_every_json_and_refuses_a_missing_dir(tmp_path: Path) -> None:
    (tmp_path / "b.json").write_bytes(_raw(V4_MESSAGE))
    (tmp_path / "a.json").write_bytes(_raw(V4_HTTP))
    (tmp_path / "notes.txt").write_text("not a pact")
    assert [p.name for p in find_pacts(tmp_path)] == ["a.json", "b.json"]
    with pytest.raises(PactFileError, match="does not exist"):
        find_pacts(tmp_path / "nope")


# --- the verifier's results -------------------------------------------------------------

OK = {"consumer": "spark-mobile", "description": "a request for quotes", "result": "OK",
      "providerStates": ["the price feed is running"], "pending": False}  # fmt: skip
BODY_MISMATCH = {
    "consumer": "spark-mobile",
    "description": "a request for an order",
    "result": "Error",
    "pending": False,
    "providerStates": ["an order exists"],
    "mismatch": {
        "type": "mismatches",
        "mismatches": [
            {
                "type": "BodyMismatch",
                "path": "$.price",
                "expected": '"3200.10"',
                "actual": "190.3",
                "mismatch": "Expected 190.3 (Decimal) to be the same type as '3200.10' (String)",
            },
            {"type": "StatusMismatch", "expected": 201, "actual": 200, "mismatch": None},
        ],
    },
}
STATE_FAILED = {
    "consumer": "spark-web",
    "description": "a request for an order",
    "result": "Error",
    "pending": False,
    "mismatch": {
        "type": "error",
        "message": "One or more of the setup state change handlers has failed",
    },
}
UNREACHABLE = {
    "consumer": "spark-web",
    "description": "a request for the version",
    "result": "Error",
    "mismatch": {"type": "error", "message": "error sending request for url (http://x/version)"},
}


def _pact() -> object:
    return parse_pact(_raw(V4_HTTP), Path("spark-mobile@1.2.0.json"))


def test_results_name_consumer_version_interaction_and_mismatch() -> None:
    results = verify.pact_results(_pact(), {"results": {"interactionResults": [OK, BODY_MISMATCH]}})
    assert [r.outcome for r in results] == ["passed", "failed"]
    failed = results[1]
    assert failed.states == ("an order exists",)
    assert (
        failed.mismatches[0]["expected"] == '"3200.10"'
        and failed.mismatches[0]["actual"] == "190.3"
    )
    assert failed.line() == (
        "spark-mobile 1.2.0 (spark-mobile@1.2.0.json) 'a request for an order': "
        "$.price: Expected 190.3 (Decimal) to be the same type as '3200.10' (String); "
        "StatusMismatch: expected 201 but was 200"
    )
    assert verify.judge(results) == ([failed.line()], [])


def test_a_state_that_cannot_be_set_and_an_unreachable_provider_are_errors() -> None:
    results = verify.interaction_results({"interactionResults": [STATE_FAILED, UNREACHABLE]})
    assert [r.outcome for r in results] == ["error", "error"]
    assert "a provider state could not be set" in results[0].detail
    assert results[1].detail.startswith("could not verify: error sending request")
    failed, errors = verify.judge(results)
    assert failed == [] and len(errors) == 2


def test_nothing_verified_is_never_a_pass() -> None:
    pact = _pact()
    missing = verify.pact_results(pact, {"results": {"interactionResults": [OK]}})
    assert [r.outcome for r in missing] == ["passed", "error"]
    assert missing[1].detail == "could not verify: no result"
    crashed = verify.pact_results(pact, {"exception": "RuntimeError: boom"})
    assert {r.outcome for r in crashed} == {"error"} and len(crashed) == 2
    assert verify.deployable("x", [])[0] == "error"


def test_pending_failures_are_reported_not_blocking() -> None:
    pending = {**BODY_MISMATCH, "pending": True}
    results = verify.interaction_results({"interactionResults": [OK, pending]})
    assert [r.outcome for r in results] == ["passed", "pending"]
    assert verify.judge(results) == ([], [])


def test_can_i_deploy_names_the_consumer_version() -> None:
    pact = _pact()
    results = verify.pact_results(pact, {"results": {"interactionResults": [OK, BODY_MISMATCH]}})
    outcome, reason = verify.deployable(pact.label, results)
    assert outcome == "failed"
    assert reason.startswith("spark-mobile 1.2.0 (spark-mobile@1.2.0.json) cannot be deployed")
    assert "1 of 2 interactions fail ('a request for an order': $.price" in reason
    both = [OK, {**OK, "description": "a request for an order"}]
    ok = verify.pact_results(pact, {"results": {"interactionResults": both}})
    assert verify.deployable(pact.label, ok)[0] == "passed"


def test_summary_caps_the_lines() -> None:
    text = verify.summary([f"line {i}" for i in range(6)], "fail")
    assert text == "6 interaction(s) fail: line 0; line 1; line 2; line 3 (+2 more)"


def test_broker_run_errors_are_not_dropped_but_an_empty_selection_is_fine() -> None:
    def load_error(message: str) -> dict[str, object]:
        problem = {
            "interaction": "Failed to load pact",
            "mismatch": {"type": "error", "message": message},
        }
        return {"kind": "http", "results": {"interactionResults": [], "errors": [problem]}}

    unreadable = verify.broker_results(load_error("error sending request for url (http://b/)"))
    assert [r.outcome for r in unreadable] == ["error"]
    assert verify.broker_results(load_error("No pacts found for provider 'spark-api' ...")) == []
    assert (
        verify.broker_results({"kind": "http", "exception": "ValueError: x"})[0].outcome == "error"
    )
    named = verify.broker_results({"kind": "http", "results": {"interactionResults": [OK]}})
    assert [r.pact for r in named] == ["spark-mobile (broker selection)"]


# --- selectors ----------------------------------------------------------------------------


def test_selectors_read_as_the_broker_writes_them() -> None:
    assert parse_selectors(["mainBranch", "deployedOrReleased"]) == [
        {"mainBranch": True},
        {"deployedOrReleased": True},
    ]
    both = parse_selector("deployed & environment=production")
    assert both == {"deployed": True, "environment": "production"}
    assert as_keywords(both) == {"deployed": True, "environment": "production"}
    assert as_keywords(parse_selector("branch=main")) == {"branch": "main"}


@pytest.mark.parametrize("bad", ["mainbranch", "branch", "branch=", "environment", "latest=yes"])
def test_unknown_or_incomplete_selectors_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="is not one of"):
        parse_selector(bad)


def test_bad_selector_stops_the_config() -> None:
    from pytest_spark.config import ConfigError, build

    with pytest.raises(ConfigError, match=r"contracts\.consumer_version_selectors"):
        build(
            path=None,
            overrides={"contracts": {"consumer_version_selectors": ["nope"]}},
            cwd=Path("/"),
        )


# --- provider states and messages (no network) ----------------------------------------------


def test_states_need_a_url_and_write_only_under_the_test_account() -> None:
    fwd = StateForwarder("", "", "ACC-4", 1.0)
    assert fwd.change({"state": "", "action": "setup", "params": {}}) == (200, {})
    status, answer = fwd.change({"state": "an order exists", "params": {"account": "ACC-1"}})
    assert status == 422 and "no contracts.provider_states_url" in answer["error"]
    assert fwd.calls[1]["params"] == {"account": "ACC-4"}  # never a customer's account
    assert fwd.change({"state": "an order exists", "action": "teardown"}) == (200, {})


def test_relay_message_is_the_outbox_row_with_its_metadata() -> None:
    row = {
        "aggregate_id": "42",
        "event_type": "OrderAccepted",
        "payload": {"id": 42, "price": "1.00"},
    }
    message = relay_message(row)
    assert json.loads(message["contents"]) == {"id": 42, "price": "1.00"}
    assert message["metadata"] == {
        "contentType": "application/json",
        "eventType": "OrderAccepted",
        "key": "42",
    }
    quote = {"symbol": "BTC-USD", "bid": "65000.10", "lot_size": "0.0001"}
    assert probe_order_body(quote, "ACC-4") == {
        "account": "ACC-4", "symbol": "BTC-USD", "side": "buy", "price": "65000.10",
        "quantity": "0.0001",
    }  # fmt: skip


def test_money_matcher_is_a_string_and_a_decimal() -> None:
    pytest.importorskip("pact")
    from pytest_spark.contracts.matchers import DECIMAL, decimal_string

    rule = decimal_string("65000.10")
    assert rule["value"] == "65000.10"
    assert rule["pact:matcher:type"] == [
        {"pact:matcher:type": "type"},
        {"pact:matcher:type": "regex", "regex": DECIMAL},
    ]


def test_job_carries_the_broker_selection_only_when_configured() -> None:
    from pytest_spark.config import build

    contracts = dict(build(path=None, cwd=Path("/")).contracts)
    args = {
        "pacts": [parse_pact(_raw(V4_HTTP), Path("a.json"))],
        "provider_url": "http://api:8000/",
        "api_url": "http://api:8000",
        "db_dsn": "postgresql://u:p@db/spark",
        "outbox_table": "outbox",
        "account": "ACC-4",
        "timeout_s": 5.0,
        "verify_tls": True,
        "auth_token": "",
        "provider_version": "1.4.0",
    }
    job = verify.build_job(contracts=contracts, **args)
    assert job["broker"] is None and job["provider_url"] == "http://api:8000"
    assert job["pacts"] == [{"path": "a.json", "kind": "http"}]
    assert job["states"] == {"url": "", "token": "", "account": "ACC-4"}
    contracts.update(
        broker_url="https://broker.example", broker_token="t0ken", publish_results=True
    )
    broker = verify.build_job(contracts=contracts, **args)["broker"]
    assert broker == {
        "url": "https://broker.example",
        "token": "t0ken",
        "selectors": [{"mainBranch": True}, {"deployedOrReleased": True}],
        "publish": True,
        "provider_version": "1.4.0",
    }


def test_contract_tokens_are_secrets_masked_everywhere() -> None:
    from pytest_spark.config import build

    cfg = build(
        path=None,
        cwd=Path("/"),
        overrides={"contracts": {"provider_states_token": "s3cret-token-value"}},
    )
    assert cfg.redacted()["contracts"]["provider_states_token"] == "***"
    assert "s3cret-token-value" not in cfg.redactor.text("token s3cret-token-value in a message")


def test_waivers_accept_contract_ids(tmp_path: Path) -> None:
    from pytest_spark import waivers

    path = tmp_path / "waivers.toml"
    path.write_text(
        '[CT-03]\njustification = "mobile 1.2.0 retired Friday"\n'
        'approver = "lead"\nexpires = "2099-01-01"\n'
    )
    loaded, _ = waivers.load(path)
    assert [w.check for w in loaded] == ["CT-03"]
