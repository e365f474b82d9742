"""Prove the HTTP / release / SBOM checks on the real reference stack.

Each check passes on the healthy stack, fails (with its id among the NO-GO
reasons and a message naming the problem) under every fault the catalog lists
for it, and ERRORs -- never hangs, never passes -- when the API cannot be asked.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import hypothesis  # noqa: F401  # see the note below
import pytest

from pytest_spark.probes import sbom as sbom_probe
from pytest_spark.sandbox.faults import FAULTS

# hypothesis and probes.sbom are imported here on purpose: pytester's in-process runs
# drop modules first imported inside a run, so without this every run_checks() would
# pay hypothesis' import and rebuild the SBOM validator (jsonschema) again.
MINE = ("BS-05", "PF-05", "RT-04", "RT-05", "RT-06", "BS-07", "PF-01", "PF-07", "BS-09", "RT-10")
TALK_TO_API = tuple(c for c in MINE if c != "BS-09")  # BS-09 only reads the SBOM file
CHECKS_DIR = Path(__file__).resolve().parents[2] / "checks"

# fault -> (check that must fail, texts the failure message must contain)
FAULT_CASES: list[tuple[str, str, tuple[str, ...]]] = [
    ("csp-unsafe-inline", "BS-05", ("script-src allows 'unsafe-inline'", "http://127.0.0.1:")),
    ("csp-removed", "BS-05", ("no Content-Security-Policy header",)),
    ("csp-report-only", "BS-05", ("only Content-Security-Policy-Report-Only",)),
    ("header-removed", "PF-05", ("X-Content-Type-Options header is missing",)),
    ("hsts-short", "RT-04", ("max-age=31535999", "preload minimum 31536000")),
    ("hsts-no-preload", "RT-04", ("lacks preload",)),
    ("asset-without-corp", "RT-05", ("/static/logo.svg", "Cross-Origin-Resource-Policy")),
    ("price-through-float", "RT-06", ("price", "came back as", "stored as")),
    ("new-flag-on", "BS-07", ("new flag new_checkout_flow", "true")),
    ("version-old", "PF-01", ("reports version 1.3.1, expected release 1.4.0",)),
    ("flags-stale", "PF-07", ("different flag snapshots", "s old (max 60 s)")),
    ("sbom-missing", "BS-09", ("does not exist",)),
    ("sbom-invalid", "BS-09", ("not valid CycloneDX 1.6", "'spaceship'")),
    ("sbom-wrong-version", "BS-09", ("metadata.component.version is '1.3.1'", "'1.4.0'")),
    ("sbom-duplicate-bom-ref", "BS-09", ("defined more than once", "metadata.component.bom-ref")),
    ("sbom-other-build", "RT-10", ("SBOM build id spark:git_sha=", "runs git_sha")),
]


@pytest.fixture(scope="module", autouse=True)
def _warm_sbom_validator() -> None:
    """Build the CycloneDX validator once, outside the timed check runs."""
    sbom_probe.schema_errors({})


def _observations(record: dict[str, Any], name: str) -> list[Any]:
    return [o["data"] for o in record["observations"] if o["name"] == name]


def test_all_pass_on_the_healthy_stack(run_checks: Any) -> None:
    r = run_checks(*MINE, writes=True)
    outcomes = {cid: r.outcome(cid) for cid in MINE}
    assert outcomes == dict.fromkeys(MINE, "passed"), {
        cid: r.message(cid) for cid in MINE if outcomes[cid] != "passed"
    }
    assert r.verdict["verdict"] == "GO"

    # Evidence a reviewer can re-check: headers as received, parsed policy, findings.
    bs05 = r.record("BS-05")
    responses = _observations(bs05, "response")
    assert responses and all(isinstance(resp["headers"], list) for resp in responses)
    assert any(name.lower() == "content-security-policy" for name, _ in responses[0]["headers"])
    assert _observations(bs05, "csp")[0]["policies"][0]["script-src"] == ["'self'"]
    assert all(p["status"] in range(200, 300) for p in _observations(bs05, "report_post"))
    pf05 = _observations(r.record("PF-05"), "score")
    assert all(s["grade"] in ("A+", "A", "A-") for s in pf05)
    rt06 = r.record("RT-06")
    trips = _observations(rt06, "round_trips")[0]
    assert len(trips) >= 5 and all(t["post"]["status"] == 201 for t in trips)
    off_grid = _observations(rt06, "off_grid")
    assert {o["status"] for o in off_grid} <= set(range(400, 500))
    # every probe order is passive: a buy at or below the bid, a sell at or above the ask
    grids = _observations(rt06, "grids")[0]
    orders = [t["request"] for t in trips] + [o["request"] for o in off_grid]
    assert {o["side"] for o in orders} == {"buy", "sell"}
    for order in orders:
        grid = grids[order["symbol"]]
        price, tick = Decimal(order["price"]), Decimal(grid["tick"])
        if order["side"] == "buy":
            assert price <= Decimal(grid["bid"]), (order, grid)
        else:
            assert price >= Decimal(grid["ask"]), (order, grid)
        if order in orders[: len(trips)]:
            assert price % tick == 0, (order, grid)

    # RT-10: the SBOM is in the bundle, and the recorded digest is the file's.
    rt10 = r.record("RT-10")
    sbom = _observations(rt10, "sbom")[0]
    attached = (r.folder / sbom["attached_as"]).read_bytes()
    assert sbom["sha256"] == "sha256:" + hashlib.sha256(attached).hexdigest()
    assert sbom["attached_as"] in rt10["artifacts"]
    comparison = _observations(rt10, "comparison")[0]
    assert comparison["sbom"]["build_id"] is not None
    bs09 = r.record("BS-09")
    assert sbom["sha256"] == "sha256:" + _observations(bs09, "sbom")[0]["sha256"]
    assert _observations(bs09, "schema")[0]["errors"] == []


@pytest.mark.parametrize(
    ("fault", "check_id", "needles"), FAULT_CASES, ids=[f for f, _, _ in FAULT_CASES]
)
def test_each_fault_fails_its_check(
    run_checks: Any, sandbox: Any, fault: str, check_id: str, needles: tuple[str, ...]
) -> None:
    assert check_id in FAULTS[fault].targets, f"{fault} no longer targets {check_id}"
    with sandbox.inject(fault):
        r = run_checks(check_id, writes=check_id == "RT-06")
    message = r.message(check_id)
    assert r.outcome(check_id) == "failed", message
    assert check_id in r.reason_ids()
    assert r.verdict["verdict"] == "NO-GO"
    for needle in needles:
        assert needle in message, message


def test_unreachable_api_is_could_not_verify(run_checks: Any) -> None:
    started = time.monotonic()
    r = run_checks(*TALK_TO_API, writes=True, args=("--spark-api-url", "http://127.0.0.1:9"))
    elapsed = time.monotonic() - started
    reasons = {x["check"]: x for x in r.verdict["reasons"]}
    for cid in TALK_TO_API:
        assert r.outcome(cid) == "error", (cid, r.message(cid))
        assert reasons[cid]["message"].startswith("could not verify"), reasons[cid]
        assert "127.0.0.1:9" in reasons[cid]["message"], reasons[cid]
    assert r.verdict["verdict"] == "NO-GO"
    assert elapsed < 30, f"took {elapsed:.1f} s"


def test_hung_api_times_out_within_the_deadline(
    run_checks: Any, pytester: pytest.Pytester, blackhole: str
) -> None:
    timeout_s = 0.25
    (pytester.path / "spark.toml").write_text(f"[policy]\ntimeout_s = {timeout_s}\n")
    started = time.monotonic()
    r = run_checks(*TALK_TO_API, writes=True, args=("--spark-api-url", blackhole))
    elapsed = time.monotonic() - started
    for cid in TALK_TO_API:
        assert r.outcome(cid) == "error", (cid, r.message(cid))
        assert f"timed out after {timeout_s} s" in r.message(cid), r.message(cid)
    # one deadline per check, plus the run's own start-up
    assert elapsed < len(TALK_TO_API) * timeout_s + 20, f"took {elapsed:.1f} s"


class _EndlessRedirects(BaseHTTPRequestHandler):
    """/n -> 301 /n+1 over plain http: never reaches https, never settles."""

    def do_GET(self) -> None:
        step = int(self.path.strip("/") or 0)
        self.send_response(301)
        self.send_header("Location", f"/{step + 1}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def redirector() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EndlessRedirects)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


def test_http_redirect_chain_is_followed_and_judged(
    run_checks: Any, pytester: pytest.Pytester, redirector: str
) -> None:
    """targets.http_redirect_url: hops followed by hand up to thresholds.max_redirects."""
    (pytester.path / "spark.toml").write_text(
        f'[targets]\nhttp_redirect_url = "{redirector}"\n[thresholds]\nmax_redirects = 2\n'
    )
    r = run_checks("RT-04")
    message = r.message("RT-04")
    assert r.outcome("RT-04") == "failed", message
    assert f"{redirector} first redirects to {redirector}1" in message
    assert "needs more than 2 redirects" in message
    hops = _observations(r.record("RT-04"), "redirect_hop")
    assert [h["status"] for h in hops] == [301, 301, 301]  # max_redirects + 1 requests


def test_bs07_without_a_flag_manifest_is_could_not_verify(
    pytester: pytest.Pytester, sandbox: Any
) -> None:
    """No release.new_flags nor kill_switches (a run without --spark-sandbox): nothing to judge."""
    evidence = pytester.path / "reports-plain"
    result = pytester.runpytest(
        str(CHECKS_DIR), "-p", "no:cacheprovider", "--release", "v1.4.0",
        "--spark-evidence-dir", str(evidence), "--spark-check", "BS-07",
        "--spark-api-url", ",".join(sandbox.endpoints.api_urls),
    )  # fmt: skip
    (folder,) = [p for p in evidence.glob("*/*") if p.is_dir()]
    record = json.loads((folder / "checks" / "BS-07.json").read_text())
    assert record["outcome"] == "error", result.stdout.str()[-3000:]
    assert record["message"].endswith(
        "release.new_flags and release.kill_switches are empty: nothing to compare /flags "
        "against (set them in spark.toml [release])"
    ), record["message"]
    verdict = json.loads((folder / "verdict.json").read_text())
    assert verdict["verdict"] == "NO-GO"


def test_bs07_healthy_sandbox_run_has_a_manifest(run_checks: Any) -> None:
    r = run_checks("BS-07")
    assert r.outcome("BS-07") == "passed", r.message("BS-07")
    manifest = _observations(r.record("BS-07"), "manifest")[0]
    assert manifest["new_flags"] or manifest["kill_switches"]


def test_failure_lines_say_what_failed_not_a_passing_grade(run_checks: Any, sandbox: Any) -> None:
    """PF-05 failing on a baseline rule does not quote its (A+) grade; RT-05 tells a same-origin
    asset apart (browsers load it; the check is stricter on purpose)."""
    with sandbox.inject("header-removed"):
        r = run_checks("PF-05")
    message = r.message("PF-05")
    assert r.outcome("PF-05") == "failed", message
    assert "X-Content-Type-Options header is missing" in message
    assert "grade A+" not in message and "score 1" not in message, message
    with sandbox.inject("asset-without-corp"):
        r = run_checks("RT-05")
    message = r.message("RT-05")
    assert r.outcome("RT-05") == "failed", message
    assert "browsers still load it (it is same-origin with the page)" in message, message
    assert "browsers will block" not in message, message
