-- The outbox's arrays are kept as written, not compressed. A row lives only until the relay
-- claims it, milliseconds later, and pglz compressing a transaction's events cost PostgreSQL
-- 4.5 us of CPU per event against 2.0-2.5 stored as they are; the price is WAL, some 310
-- bytes per event against 100 (bench/README.md, Cutting a check-in's cost).
ALTER TABLE outbox ALTER COLUMN topics SET STORAGE EXTERNAL;
ALTER TABLE outbox ALTER COLUMN keys SET STORAGE EXTERNAL;
ALTER TABLE outbox ALTER COLUMN payloads SET STORAGE EXTERNAL;
