-- Accounts and tradable instruments.
-- Text keys keep the database's default (deterministic) collation so that case
-- or accent variants of a symbol are distinct values and unique indexes hold.

CREATE TABLE accounts (
    id          text        PRIMARY KEY,
    name        text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE instruments (
    symbol      text          PRIMARY KEY,
    tick_size   numeric(18,8) NOT NULL CHECK (tick_size > 0),
    lot_size    numeric(18,8) NOT NULL CHECK (lot_size > 0),
    ref_price   numeric(18,8) NOT NULL CHECK (ref_price > 0),
    created_at  timestamptz   NOT NULL DEFAULT now()
);
