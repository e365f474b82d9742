"""The instrument catalogue (symbol, tick and lot grid), cached from the database."""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal

from .db import Database
from .money import scale_of


@dataclass(frozen=True)
class Instrument:
    """One tradable instrument and its price/quantity grid."""

    symbol: str
    tick_size: Decimal
    lot_size: Decimal
    ref_price: Decimal

    @property
    def price_scale(self) -> int:
        """Decimals a price on this instrument's grid is written with."""
        return scale_of(self.tick_size)

    @property
    def quantity_scale(self) -> int:
        """Decimals a quantity on this instrument's lot grid is written with."""
        return scale_of(self.lot_size)


class InstrumentCache:
    """Instruments loaded from the DB, refreshed at most every ``max_age_s``."""

    def __init__(self, db: Database, max_age_s: float = 30.0) -> None:
        self.db = db
        self.max_age_s = max_age_s
        self._by_symbol: dict[str, Instrument] = {}
        self._loaded_at = 0.0

    @property
    def loaded(self) -> bool:
        """Whether the catalogue was read at least once."""
        return bool(self._by_symbol)

    def all(self) -> list[Instrument]:
        """The cached instruments in symbol order (may be empty before the first load)."""
        return [self._by_symbol[s] for s in sorted(self._by_symbol)]

    async def load(self) -> list[Instrument]:
        """Read the catalogue from the DB now."""
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "SELECT symbol, tick_size, lot_size, ref_price FROM instruments ORDER BY symbol"
            )
            rows = await cur.fetchall()
        self._by_symbol = {r[0]: Instrument(*r) for r in rows}
        self._loaded_at = time.monotonic()
        return self.all()

    async def get(self, symbol: str) -> Instrument | None:
        """One instrument, reloading the catalogue when it is missing or old."""
        if not self._by_symbol or time.monotonic() - self._loaded_at > self.max_age_s:
            await self.load()
        return self._by_symbol.get(symbol)
