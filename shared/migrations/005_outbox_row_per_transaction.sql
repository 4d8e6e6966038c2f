-- The outbox holds a transaction's output events as one row of arrays in step (topic, key and
-- payload of each event, in order), not a row per event. A row inserted, deleted and vacuumed
-- for every event cost PostgreSQL about 15 us of each (bench/README.md). Rows hold at most
-- shared.outbox.ROW_EVENTS events and ROW_BYTES of payload; the relay claims whole rows.
CREATE TABLE outbox_events (
    id bigserial PRIMARY KEY,
    topics text[] NOT NULL,
    keys text[] NOT NULL,
    payloads text[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT outbox_arrays_in_step CHECK (cardinality(payloads) > 0
        AND cardinality(topics) = cardinality(payloads)
        AND cardinality(keys) = cardinality(payloads))
);
-- Events not yet published when the service was upgraded leave first, in their order.
INSERT INTO outbox_events (topics, keys, payloads, created_at)
    SELECT ARRAY[topic], ARRAY[key], ARRAY[payload], created_at FROM outbox ORDER BY id;
DROP TABLE outbox;
ALTER TABLE outbox_events RENAME TO outbox;
ALTER INDEX outbox_events_pkey RENAME TO outbox_pkey;
ALTER SEQUENCE outbox_events_id_seq RENAME TO outbox_id_seq;
