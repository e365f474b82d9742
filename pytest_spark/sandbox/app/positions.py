"""Positions: net quantity and average price per account and symbol.

The one-open-position rule is the partial unique index positions_one_open_uq;
this code never relies on ON CONFLICT inference, so it keeps working (and the
red-team check can see duplicates) when the index is dropped or altered.
"""

from __future__ import annotations

from decimal import Decimal

from psycopg import AsyncConnection
from psycopg.errors import UniqueViolation

AVG_PRICE_QUANTUM = Decimal("0.00000001")  # numeric(18,8)

_SELECT_OPEN = """
SELECT id, quantity, avg_price FROM positions
WHERE account_id = %s AND symbol = %s AND status = 'open'
ORDER BY id LIMIT 1 FOR UPDATE
"""
_INSERT_OPEN = """
INSERT INTO positions (account_id, symbol, quantity, avg_price, status)
VALUES (%s, %s, %s, %s, 'open')
"""
_UPDATE = """
UPDATE positions SET quantity = %(qty)s, avg_price = %(avg)s, updated_at = now(),
    status = CASE WHEN %(qty)s = 0 THEN 'closed' ELSE 'open' END,
    closed_at = CASE WHEN %(qty)s = 0 THEN now() END
WHERE id = %(id)s
"""


def combine(
    quantity: Decimal, avg_price: Decimal, delta: Decimal, price: Decimal
) -> tuple[Decimal, Decimal]:
    """New (signed quantity, average price) after a fill of ``delta`` at ``price``."""
    new_quantity = quantity + delta
    if new_quantity == 0:
        return Decimal(0), avg_price
    if quantity == 0 or (quantity > 0) == (delta > 0):
        total = abs(quantity) + abs(delta)
        average = (abs(quantity) * avg_price + abs(delta) * price) / total
    elif (new_quantity > 0) == (quantity > 0):
        average = avg_price  # reduced, same side: cost basis unchanged
    else:
        average = price  # flipped side: the remainder opened at this price
    return new_quantity, average.quantize(AVG_PRICE_QUANTUM)


async def apply_fill(
    conn: AsyncConnection, account: str, symbol: str, delta: Decimal, price: Decimal
) -> None:
    """Open or update the account's open position, inside the caller's transaction."""
    cur = await conn.execute(_SELECT_OPEN, (account, symbol))
    row = await cur.fetchone()
    if row is None:
        try:
            async with conn.transaction():  # savepoint: a racing insert may win
                await conn.execute(_INSERT_OPEN, (account, symbol, delta, price))
            return
        except UniqueViolation:
            cur = await conn.execute(_SELECT_OPEN, (account, symbol))
            row = await cur.fetchone()
            if row is None:  # pragma: no cover - the winner closed it already
                raise
    position_id, quantity, avg_price = row
    new_quantity, average = combine(quantity, avg_price, delta, price)
    await conn.execute(_UPDATE, {"qty": new_quantity, "avg": average, "id": position_id})
