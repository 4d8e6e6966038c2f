-- An outbox row is written once, read once by the relay and deleted. Past about 2 kB (a batch
-- of a dozen events) PostgreSQL compressed its arrays (pglz) on insert and decompressed them
-- for the claim: stored out of line as they are, the ledger insert that writes points' events
-- costs 1-3 us less of PostgreSQL's CPU per event, for about 240 bytes more WAL per event
-- (bench/README.md).
ALTER TABLE outbox
    ALTER COLUMN topics SET STORAGE EXTERNAL,
    ALTER COLUMN keys SET STORAGE EXTERNAL,
    ALTER COLUMN payloads SET STORAGE EXTERNAL;
