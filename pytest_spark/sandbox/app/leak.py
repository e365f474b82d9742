"""The leak-connections fault: connections held idle in transaction, slowly growing.

Each leaked connection runs BEGIN and one query and then sits there, which
through PgBouncer in transaction mode pins a server connection for good:
exactly what the pgBouncer-leak check looks for. Bounded in count, stoppable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from psycopg import AsyncConnection

from .db import Database

log = logging.getLogger(__name__)


class ConnectionLeaker:
    """Opens up to ``limit`` connections, one per ``interval_s``, and holds them."""

    def __init__(self, db: Database, interval_s: float) -> None:
        self.db = db
        self.interval_s = interval_s
        self.limit = 0
        self.held: list[AsyncConnection] = []
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    @property
    def running(self) -> bool:
        """Whether the leak is active."""
        return self._task is not None and not self._task.done()

    def start(self, limit: int) -> None:
        """Begin leaking (no-op when already leaking, but the limit is updated)."""
        self.limit = max(0, limit)
        if self.running:
            return
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="spark-leak-connections")

    async def stop(self) -> None:
        """Stop leaking and give every held connection back (rolled back, closed)."""
        task, self._task = self._task, None
        self._stop.set()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        held, self.held = self.held, []
        for conn in held:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):
                    await conn.close()

    async def _run(self) -> None:
        while not self._stop.is_set():
            self.held = [c for c in self.held if not c.closed and not c.broken]
            if len(self.held) < self.limit:
                try:
                    self.held.append(await self._open_one())
                except Exception as exc:
                    log.info("leak-connections: could not open another connection: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval_s)

    async def _open_one(self) -> AsyncConnection:
        async with asyncio.timeout(self.db.settings.db_connect_timeout_s + 2.0):
            conn = await self.db.connect_unpooled()
            try:
                await conn.execute("BEGIN")
                await conn.execute("SELECT txid_current()")
            except BaseException:
                await conn.close()
                raise
        return conn
