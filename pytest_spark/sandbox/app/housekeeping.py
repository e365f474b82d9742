"""Database housekeeping steps run by background jobs: outbox relay, measurements, purge.

Several API instances share one database: the relay claims rows with
FOR UPDATE SKIP LOCKED, the purge deletes in bounded batches.

The relay delivers what it publishes to consumers with PostgreSQL NOTIFY on
channel ``spark_outbox`` (payload: the comma-separated event ids), sent in
the publishing transaction, so a consumer hears an event exactly when it is
marked published and only once (NOTIFY is delivered at commit:
https://www.postgresql.org/docs/current/sql-notify.html). NOTIFY works
through PgBouncer's transaction pooling; consumers LISTEN on PostgreSQL.
"""

from __future__ import annotations

import time
import uuid

from psycopg import AsyncConnection

from .db import Database
from .metrics import AppMetrics
from .settings import AppSettings

RELAY_BATCH = 500
PURGE_BATCH = 5_000
PLANTED_EXPIRED_KEYS = 3

_PUBLISH = f"""
WITH batch AS (
    SELECT id FROM outbox WHERE published_at IS NULL
    ORDER BY id LIMIT {RELAY_BATCH} FOR UPDATE SKIP LOCKED
)
UPDATE outbox o SET published_at = clock_timestamp() FROM batch WHERE o.id = batch.id
RETURNING o.id
"""
EVENTS_CHANNEL = "spark_outbox"
_NOTIFY = f"SELECT pg_notify('{EVENTS_CHANNEL}', %s)"
#: ids per NOTIFY payload (PostgreSQL caps a payload below 8000 bytes)
NOTIFY_CHUNK = 400
#: relay-dedupe-off: how far back before a stall the resumed relay replays
REPLAY_WINDOW_S = 5.0
_PUBLISHED_SINCE = """
SELECT id FROM outbox WHERE published_at >= to_timestamp(%s) ORDER BY id
"""
_MEASURE = """
SELECT
    (SELECT count(*) FROM outbox WHERE published_at IS NULL),
    COALESCE(EXTRACT(EPOCH FROM clock_timestamp() - (
        SELECT created_at FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT 1
    )), 0),
    (SELECT count(*) FROM idempotency_keys),
    COALESCE(EXTRACT(EPOCH FROM now() - (
        SELECT min(expires_at) FROM idempotency_keys WHERE expires_at < now()
    )), 0)
"""
_PURGE = f"""
DELETE FROM idempotency_keys WHERE id IN (
    SELECT id FROM idempotency_keys WHERE expires_at < now()
    ORDER BY expires_at LIMIT {PURGE_BATCH}
)
"""
_PLANT = """
INSERT INTO idempotency_keys
    (key, request_hash, state, response_status, response_body, created_at, expires_at)
VALUES (%(key)s, 'planted-by-purge-stopped', 'done', 201, '{}'::jsonb,
        now() - make_interval(secs => %(age)s),
        now() - make_interval(secs => %(age)s) + make_interval(secs => %(ttl)s))
"""


class Housekeeping:
    """The DB-side steps of the relay, monitor and purge jobs."""

    def __init__(self, db: Database, metrics: AppMetrics, settings: AppSettings) -> None:
        self.db = db
        self.metrics = metrics
        self.settings = settings
        self.published_total = 0

    async def publish_outbox(self) -> None:
        """Relay step: mark a batch of events published and deliver their ids (NOTIFY, in
        the same transaction), then beat the heartbeat."""
        async with self.db.transaction() as conn:
            cur = await conn.execute(_PUBLISH)
            ids = [row[0] for row in await cur.fetchall()]
            await _notify(conn, ids)
            self.published_total += len(ids)
        self.metrics.relay_heartbeat.set(time.time())

    async def replay_published_since(self, since: float) -> int:
        """relay-dedupe-off: a resumed relay re-delivers from a checkpoint before its stall
        without dropping the events it had already delivered (at-least-once, no dedupe)."""
        async with self.db.transaction() as conn:
            cur = await conn.execute(_PUBLISHED_SINCE, (since - REPLAY_WINDOW_S,))
            ids = [row[0] for row in await cur.fetchall()]
            await _notify(conn, ids)
        return len(ids)

    async def measure(self) -> None:
        """Monitor step: outbox backlog and lag, keys stored, as the DB sees them."""
        async with self.db.transaction() as conn:
            cur = await conn.execute(_MEASURE)
            row = await cur.fetchone()
        assert row is not None
        backlog, oldest_age, keys, expired_age = row
        self.metrics.outbox_backlog.set(backlog)
        self.metrics.outbox_oldest_age.set(float(oldest_age))
        self.metrics.idem_keys_stored.set(keys)
        self.metrics.idem_expired_age.set(float(expired_age))

    async def purge_keys(self) -> int:
        """Purge step: delete expired idempotency keys; returns how many."""
        async with self.db.transaction() as conn:
            cur = await conn.execute(_PURGE)
            return max(cur.rowcount, 0)

    async def plant_expired_keys(self) -> list[str]:
        """purge-stopped fault: insert keys already older than TTL + grace."""
        age = self.settings.idempotency_ttl_s + self.settings.idempotency_grace_s + 3_600.0
        keys = [f"sandbox-expired-{uuid.uuid4()}" for _ in range(PLANTED_EXPIRED_KEYS)]
        async with self.db.transaction() as conn:
            for key in keys:
                await conn.execute(
                    _PLANT, {"key": key, "age": age, "ttl": self.settings.idempotency_ttl_s}
                )
        return keys


async def _notify(conn: AsyncConnection, ids: list[int]) -> None:
    for i in range(0, len(ids), NOTIFY_CHUNK):
        payload = ",".join(str(x) for x in ids[i : i + NOTIFY_CHUNK])
        await conn.execute(_NOTIFY, (payload,))
