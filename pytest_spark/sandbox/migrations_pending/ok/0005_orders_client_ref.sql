-- Safe: a nullable column without a default is a catalog-only change.
ALTER TABLE orders ADD COLUMN client_order_ref text;
