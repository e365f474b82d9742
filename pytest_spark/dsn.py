"""PostgreSQL DSNs, parsed by libpq itself (through psycopg), never by hand.

Both forms libpq accepts -- ``postgresql://`` URIs (multi-host included) and
``key=value`` conninfo strings -- are parsed by ``PQconninfoParse``, so what we
validate, redact and describe is exactly what the driver will connect with.
Source: https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING
"""

from __future__ import annotations

import re

import psycopg
from psycopg.conninfo import conninfo_to_dict

#: Conninfo parameters whose value is a credential (libpq-connect "Parameter Key Words").
SECRET_PARAMS = ("password", "sslpassword")
_QUOTED = re.compile(r'"([^"]*)"')


def parse_dsn(dsn: str) -> dict[str, str]:
    """The DSN's parameters as libpq reads them; ValueError (never echoing the DSN) if bad."""
    if not dsn.strip():
        raise ValueError("empty DSN")
    scheme = re.match(r"^\s*([A-Za-z][A-Za-z0-9+.-]*)://", dsn)
    if scheme and scheme.group(1) not in ("postgresql", "postgres"):
        raise ValueError(f"unsupported DSN scheme in {scheme.group(1)!r}:// (use postgresql://)")
    try:
        params = conninfo_to_dict(dsn)
    except (psycopg.Error, UnicodeError, ValueError) as exc:
        # libpq quotes the offending part of the string, which may be the password
        why = _QUOTED.sub(lambda m: m[0] if m[1] == "=" else '"..."', str(exc)).splitlines()
        raise ValueError(f"not a valid PostgreSQL DSN ({why[0].strip() if why else '?'})") from None
    return {k: str(v) for k, v in params.items() if v is not None}


def dsn_secrets(dsn: str) -> list[str]:
    """The credentials inside a DSN (none for DSNs libpq cannot parse)."""
    try:
        params = parse_dsn(dsn)
    except ValueError:
        return []
    return [params[k] for k in SECRET_PARAMS if params.get(k)]


def dsn_password(dsn: str) -> str | None:
    """The password in a DSN, or None (also for DSNs libpq cannot parse)."""
    try:
        return parse_dsn(dsn).get("password") or None
    except ValueError:
        return None


def describe(dsn: str) -> str:
    """A safe label for messages: user@host:port/dbname (every host of a multi-host DSN)."""
    try:
        d = parse_dsn(dsn)
    except ValueError:
        return "<unparseable DSN>"
    hosts = (d.get("host") or d.get("hostaddr") or "localhost").split(",")
    ports = (d.get("port") or "5432").split(",")
    if len(ports) < len(hosts):  # libpq: one port applies to every host
        ports = ports[:1] * len(hosts)
    where = ",".join(
        f"{h or 'localhost'}:{p or '5432'}" for h, p in zip(hosts, ports, strict=False)
    )
    return f"{d.get('user', '?')}@{where}/{d.get('dbname', '?')}"
