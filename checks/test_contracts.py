"""CT-01..03: the release honours every consumer's pact (CONTRACTS.md).

The consumer tests in ``checks/consumers/`` write their pacts with Pact's mock
server into ``contracts.pact_dir``; every pact there (and a broker's selection,
when configured) is then verified against the target by the Pact verifier,
with provider states set through ``contracts.provider_states_url`` and
messages taken from the real outbox (``pytest_spark.contracts``). One
verification serves the three checks: CT-01 judges the HTTP pacts, CT-02 the
message pacts, CT-03 whether every selected pact (consumer version) may be
deployed against this release.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_spark.evidence import Recorder
from pytest_spark.probes import ProbeError

CONSUMERS = Path(__file__).with_name("consumers")


@dataclass
class ContractRun:
    """One verification of every pact, shared by CT-01..03."""

    pacts: list[Any]  # PactFile, the ones for our providers
    ignored: list[Any]  # PactFile for other providers
    results: dict[str, list[Any]]  # pact path -> InteractionResult
    broker: dict[str, list[Any]]  # kind -> InteractionResult of the broker's selection
    raw: dict[str, Any]  # the child's output: per-pact entries, states, messages

    def of_kind(self, kind: str) -> list[Any]:
        return [p for p in self.pacts if p.kind == kind]

    def record(self, evidence: Recorder, kind: str | None) -> list[Any]:
        """Evidence for one check: its pact files (sha256 + the files), results, states."""
        pacts = self.pacts if kind is None else self.of_kind(kind)
        evidence.observe("pacts", [p.as_dict() for p in pacts])
        evidence.observe("pacts_ignored", [p.as_dict() for p in self.ignored])
        results = [r for p in pacts for r in self.results[p.path]]
        broker = [r for k, rs in self.broker.items() if kind in (None, k) for r in rs]
        evidence.observe("interactions", [r.as_dict() for r in results + broker])
        evidence.observe("provider_states", self.raw.get("states", []))
        evidence.observe("timings_s", self.raw.get("timings_s", {}))
        for p in pacts:
            evidence.attach(p.name, Path(p.path).read_bytes())
        outputs = [e.get("output", "") for e in self.raw.get("pacts", []) if e["kind"] == kind]
        evidence.attach("verifier-output.txt", "\n".join(outputs) or "(none)")
        return results + broker


@pytest.fixture(scope="session")
def contract_run(spark_config: Any, http: Any, timeout: float) -> ContractRun:
    """Record the consumers' pacts, then verify every pact of the pact dir in a child process."""
    from pytest_spark.contracts import consumers, verify
    from pytest_spark.contracts.pacts import PactFileError, find_pacts

    cfg = spark_config.contracts
    account = str(spark_config.schema["test_account"] or "").strip()
    if not account:
        raise ProbeError(
            "set schema.test_account: verifying pacts places orders, only under that account"
        )
    api_urls = spark_config.targets["api_urls"]
    provider_url = cfg["provider_url"] or (api_urls[0] if api_urls else "")
    if not provider_url:
        raise ProbeError("no provider to verify: set contracts.provider_url or targets.api_urls")
    pact_dir = Path(cfg["pact_dir"])
    started = time.monotonic()
    consumers.record_all(CONSUMERS, pact_dir, cfg["provider"], cfg["message_provider"])
    recorded = time.monotonic()
    try:
        found = find_pacts(pact_dir)
    except PactFileError as exc:
        raise ProbeError(f"contracts.pact_dir: {exc}") from None
    ours = (cfg["provider"], cfg["message_provider"])
    pacts = [p for p in found if p.provider in ours]

    from pytest_spark.probes.http import get

    get(http, provider_url.rstrip("/") + "/version")  # unreachable: ProbeError, nothing replayed
    job = verify.build_job(
        contracts=dict(cfg),
        pacts=pacts,
        provider_url=provider_url,
        api_url=api_urls[0] if api_urls else provider_url,
        db_dsn=spark_config.targets["db_dsn"],
        outbox_table=spark_config.schema["outbox_table"],
        account=account,
        timeout_s=timeout,
        verify_tls=bool(spark_config.targets["verify_tls"]),
        auth_token=spark_config.targets["auth_token"],
        provider_version=spark_config.release["version"],
    )
    raw = verify.run_child(job, float(cfg["verify_timeout_s"]))
    raw["timings_s"] = {
        "consumer_tests": round(recorded - started, 3),
        "verification": round(time.monotonic() - recorded, 3),
    }
    entries = {e["path"]: e for e in raw["pacts"]}
    results = {p.path: verify.pact_results(p, entries.get(p.path, {})) for p in pacts}
    broker = {e["kind"]: verify.broker_results(e) for e in raw.get("broker", [])}
    return ContractRun(pacts, [p for p in found if p.provider not in ours], results, broker, raw)


def _judge(results: list[Any], kind: str) -> None:
    from pytest_spark.contracts.verify import judge, summary

    failed, errors = judge(results)
    assert not failed, f"{kind} pact broken: {summary(failed, 'fail')}"
    if errors:
        raise ProbeError(f"{kind} pacts not verified: {summary(errors, 'could not be verified')}")


@pytest.mark.spark_check("CT-01")
def test_ct01_http_consumers_verified(contract_run: ContractRun, evidence: Recorder) -> None:
    """Every interaction of every HTTP consumer's pact holds against the release."""
    if not contract_run.of_kind("http"):
        raise ProbeError("no HTTP pacts in contracts.pact_dir: nothing to verify")
    _judge(contract_run.record(evidence, "http"), "HTTP")


@pytest.mark.spark_check("CT-02")
def test_ct02_message_consumers_verified(contract_run: ContractRun, evidence: Recorder) -> None:
    """Every message pact holds for the event the outbox relay really published."""
    if not contract_run.of_kind("message"):
        raise ProbeError("no message pacts in contracts.pact_dir: nothing to verify")
    results = contract_run.record(evidence, "message")
    evidence.observe("outbox_messages", contract_run.raw.get("messages", []))
    _judge(results, "message")


@pytest.mark.spark_check("CT-03")
def test_ct03_can_i_deploy(contract_run: ContractRun, evidence: Recorder) -> None:
    """Every selected pact (consumer version) has a successful verification of this release."""
    from pytest_spark.contracts.verify import ERROR, FAILED, deployable

    if not contract_run.pacts and not any(contract_run.broker.values()):
        raise ProbeError("no pacts selected (pact dir and broker): nothing to deploy against")
    contract_run.record(evidence, None)
    answers = [(p, *deployable(p.label, contract_run.results[p.path])) for p in contract_run.pacts]
    for kind, results in contract_run.broker.items():
        for consumer in sorted({r.consumer for r in results}):
            mine = [r for r in results if r.consumer == consumer]
            answers.append((None, *deployable(f"{consumer} (broker selection, {kind})", mine)))
    evidence.observe(
        "can_i_deploy",
        [
            {"pact": p.as_dict() if p else "broker selection", "outcome": outcome, "reason": reason}
            for p, outcome, reason in answers
        ],
    )
    blocked = [reason for _, outcome, reason in answers if outcome == FAILED]
    assert not blocked, "can-i-deploy: no: " + "; ".join(blocked)
    unknown = [reason for _, outcome, reason in answers if outcome == ERROR]
    if unknown:
        raise ProbeError("can-i-deploy: unknown: " + "; ".join(unknown))
