"""Prove CT-01..03 on the real reference stack (CONTRACTS.md "Proven both ways").

The healthy stack verifies green with evidence; every contract fault turns its
CT red with a message naming the consumer (and version), the interaction and
the mismatch; an unreachable provider is an ERROR; a pact of an older consumer
version that the release breaks makes can-i-deploy say no, naming that
version; pact-python's own pytest plugin runs alongside ours.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pytest_spark.bundle import verify as verify_bundle
from pytest_spark.sandbox.faults import faults_for

CT = ("CT-01", "CT-02", "CT-03")

# fault -> (check that must fail, texts its message must contain: consumer, interaction, mismatch)
FAULT_CASES: dict[str, tuple[str, tuple[str, ...]]] = {
    "contract-field-renamed": (
        "CT-01",
        ("spark-web 3.8.0", "'a request for an order'", "missing the following keys: status"),
    ),
    "api-floats": (
        "CT-01",
        ("spark-mobile 2.11.0", "'a request for an order'", "(Decimal) to be the same type as"),
    ),
    "order-created-200": (
        "CT-01",
        ("spark-web 3.8.0", "'a request to place an order'", "expected 201 but was 200"),
    ),
    "idempotency-error-changed": (
        "CT-01",
        (
            "spark-web 3.8.0",
            "'a request to place an order without an Idempotency-Key'",
            "expected 400 but was 422",
        ),
    ),
    "event-field-missing": (
        "CT-02",
        ("ledger 1.9.0", "'an OrderAccepted event'", "missing the following keys: quantity"),
    ),
    "event-type-renamed": (
        "CT-02",
        ("ledger 1.9.0", "'an OrderAccepted event'", "but was '\"OrderCreated\"'"),
    ),
}

OLDER_MOBILE = {
    "consumer": {"name": "spark-mobile"},
    "provider": {"name": "spark-api"},
    "interactions": [
        {
            "type": "Synchronous/HTTP",
            "description": "a request for quotes with last prices",
            "providerStates": [{"name": "the price feed is running"}],
            "request": {"method": "GET", "path": "/quotes"},
            "response": {
                "status": 200,
                "body": {
                    "content": {"quotes": [{"symbol": "BTC-USD", "last": "65000.10"}]},
                    "contentType": "application/json",
                    "encoded": False,
                },
                "matchingRules": {
                    "body": {
                        "$.quotes": {"combine": "AND", "matchers": [{"match": "type", "min": 1}]},
                        "$.quotes[*].symbol": {"combine": "AND", "matchers": [{"match": "type"}]},
                        "$.quotes[*].last": {"combine": "AND", "matchers": [{"match": "type"}]},
                    }
                },
            },
        }
    ],
    "metadata": {
        "pactSpecification": {"version": "4.0"},
        "pytest-spark": {"consumerVersion": "1.2.0"},
    },
}


def _observed(record: dict[str, Any], name: str) -> Any:
    found = [o["data"] for o in record["observations"] if o["name"] == name]
    assert found, f"{record['id']} recorded no {name!r}"
    return found[0]


def test_healthy_stack_verifies_every_pact_with_evidence(run_checks: Any) -> None:
    r = run_checks(*CT, writes=True)
    assert {cid: r.outcome(cid) for cid in CT} == dict.fromkeys(CT, "passed"), {
        cid: r.message(cid) for cid in CT
    }
    assert r.verdict["verdict"] == "GO"

    ct01 = r.record("CT-01")
    pacts = _observed(ct01, "pacts")
    assert {(p["consumer"], p["kind"]) for p in pacts} == {
        ("spark-web", "http"),
        ("spark-mobile", "http"),
    }
    for p in pacts:  # the pact files are in the bundle, with the digest the record names
        kept = (r.folder / "artifacts" / "CT-01" / p["name"]).read_bytes()
        assert hashlib.sha256(kept).hexdigest() == p["sha256"]
        assert json.loads(kept)["metadata"]["pactSpecification"]["version"] == "4.0"
    interactions = _observed(ct01, "interactions")
    assert len(interactions) == 11 and {i["outcome"] for i in interactions} == {"passed"}
    states = _observed(ct01, "provider_states")
    called = {s["state"] for s in states if s.get("status") == 200}
    assert called == {
        "the price feed is running",
        "an account may place orders",
        "an order exists",
        "an account holds an open position",
    }
    assert {s["params"].get("account") for s in states if s["state"]} == {"ACC-4"}

    ct02 = r.record("CT-02")
    messages = _observed(ct02, "outbox_messages")
    probes = [m["probe_order"] for m in messages if "probe_order" in m]
    assert len(probes) == 1 and probes[0]["request"]["account"] == "ACC-4"  # one order serves all
    assert len(messages) == 2 and all(
        m["outbox_row"] == messages[0]["outbox_row"] for m in messages
    )
    row = messages[0]["outbox_row"]
    assert row["event_type"] == "OrderAccepted" and row["published_at"]  # what the relay published
    answers = _observed(r.record("CT-03"), "can_i_deploy")
    assert sorted(a["pact"]["consumer"] for a in answers) == [
        "ledger",
        "risk-engine",
        "spark-mobile",
        "spark-web",
    ]
    assert {a["outcome"] for a in answers} == {"passed"}
    assert verify_bundle(r.folder).ok  # a reviewer re-derives the verdict from the bundle


def test_every_contract_fault_is_covered_here() -> None:
    assert {f.name for cid in CT for f in faults_for(cid)} == set(FAULT_CASES)


@pytest.mark.parametrize("fault", list(FAULT_CASES))
def test_contract_fault_turns_its_check_red(run_checks: Any, sandbox: Any, fault: str) -> None:
    cid, texts = FAULT_CASES[fault]
    with sandbox.inject(fault):
        r = run_checks(*CT, writes=True)
    assert r.verdict["verdict"] == "NO-GO" and r.ret != 0
    assert r.outcome(cid) == "failed", r.message(cid)
    for text in texts:
        assert text in r.message(cid), (text, r.message(cid))
    other = "CT-02" if cid == "CT-01" else "CT-01"
    assert r.outcome(other) == "passed", r.message(other)  # the fault breaks only its kind
    assert r.outcome("CT-03") == "failed"
    assert "cannot be deployed against this release" in r.message("CT-03")
    assert texts[0] in r.message("CT-03")
    failing = [i for i in _observed(r.record(cid), "interactions") if i["outcome"] == "failed"]
    assert failing and all(i["mismatches"] for i in failing)  # expected vs actual kept


def test_unreachable_provider_is_an_error_not_a_pass(run_checks: Any, blackhole: str) -> None:
    r = run_checks(
        *CT,
        writes=True,
        args=(
            "--spark-set",
            f"contracts.provider_url={blackhole}",
            "--spark-set",
            "policy.timeout_s=1",
        ),
    )
    assert {cid: r.outcome(cid) for cid in CT} == dict.fromkeys(CT, "error")
    assert r.verdict["verdict"] == "NO-GO" and r.ret != 0
    assert "timed out after 1.0 s" in r.message("CT-01") and blackhole in r.message("CT-01")


def test_older_consumer_version_broken_by_the_release_blocks_deploy(
    run_checks: Any, pytester: pytest.Pytester
) -> None:
    pacts = pytester.path / "pacts"
    pacts.mkdir(exist_ok=True)
    (pacts / "spark-mobile@1.2.0-spark-api.json").write_text(json.dumps(OLDER_MOBILE))
    r = run_checks(*CT, writes=True)
    assert r.verdict["verdict"] == "NO-GO"
    assert r.outcome("CT-03") == "failed"
    message = r.message("CT-03")
    assert "spark-mobile 1.2.0 (spark-mobile@1.2.0-spark-api.json) cannot be deployed" in message
    assert "'a request for quotes with last prices'" in message and "last" in message
    answers = _observed(r.record("CT-03"), "can_i_deploy")
    current = [a for a in answers if a["pact"]["consumer_version"] == "2.11.0"]
    assert current and current[0]["outcome"] == "passed"  # the current app is fine
    assert r.outcome("CT-01") == "failed" and "spark-mobile 1.2.0" in r.message("CT-01")


def test_pacts_own_pytest_plugin_coexists(run_checks: Any) -> None:
    """With pact-python's plugin loaded explicitly: same verdict, no pact_test_run_id noise."""
    r = run_checks(*CT, writes=True, args=("-p", "pact"))
    assert "pact-python" in r.output  # its plugin was loaded in this run
    assert r.verdict["verdict"] == "GO"
    assert "3 passed" in r.output and r.verdict["counts"]["passed"] == 3
    for path in r.folder.rglob("*"):
        if path.is_file():
            assert b"pact_test_run_id" not in path.read_bytes(), path


def test_project_runs_keep_pacts_plugin_off() -> None:
    """The suite's ini turns pact's plugin off (``-p no:pact``): a user's run does not load it."""
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "checks", "--co", "-m", "contract",
         "-p", "no:cacheprovider"],
        cwd=root, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    plugins = [line for line in proc.stdout.splitlines() if line.startswith("plugins:")]
    assert "test_ct01_http_consumers_verified" in proc.stdout, proc.stdout[-2000:]
    assert plugins and "pact" not in plugins[0], plugins


def test_user_command_under_xdist_is_go(tmp_path: Path, sandbox: Any) -> None:
    """The issue's command, in a fresh process, with two workers writing the same pact dir."""
    checks = Path(__file__).resolve().parents[2] / "checks"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(checks), "-m", "contract", "--release", "v1.4.0",
         "--spark-sandbox", "--spark-sandbox-dir", sandbox.endpoints.state_dir,
         "--spark-allow-writes", "-n", "2", "-p", "no:cacheprovider",
         "--spark-evidence-dir", str(tmp_path / "reports")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    last = proc.stdout.strip().splitlines()[-1]
    assert proc.returncode == 0 and last.startswith("SPARK VERDICT: GO"), proc.stdout[-3000:]
    assert sorted(p.name for p in (tmp_path / "pacts").glob("*.json")) == [
        "ledger-spark-outbox.json",
        "risk-engine-spark-outbox.json",
        "spark-mobile-spark-api.json",
        "spark-web-spark-api.json",
    ]


def test_a_state_that_cannot_be_set_is_an_error(run_checks: Any) -> None:
    """Without a provider-state endpoint, interactions that need a state are not verified."""
    r = run_checks(*CT, writes=True, args=("--spark-set", 'contracts.provider_states_url=""'))
    assert r.outcome("CT-01") == "error" and r.outcome("CT-03") == "error"
    assert "a provider state could not be set" in r.message("CT-01")
    assert r.verdict["verdict"] == "NO-GO"
    states = _observed(r.record("CT-01"), "provider_states")
    assert any("no contracts.provider_states_url configured" in s.get("error", "") for s in states)
    interactions = _observed(r.record("CT-01"), "interactions")
    stateless = [i for i in interactions if not i["states"]]
    assert stateless and {i["outcome"] for i in stateless} == {"passed"}  # the rest still ran
    assert r.outcome("CT-02") == "passed"  # messages come from the outbox, not from states


class FakeBroker:
    """Just enough of the Pact Broker's HAL API (pb:provider-pacts-for-verification) to
    serve pacts by provider and record what the verifier asked for."""

    def __init__(self, pacts: dict[str, list[dict[str, Any]]]) -> None:
        self.pacts, self.requests = pacts, []
        broker = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/hal+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                broker.requests.append(("GET", self.path, self.headers.get("authorization"), None))
                if self.path == "/":
                    href = broker.url + "/pacts/provider/{provider}/for-verification"
                    link = {"href": href, "templated": True}
                    return self._send({"_links": {"pb:provider-pacts-for-verification": link}})
                if self.path.endswith("/for-verification"):
                    return self._send({"_links": {"self": {"href": broker.url + self.path}}})
                _, _, provider, index = self.path.split("/")
                return self._send(broker.pacts[provider][int(index)])

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                broker.requests.append(("POST", self.path, self.headers.get("authorization"), body))
                provider = self.path.split("/")[3]
                items = [
                    {
                        "shortDescription": f"pact {i}",
                        "verificationProperties": {"pending": False, "notices": []},
                        "_links": {"self": {"href": f"{broker.url}/content/{provider}/{i}"}},
                    }
                    for i in range(len(broker.pacts.get(provider, [])))
                ]
                return self._send({"_embedded": {"pacts": items}})

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeBroker:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def broker() -> Iterator[FakeBroker]:
    with FakeBroker({"spark-api": [OLDER_MOBILE]}) as fake:
        yield fake


def test_broker_selection_is_verified_with_the_configured_selectors(
    run_checks: Any, broker: FakeBroker
) -> None:
    selectors = '["deployed&environment=production"]'
    r = run_checks(
        *CT,
        writes=True,
        args=(
            "--spark-set", f"contracts.broker_url={broker.url}",
            "--spark-set", "contracts.broker_token=broker-t0ken-value",
            "--spark-set", f"contracts.consumer_version_selectors={selectors}",
        ),
    )  # fmt: skip
    posted = [body for method, _, _, body in broker.requests if method == "POST"]
    assert {"deployed": True, "environment": "production"} in posted[0]["consumerVersionSelectors"]
    assert {auth for _, _, auth, _ in broker.requests} == {"Bearer broker-t0ken-value"}
    assert r.outcome("CT-01") == "failed"
    assert "spark-mobile (broker selection) 'a request for quotes with last prices'" in r.message(
        "CT-01"
    )
    assert r.outcome("CT-02") == "passed"  # the broker selects no message pact: not an error
    assert "spark-mobile (broker selection, http) cannot be deployed" in r.message("CT-03")
    for path in r.folder.rglob("*"):
        if path.is_file():
            assert b"broker-t0ken-value" not in path.read_bytes(), path
