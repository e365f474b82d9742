"""RT-05: how a page's subresources are asked for, and how they are recorded.

A browser requests a cross-origin element that has a ``crossorigin``
attribute in CORS mode, with the page's ``Origin``; the server's CORS answer
depends on it, so RT-05 sends the same. Pure: a subresource and a page URL in,
request headers and evidence out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_spark.rules.subresources import Subresource, origin, serialize_origin

__all__ = ["describe", "request_headers"]


def request_headers(res: Subresource, page_url: str) -> dict[str, str] | None:
    """``Origin`` for a CORS-mode cross-origin request (as a browser sends it), else None."""
    page_origin = origin(page_url)
    if res.crossorigin is None or origin(res.url) == page_origin:
        return None
    return {"Origin": serialize_origin(page_origin)}


def describe(page_url: str, coep: str, found: Sequence[Subresource]) -> dict[str, Any]:
    """The page's COEP value and every subresource it references, as written (evidence)."""
    return {
        "page": page_url,
        "coep": coep or None,
        "found": [
            {"kind": r.kind, "url": r.url, "as_written": r.raw, "crossorigin": r.crossorigin}
            for r in found
        ],
    }
