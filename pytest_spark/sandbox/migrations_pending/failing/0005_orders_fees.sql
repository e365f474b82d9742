-- Fails: the backfill reads a column that no migration ever created.
ALTER TABLE orders ADD COLUMN fee numeric(18,8);
UPDATE orders SET fee = price * quantity * commission_rate;
