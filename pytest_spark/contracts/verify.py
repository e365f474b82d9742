"""Provider verification with the Pact verifier, in a child process under one deadline.

The Pact verifier (pact-python's ``Verifier``, the Rust pact_verifier through
FFI) replays each pact against the provider. It runs in a child process
(``python -m pytest_spark.contracts.verify``, the job on stdin, never in argv)
because it blocks in native code: only a process can be stopped at a total
deadline, and pact's FFI and logging stay out of the pytest process.

One verifier run per pact file, so every result belongs to one file and so to
one consumer version (a broker's selection is one more run). The results are
the verifier's own JSON (``Verifier.results``: ``interactionResults`` with
``mismatch`` of type ``mismatches`` or ``error``); reading them is the pure
part of this module (:func:`interaction_results`, :func:`judge`).
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..probes import ProbeError
from ..probes.command import CommandError, run_argv
from .pacts import HTTP, MESSAGE, PactFile

PASSED, FAILED, ERROR, PENDING = "passed", "failed", "error", "pending"
MAX_LINES = 4
MAX_MISMATCHES = 2  # per interaction in a message; the evidence keeps them all
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: The verifier's words for a state change that did not happen (pact_verifier's wording).
STATE_FAILED = "state change"
#: pact_verifier's words when a broker selects no pact for a provider.
NO_PACTS = "No pacts found for provider"


# --- reading the verifier's results (pure) -------------------------------------------------


@dataclass(frozen=True)
class InteractionResult:
    """One interaction of one pact, as the verifier judged it."""

    pact: str  # "consumer version (file)"
    consumer: str
    description: str
    states: tuple[str, ...]
    outcome: str  # passed / failed / error / pending
    detail: str = ""
    mismatches: tuple[dict[str, str], ...] = field(default_factory=tuple)

    def line(self) -> str:
        """``pact 'interaction': what is wrong`` for a check's message."""
        return f"{self.pact} {self.description!r}: {self.detail}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def mismatch_text(m: dict[str, Any]) -> str:
    """One mismatch as ``where: what`` (body path, header or status)."""
    where = m.get("path") or m.get("key") or m.get("type") or "mismatch"
    what = m.get("mismatch") or f"expected {m.get('expected')} but was {m.get('actual')}"
    return f"{where}: {' '.join(str(what).split())}"


def _mismatches(raw: Any) -> tuple[dict[str, str], ...]:
    out = []
    for m in raw or ():
        if isinstance(m, dict):
            out.append({k: str(v) for k, v in m.items() if v is not None})
    return tuple(out)


def interaction_results(
    results: dict[str, Any] | None,
    *,
    label: str = "",
    consumer: str = "",
    expected: Sequence[str] = (),
) -> list[InteractionResult]:
    """Every interaction's outcome from one verifier run's JSON.

    ``label`` names the pact in messages (``consumer version (file)``; a broker
    run names each result by its consumer). An interaction of the pact with no
    result at all is an ERROR (the verifier never got to it), and so is a run
    with no results: nothing verified is never a pass.
    """
    found: list[InteractionResult] = []
    for item in (results or {}).get("interactionResults") or ():
        if not isinstance(item, dict):
            continue
        mismatch = item.get("mismatch") if isinstance(item.get("mismatch"), dict) else {}
        common = {
            "pact": label or str(item.get("consumer", "?")),
            "consumer": str(item.get("consumer") or consumer),
            "description": str(item.get("description", "")),
            "states": tuple(str(s) for s in item.get("providerStates") or ()),
        }
        if item.get("result") == "OK":
            found.append(InteractionResult(**common, outcome=PASSED))
            continue
        if mismatch.get("type") == "mismatches":
            ms = _mismatches(mismatch.get("mismatches"))
            detail = "; ".join(mismatch_text(m) for m in ms[:MAX_MISMATCHES]) or "mismatch"
            if len(ms) > MAX_MISMATCHES:
                detail += f" (+{len(ms) - MAX_MISMATCHES} more mismatches)"
            outcome = PENDING if item.get("pending") else FAILED
            found.append(InteractionResult(**common, outcome=outcome, detail=detail, mismatches=ms))
            continue
        message = " ".join(str(mismatch.get("message") or item.get("result") or "error").split())
        if STATE_FAILED in message:
            message = f"could not verify: a provider state could not be set ({message})"
        else:
            message = f"could not verify: {message}"
        outcome = PENDING if item.get("pending") else ERROR
        found.append(InteractionResult(**common, outcome=outcome, detail=message))
    seen = {r.description for r in found}
    for description in expected:
        if description not in seen:
            found.append(
                InteractionResult(
                    label, consumer, description, (), ERROR, "could not verify: no result"
                )
            )
    return found


def judge(results: Iterable[InteractionResult]) -> tuple[list[str], list[str]]:
    """(failure lines, error lines): a mismatch fails, a run that could not check errors."""
    results = list(results)
    failed = [r.line() for r in results if r.outcome == FAILED]
    errors = [r.line() for r in results if r.outcome == ERROR]
    return failed, errors


def summary(lines: Sequence[str], what: str) -> str:
    """``N interactions <what>: first; second ... (+k more)`` for an assertion message."""
    head = "; ".join(lines[:MAX_LINES])
    more = f" (+{len(lines) - MAX_LINES} more)" if len(lines) > MAX_LINES else ""
    return f"{len(lines)} interaction(s) {what}: {head}{more}"


def deployable(pact_label: str, results: Sequence[InteractionResult]) -> tuple[str, str]:
    """can-i-deploy for one pact: (outcome, reason). Pending pacts are reported, not blocking."""
    if not results:
        return ERROR, f"{pact_label}: no verification result"
    failed = [r for r in results if r.outcome == FAILED]
    errors = [r for r in results if r.outcome == ERROR]
    if failed:
        first = failed[0]
        return FAILED, (
            f"{pact_label} cannot be deployed against this release: {len(failed)} of "
            f"{len(results)} interactions fail ({first.description!r}: {first.detail})"
        )
    if errors:
        return ERROR, f"{pact_label}: {len(errors)} interaction(s) could not be verified"
    return PASSED, f"{pact_label}: {len(results)} interactions verified"


# --- the job: built by the check, run by the child ----------------------------------------


def build_job(
    *,
    contracts: dict[str, Any],
    pacts: Sequence[PactFile],
    provider_url: str,
    api_url: str,
    db_dsn: str,
    outbox_table: str,
    account: str,
    timeout_s: float,
    verify_tls: bool,
    auth_token: str,
    provider_version: str,
) -> dict[str, Any]:
    """Everything the child needs, as JSON (secrets included: it travels on stdin only)."""
    from .selectors import parse_selectors

    broker = None
    if contracts["broker_url"]:
        broker = {
            "url": contracts["broker_url"],
            "token": contracts["broker_token"],
            "selectors": parse_selectors(contracts["consumer_version_selectors"]),
            "publish": bool(contracts["publish_results"]),
            "provider_version": contracts["provider_version"] or provider_version,
        }
    return {
        "provider": contracts["provider"],
        "message_provider": contracts["message_provider"],
        "provider_url": provider_url.rstrip("/"),
        "timeout_s": timeout_s,
        "verify_tls": verify_tls,
        "auth_token": auth_token,
        "states": {
            "url": contracts["provider_states_url"],
            "token": contracts["provider_states_token"],
            "account": account,
        },
        "messages": {
            "api_url": api_url.rstrip("/"),
            "db_dsn": db_dsn,
            "outbox_table": outbox_table,
            "account": account,
            "message_timeout_s": float(contracts["message_timeout_s"]),
        },
        "pacts": [{"path": p.path, "kind": p.kind} for p in pacts],
        "broker": broker,
    }


def run_child(job: dict[str, Any], deadline_s: float) -> dict[str, Any]:
    """Run the verification child; a ProbeError when it overruns the deadline or crashes."""
    with tempfile.TemporaryDirectory(prefix="spark-pact-") as tmp:
        out = Path(tmp) / "result.json"
        env = {**os.environ, "PACT_DO_NOT_TRACK": "true"}
        try:
            proc = run_argv(
                [sys.executable, "-m", "pytest_spark.contracts.verify", str(out)],
                stdin=json.dumps(job),
                timeout=deadline_s,
                env=env,
            )
        except CommandError as exc:
            if exc.kind != "timeout":
                raise ProbeError(f"the pact verifier: {exc}") from None
            raise ProbeError(
                f"provider verification did not finish within {deadline_s} s "
                "(contracts.verify_timeout_s); stopped"
            ) from None
        if not out.exists():
            tail = (proc.stderr or proc.stdout or "")[-400:].strip()
            raise ProbeError(f"the pact verifier exited {proc.returncode} with no results: {tail}")
        result: dict[str, Any] = json.loads(out.read_text())
    result["stdout"] = _ANSI.sub("", proc.stdout or "")[-20000:]
    return result


def _verifier(job: dict[str, Any], kind: str, states_url: str, producer: Any) -> Any:
    from pact import Verifier

    timeout_ms = max(1, int(job["timeout_s"] * 1000))
    if kind == MESSAGE:
        v = Verifier(job["message_provider"], host="127.0.0.1").message_handler(producer)
        return v.set_request_timeout(timeout_ms)
    url = job["provider_url"]
    v = Verifier(job["provider"], host=urlsplit(url).hostname).add_transport(url=url)
    v.state_handler(states_url, teardown=False, body=True).set_request_timeout(timeout_ms)
    if job["auth_token"]:
        v.add_custom_header("Authorization", f"Bearer {job['auth_token']}")
    if not job["verify_tls"]:
        v.disable_ssl_verification()
    return v


def _execute(verifier: Any) -> dict[str, Any]:
    """Run one verifier; failures are in its results (pact-python raises on any failure)."""
    entry: dict[str, Any] = {}
    try:
        verifier.verify()
    except RuntimeError as exc:
        entry["raised"] = str(exc)[:300]
    results = verifier.results
    entry["output"] = _ANSI.sub("", "\n".join(results.pop("output", []) or []))[-20000:]
    entry["results"] = results
    return entry


def child(job: dict[str, Any]) -> dict[str, Any]:
    """The child's work: every pact file, then the broker's selection."""
    from .messages import OutboxMessages
    from .states import StateForwarder, StateProxy

    st, ms = job["states"], job["messages"]
    forwarder = StateForwarder(
        st["url"], st["token"], st["account"], job["timeout_s"], job["verify_tls"]
    )
    headers = {"Authorization": f"Bearer {job['auth_token']}"} if job["auth_token"] else {}
    producer = OutboxMessages(
        ms["api_url"],
        ms["db_dsn"],
        ms["outbox_table"],
        ms["account"],
        job["timeout_s"],
        ms["message_timeout_s"],
        headers=headers,
        verify_tls=job["verify_tls"],
    )
    out: dict[str, Any] = {"pacts": [], "broker": []}
    with StateProxy(forwarder) as states_url:
        for pact in job["pacts"]:
            entry = {"path": pact["path"], "kind": pact["kind"]}
            try:
                v = _verifier(job, pact["kind"], states_url, producer).add_source(pact["path"])
                entry.update(_execute(v))
            except Exception as exc:  # the check reports it as could-not-verify
                entry["exception"] = f"{type(exc).__name__}: {exc}"[:500]
            out["pacts"].append(entry)
        broker = job.get("broker")
        for kind in (HTTP, MESSAGE) if broker else ():
            entry = {"kind": kind}
            try:
                v = _verifier(job, kind, states_url, producer).set_error_on_empty_pact(
                    enabled=False
                )
                builder = v.broker_source(
                    broker["url"], token=broker["token"] or None, selector=True, use_env=False
                )
                from .selectors import as_keywords

                for selector in broker["selectors"]:
                    builder.consumer_version(**as_keywords(selector))
                builder.build()
                if broker["publish"]:
                    v.set_publish_options(version=broker["provider_version"])
                entry.update(_execute(v))
            except Exception as exc:
                entry["exception"] = f"{type(exc).__name__}: {exc}"[:500]
            out["broker"].append(entry)
    out["states"] = forwarder.calls
    out["messages"] = producer.produced
    return out


def main(argv: Sequence[str]) -> int:
    """``python -m pytest_spark.contracts.verify RESULT.json`` with the job on stdin."""
    if len(argv) != 1:
        print("usage: python -m pytest_spark.contracts.verify RESULT.json < job.json")
        return 2
    job = json.loads(sys.stdin.read())
    result = child(job)
    tmp = Path(argv[0] + ".tmp")
    tmp.write_text(json.dumps(result, default=str))
    tmp.replace(argv[0])
    return 0


def pact_results(pact: PactFile, entry: dict[str, Any]) -> list[InteractionResult]:
    """The child's entry for one pact file, read: a crashed run makes every interaction ERROR."""
    if "exception" in entry:
        detail = f"could not verify: {entry['exception']}"
        return [
            InteractionResult(pact.label, pact.consumer, d, (), ERROR, detail)
            for d in pact.interactions
        ]
    return interaction_results(
        entry.get("results"), label=pact.label, consumer=pact.consumer, expected=pact.interactions
    )


def broker_results(entry: dict[str, Any]) -> list[InteractionResult]:
    """The broker selection's run for one kind (http / message), each result named
    ``consumer (broker selection)``. No pact selected for a provider is not an error
    (the broker simply has none); a broker that cannot be read is."""
    label = f"broker selection ({entry.get('kind')})"
    if "exception" in entry:
        detail = f"could not verify: {entry['exception']}"
        return [InteractionResult(label, "broker", "(broker)", (), ERROR, detail)]
    found = [
        replace(r, pact=f"{r.consumer} (broker selection)")
        for r in interaction_results(entry.get("results"))
    ]
    for problem in (entry.get("results") or {}).get("errors") or ():
        mismatch = problem.get("mismatch") if isinstance(problem, dict) else None
        message = str((mismatch or {}).get("message", problem))
        if isinstance(problem, dict) and problem.get("interaction") == "Failed to load pact":
            if NO_PACTS in message:
                continue
            found.append(
                InteractionResult(
                    label, "broker", "(broker)", (), ERROR, f"could not verify: {message}"
                )
            )
    return found


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
