"""POST /csp-report: intake for CSP violation reports in both browser formats.

``application/csp-report`` (report-uri, one ``{"csp-report": {...}}`` object)
and ``application/reports+json`` (report-to, a list of reports whose type is
``csp-violation``). Each violation counts once in spark_csp_violations_total.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from .responses import problem

if TYPE_CHECKING:
    from .runtime import Runtime

MAX_REPORT_BYTES = 64 * 1024
LEGACY_TYPE = "application/csp-report"
REPORTING_TYPE = "application/reports+json"


def count_violations(content_type: str, payload: Any) -> int:
    """Violations in a parsed report body; raises ValueError when the shape is wrong."""
    if content_type == LEGACY_TYPE:
        if not isinstance(payload, dict) or not isinstance(payload.get("csp-report"), dict):
            raise ValueError('expected {"csp-report": {...}}')
        return 1
    if not isinstance(payload, list) or not all(isinstance(r, dict) for r in payload):
        raise ValueError("expected a JSON list of reports")
    return sum(1 for r in payload if r.get("type") == "csp-violation")


async def csp_report(request: Request) -> Response:
    """Accept a violation report: 204, 415 for other media types, 400 for bad bodies."""
    rt: Runtime = request.app.state.runtime
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in (LEGACY_TYPE, REPORTING_TYPE):
        return problem(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            f"send {LEGACY_TYPE} or {REPORTING_TYPE}",
        )
    body = await request.body()
    if len(body) > MAX_REPORT_BYTES:
        return problem(413, "too-large", "Report too large", f"at most {MAX_REPORT_BYTES} bytes")
    try:
        violations = count_violations(content_type, json.loads(body))
    except ValueError as exc:
        return problem(400, "bad-report", "Malformed report", str(exc))
    if violations:
        rt.metrics.csp_violations.inc(violations)
    return Response(status_code=204)
