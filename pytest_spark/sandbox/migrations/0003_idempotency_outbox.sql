-- Idempotency keys and the transactional outbox.
-- The UNIQUE constraint on idempotency_keys.key is what makes concurrent
-- duplicates impossible (INSERT ... ON CONFLICT relies on it).

CREATE TABLE idempotency_keys (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key              text        NOT NULL,
    request_hash     text        NOT NULL,
    state            text        NOT NULL DEFAULT 'in_flight'
                                 CHECK (state IN ('in_flight', 'done')),
    response_status  integer,
    response_body    jsonb,
    order_id         integer,
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    CONSTRAINT idempotency_keys_key_uq UNIQUE (key)
);

CREATE INDEX idempotency_keys_expires_at_idx ON idempotency_keys (expires_at);

CREATE TABLE outbox (
    id            bigserial   PRIMARY KEY,
    aggregate     text        NOT NULL,
    aggregate_id  text        NOT NULL,
    event_type    text        NOT NULL,
    payload       jsonb       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    published_at  timestamptz
);

-- The relay and the lag gauges only ever look at unpublished rows.
CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL;
