"""A periodic background job that can be started and stopped at run time.

Each step runs under a deadline; a failing step is logged (without flooding)
and retried next period, so a database outage never kills the job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class PeriodicJob:
    """Runs ``step`` every ``interval_s`` until stopped."""

    def __init__(
        self,
        name: str,
        interval_s: float,
        step: Callable[[], Awaitable[None]],
        step_timeout_s: float = 10.0,
    ) -> None:
        self.name = name
        self.interval_s = interval_s
        self.step = step
        self.step_timeout_s = step_timeout_s
        self.failures = 0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Whether the job's loop is alive."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the loop (no-op when already running)."""
        if self.running:
            return
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name=f"spark-job-{self.name}")

    async def stop(self, timeout: float = 5.0) -> None:
        """Ask the loop to end, cancelling it if it does not within ``timeout``."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run_once(self) -> None:
        """One step now, outside the loop, under the same deadline."""
        async with asyncio.timeout(self.step_timeout_s):
            await self.step()

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.run_once()
                if self.failures:
                    log.info("job %s recovered after %d failures", self.name, self.failures)
                self.failures = 0
            except Exception as exc:
                self.failures += 1
                if self.failures == 1 or self.failures % 100 == 0:
                    log.warning(
                        "job %s step failed (%d): %s %s",
                        self.name,
                        self.failures,
                        type(exc).__name__,
                        exc,
                    )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval_s)
