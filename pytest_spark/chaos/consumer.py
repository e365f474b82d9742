"""The outbox's consumer for a chaos run: LISTEN on the relay's channel, count by event id.

The sandbox relay delivers the ids it publishes with NOTIFY on
``spark_outbox`` (housekeeping.py). This consumer LISTENs on PostgreSQL
directly (LISTEN needs a session; PgBouncer's transaction pooling has none)
for a bounded time, until the run marks ``consumer_stop``, and writes every
delivery it heard, so the reconciliation can say which event reached it
zero, one or several times. It never writes to the database.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

CHANNEL = "spark_outbox"
EVENTS_FILE = "events.json"
STOP_MARK = "consumer_stop"
_PUBLISHED = "SELECT id FROM outbox WHERE id > %s AND published_at IS NOT NULL ORDER BY id"
_STUCK = (
    "SELECT count(*) FROM outbox WHERE id > %s AND published_at IS NULL"
    " AND created_at < now() - interval '5 seconds'"
)


def listen(
    dsn: str, run_dir: Path, max_s: float, stop: Any, *, poll_s: float = 0.2
) -> dict[str, Any]:
    """Listen until ``stop()`` is true or max_s passed; write and return what was heard."""
    import psycopg

    heard: Counter[int] = Counter()
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        conn.execute("SET statement_timeout = '10s'")
        conn.execute(f"LISTEN {CHANNEL}")
        first_id = int(conn.execute("SELECT COALESCE(max(id), 0) FROM outbox").fetchone()[0])  # type: ignore[index]
        end = time.monotonic() + max_s
        while time.monotonic() < end and not stop():
            for note in conn.notifies(timeout=poll_s, stop_after=None):
                heard.update(int(x) for x in note.payload.split(",") if x)
        # every event published before this query committed its NOTIFY before it: those
        # are queued for this session and drained below
        published = [int(r[0]) for r in conn.execute(_PUBLISHED, (first_id,)).fetchall()]
        stuck = int(conn.execute(_STUCK, (first_id,)).fetchone()[0])  # type: ignore[index]
        for note in conn.notifies(timeout=1.0):
            heard.update(int(x) for x in note.payload.split(",") if x)
    record = {
        "after_id": first_id,
        "published": published,
        "unpublished_older_than_5s": stuck,
        "deliveries": {str(k): v for k, v in sorted(heard.items())},
    }
    (run_dir / EVENTS_FILE).write_text(json.dumps(record))
    return {
        "after_id": first_id,
        "events_published": len(published),
        "events_heard": len(heard),
        "deliveries": sum(heard.values()),
    }


def load(run_dir: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads((run_dir / EVENTS_FILE).read_text()))
    except FileNotFoundError:
        return None
