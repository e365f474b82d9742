"""Simulated market data: a bounded random walk on each instrument's tick grid.

Prices are integers counted in ticks, so every published value is exactly on
the grid; they only become Decimal (never float) when formatted.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from decimal import Decimal

from .instruments import Instrument

SPREAD_TICKS = (1, 2, 3)
MAX_SIZE_LOTS = 50
# The walk stays within this fraction of the reference price.
BAND = Decimal("0.05")


@dataclass(frozen=True)
class Quote:
    """Top of book for one instrument at one tick."""

    instrument: Instrument
    bid: Decimal
    ask: Decimal
    bid_size: Decimal
    ask_size: Decimal
    seq: int
    ts: float


class _Walk:
    """Random walk of one instrument, in ticks, reflected at the band edges."""

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.rng = random.Random(instrument.symbol)
        ref_ticks = int(instrument.ref_price / instrument.tick_size)
        band = max(int(ref_ticks * BAND), 10)
        self.low = max(1, ref_ticks - band)
        self.high = ref_ticks + band
        self.mid = ref_ticks

    def step(self, seq: int, now: float) -> Quote:
        self.mid += self.rng.choice((-2, -1, 0, 0, 1, 2))
        self.mid = min(max(self.mid, self.low), self.high)
        tick = self.instrument.tick_size
        lot = self.instrument.lot_size
        bid = self.mid * tick
        ask = (self.mid + self.rng.choice(SPREAD_TICKS)) * tick
        return Quote(
            instrument=self.instrument,
            bid=bid,
            ask=ask,
            bid_size=self.rng.randint(1, MAX_SIZE_LOTS) * lot,
            ask_size=self.rng.randint(1, MAX_SIZE_LOTS) * lot,
            seq=seq,
            ts=now,
        )


class PriceTicker:
    """Latest quote per symbol plus a wake-up for stream subscribers."""

    def __init__(self) -> None:
        self._walks: dict[str, _Walk] = {}
        self.quotes: dict[str, Quote] = {}
        self.last_update: dict[str, float] = {}
        self.seq = 0
        self._tick = asyncio.Event()

    @property
    def ready(self) -> bool:
        """Whether instruments are known and at least one tick happened."""
        return bool(self.quotes)

    def set_instruments(self, instruments: list[Instrument]) -> None:
        """Start walks for new instruments, keep existing ones."""
        for instrument in instruments:
            if instrument.symbol not in self._walks:
                self._walks[instrument.symbol] = _Walk(instrument)

    def step(self) -> None:
        """Advance every walk by one tick and wake subscribers."""
        if not self._walks:
            return
        self.seq += 1
        now = time.time()
        for symbol, walk in self._walks.items():
            self.quotes[symbol] = walk.step(self.seq, now)
            self.last_update[symbol] = now
        woken, self._tick = self._tick, asyncio.Event()
        woken.set()

    async def wait_next(self, timeout: float) -> bool:
        """Wait for the next tick; False on timeout."""
        event = self._tick
        try:
            async with asyncio.timeout(timeout):
                await event.wait()
        except TimeoutError:
            return False
        return True

    def ages(self, now: float | None = None) -> dict[str, float]:
        """Seconds since each symbol's last published update."""
        now = time.time() if now is None else now
        return {s: max(0.0, now - t) for s, t in self.last_update.items()}
