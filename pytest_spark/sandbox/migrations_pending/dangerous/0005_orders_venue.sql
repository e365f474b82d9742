-- Dangerous: both statements take long exclusive locks on a big table.
ALTER TABLE orders ADD COLUMN venue text NOT NULL;
CREATE INDEX orders_symbol_created_idx ON orders (symbol, created_at);
