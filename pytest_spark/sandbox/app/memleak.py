"""The memory-leak fault: resident memory grows at a steady rate, up to a bound.

Each step allocates a block and writes every page of it (so it is resident,
not just reserved) and keeps it; stopping drops the blocks. Bounded so a
forgotten fault cannot take the machine down.
"""

from __future__ import annotations

import asyncio
import contextlib

DEFAULT_RATE_BYTES_S = 4 * 1024 * 1024
MAX_BYTES = 256 * 1024 * 1024
STEP_S = 0.25
PAGE = 4096


class MemoryLeak:
    """Grows resident memory by ``rate`` bytes per second until ``MAX_BYTES``."""

    def __init__(self) -> None:
        self.blocks: list[bytearray] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def held(self) -> int:
        return sum(len(b) for b in self.blocks)

    def start(self, rate: float = DEFAULT_RATE_BYTES_S) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._grow(rate))

    async def _grow(self, rate: float) -> None:
        size = max(PAGE, int(rate * STEP_S))
        while self.held + size <= MAX_BYTES:
            block = bytearray(size)
            block[::PAGE] = b"\x01" * len(block[::PAGE])  # touch every page: really resident
            self.blocks.append(block)
            await asyncio.sleep(STEP_S)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.blocks.clear()
