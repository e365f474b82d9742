"""Database access: a small async pool that is safe behind PgBouncer transaction pooling.

No server-side prepared statements (prepare_threshold=None), no session
state: timeouts are set per transaction with SET LOCAL. Every operation is
bounded by a client-side deadline as well, so a hung pool or server cannot
hang a request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from .settings import AppSettings


class Database:
    """Pool plus the one way the app runs SQL: inside a bounded transaction."""

    def __init__(self, settings: AppSettings) -> None:
        self.settings = settings
        self.application_name = f"spark-api:{settings.instance}"
        self.pool = AsyncConnectionPool(
            settings.dsn,
            kwargs=self.connect_kwargs(),
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            timeout=settings.db_operation_timeout_s,
            open=False,
            name=f"spark-{settings.instance}",
            reconnect_timeout=60.0,
        )
        self._set_timeout = f"SET LOCAL statement_timeout = {int(settings.db_statement_timeout_ms)}"

    def connect_kwargs(self) -> dict[str, object]:
        """Connection parameters shared by the pool and ad-hoc connections."""
        return {
            "prepare_threshold": None,
            "autocommit": True,
            "connect_timeout": self.settings.db_connect_timeout_s,
            "application_name": self.application_name,
        }

    async def open(self) -> None:
        """Start the pool without waiting: the app serves /metrics even with the DB down."""
        await self.pool.open(wait=False)

    async def close(self) -> None:
        """Close every pooled connection, bounded."""
        await self.pool.close(timeout=5.0)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside one transaction, all of it within the operation deadline."""
        async with asyncio.timeout(self.settings.db_operation_timeout_s):
            async with self.pool.connection() as conn, conn.transaction():
                await conn.execute(self._set_timeout)
                yield conn

    async def connect_unpooled(self) -> AsyncConnection:
        """A connection outside the pool (used only by the leak-connections fault)."""
        return await AsyncConnection.connect(self.settings.dsn, **self.connect_kwargs())  # type: ignore[arg-type]
