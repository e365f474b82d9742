"""PostgreSQL DSN parsing just deep enough to find (and hide) the password.

psycopg does the real connecting; this exists so config validation and
redaction need no driver import and so both DSN forms are handled the same way.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

_KV_TOKEN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*('(?:[^'\\]|\\.)*'|[^\s']*)")


def parse_dsn(dsn: str) -> dict[str, str]:
    """Parse a URL (postgresql://) or key=value conninfo string into a dict."""
    dsn = dsn.strip()
    if not dsn:
        raise ValueError("empty DSN")
    if re.match(r"^postgres(ql)?://", dsn):
        return _parse_url(dsn)
    if "://" in dsn:
        raise ValueError(f"unsupported DSN scheme in {dsn.split('://', 1)[0]!r}://")
    return _parse_kv(dsn)


def _parse_url(dsn: str) -> dict[str, str]:
    try:
        parts = urlsplit(dsn)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"malformed DSN URL: {exc}") from None
    out: dict[str, str] = {}
    if parts.hostname:
        out["host"] = unquote(parts.hostname)
    if port is not None:
        out["port"] = str(port)
    if parts.username:
        out["user"] = unquote(parts.username)
    if parts.password is not None:
        out["password"] = unquote(parts.password)
    if parts.path.strip("/"):
        out["dbname"] = unquote(parts.path.lstrip("/"))
    for item in filter(None, parts.query.split("&")):
        key, _, value = item.partition("=")
        out[unquote(key)] = unquote(value)
    return out


def _parse_kv(dsn: str) -> dict[str, str]:
    out: dict[str, str] = {}
    pos = 0
    while pos < len(dsn):
        m = _KV_TOKEN.match(dsn, pos)
        if not m:
            raise ValueError(f"malformed conninfo near {dsn[pos : pos + 20]!r}")
        key, value = m.group(1), m.group(2)
        if value.startswith("'"):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        out[key] = value
        pos = m.end()
        while pos < len(dsn) and dsn[pos].isspace():
            pos += 1
    return out


def dsn_password(dsn: str) -> str | None:
    """The password in a DSN, or None (also for DSNs we cannot parse)."""
    try:
        return parse_dsn(dsn).get("password") or None
    except ValueError:
        return None


def describe(dsn: str) -> str:
    """A safe human label for a DSN: user@host:port/dbname, never the password."""
    try:
        d = parse_dsn(dsn)
    except ValueError:
        return "<unparseable DSN>"
    host = d.get("host", "localhost")
    return f"{d.get('user', '?')}@{host}:{d.get('port', '5432')}/{d.get('dbname', '?')}"
