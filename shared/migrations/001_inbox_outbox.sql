-- The inbox: every input event a service has taken into account, by topic and event_id.
-- Inserting here in the same transaction as the effects is what makes redelivery harmless.
CREATE TABLE inbox (
    topic text NOT NULL,
    event_id text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, event_id)
);

-- The outbox: output events written with the state change, published later by the relay.
CREATE TABLE outbox (
    id bigserial PRIMARY KEY,
    topic text NOT NULL,
    key text,
    event_id text NOT NULL,
    payload text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
