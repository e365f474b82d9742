"""JSON rendering shared by every endpoint, so stored responses replay byte-identically."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

PROBLEM_TYPE_BASE = "https://spark.example/problems/"


def render_json(payload: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, no spaces. Same input, same bytes."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A JSON response with canonical bytes."""
    return Response(render_json(payload), status, headers, media_type="application/json")


def problem_body(status: int, kind: str, title: str, detail: str) -> dict[str, Any]:
    """RFC 9457 problem details as a dict (stored for idempotent replay)."""
    return {"type": PROBLEM_TYPE_BASE + kind, "title": title, "status": status, "detail": detail}


def problem(
    status: int, kind: str, title: str, detail: str, headers: dict[str, str] | None = None
) -> Response:
    """An application/problem+json error response."""
    return Response(
        render_json(problem_body(status, kind, title, detail)),
        status,
        headers,
        media_type="application/problem+json",
    )
