-- Orders and positions.
-- orders.id is an int4 column fed by an explicitly created BIGINT sequence
-- (a common real-world shape): the column, not the sequence, runs out first,
-- which is what a sequence-headroom check must measure.

CREATE SEQUENCE orders_id_seq AS bigint;

CREATE TABLE orders (
    id               integer       PRIMARY KEY DEFAULT nextval('orders_id_seq'),
    account_id       text          NOT NULL REFERENCES accounts (id),
    symbol           text          NOT NULL REFERENCES instruments (symbol),
    side             text          NOT NULL CHECK (side IN ('buy', 'sell')),
    price            numeric(18,8) NOT NULL CHECK (price > 0),
    quantity         numeric(18,8) NOT NULL CHECK (quantity > 0),
    status           text          NOT NULL DEFAULT 'accepted'
                                   CHECK (status IN ('accepted', 'filled', 'cancelled')),
    idempotency_key  text,
    created_at       timestamptz   NOT NULL DEFAULT now()
);

ALTER SEQUENCE orders_id_seq OWNED BY orders.id;

CREATE INDEX orders_account_created_idx ON orders (account_id, created_at);
CREATE INDEX orders_idempotency_key_idx ON orders (idempotency_key);

CREATE TABLE positions (
    id          bigint        GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id  text          NOT NULL REFERENCES accounts (id),
    symbol      text          NOT NULL REFERENCES instruments (symbol),
    quantity    numeric(18,8) NOT NULL,
    avg_price   numeric(18,8) NOT NULL,
    status      text          NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    opened_at   timestamptz   NOT NULL DEFAULT now(),
    updated_at  timestamptz   NOT NULL DEFAULT now(),
    closed_at   timestamptz
);

-- At most one open position per account and symbol; closed ones are history.
CREATE UNIQUE INDEX positions_one_open_uq ON positions (account_id, symbol)
    WHERE status = 'open';
