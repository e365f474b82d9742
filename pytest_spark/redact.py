"""Secret redaction: nothing that looks like a credential reaches evidence or logs.

Two layers: values we *know* are secret (expanded ``${ENV}`` references, sandbox
passwords) are replaced wherever they appear, and well-known shapes (DSN
passwords, auth headers, token parameters) are masked even when nobody told us.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"

SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "x-auth-token",
        "x-sandbox-token",
    }
)
SECRET_KEY_RE = re.compile(r"(pass(word)?|secret|token|api[_-]?key|credential)", re.I)

_URL_PASSWORD = re.compile(
    r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]+)(?P<at>@)", re.I
)
_KV_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|[^\s]+)", re.I)
_QUERY_SECRET = re.compile(
    r"(?P<head>[?&](?:password|token|access_token|api_key|apikey|secret)=)(?P<pw>[^&#\s]+)", re.I
)
_BEARER = re.compile(r"(?P<head>\b(?:Bearer|Basic)\s+)(?P<pw>[A-Za-z0-9._~+/=-]{8,})")


class Redactor:
    """Masks known secret values and secret-shaped substrings in any JSON-like value."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        for s in secrets:
            self.add(s)

    def add(self, secret: str | None) -> None:
        """Register a value that must never be written (too-short values would over-mask)."""
        if secret and len(secret) >= 4:
            self._secrets.add(secret)

    def text(self, value: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in value:
                value = value.replace(secret, MASK)
        for pattern in (_URL_PASSWORD, _KV_PASSWORD, _QUERY_SECRET, _BEARER):
            value = pattern.sub(
                lambda m: m.group("head") + MASK + (m.groupdict().get("at") or ""), value
            )
        return value

    def value(self, value: Any, key: str | None = None) -> Any:
        """Redact recursively; a mapping key that names a secret masks its whole value."""
        if key is not None and _is_secret_key(key) and isinstance(value, (str, bytes, int, float)):
            return MASK if value not in ("", None) else value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bytes):
            return self.bytes(value)
        if isinstance(value, Mapping):
            return {str(k): self.value(v, str(k)) for k, v in value.items()}
        if isinstance(value, (list, tuple)) and _is_header_pair(value):
            return [value[0], MASK]
        if isinstance(value, (list, tuple, set, frozenset)):
            return [self.value(v) for v in value]
        return value

    def bytes(self, data: bytes) -> bytes:
        """Redact raw captures; binary data that is not text is passed through untouched."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return data
        return self.text(text).encode("utf-8")


def _is_header_pair(value: list[Any] | tuple[Any, ...]) -> bool:
    """A [name, value] pair of a credential header, as headers-as-received are recorded."""
    return (
        len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], str)
        and value[0].lower() in SECRET_HEADERS
    )


def _is_secret_key(key: str) -> bool:
    return key.lower() in SECRET_HEADERS or bool(SECRET_KEY_RE.search(key))


def redact_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[list[str]]:
    """Headers as received (order and duplicates kept) with credential headers masked."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [[k, MASK if k.lower() in SECRET_HEADERS else v] for k, v in items]
