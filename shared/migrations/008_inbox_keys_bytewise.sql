-- The inbox's keys compare byte by byte ("C"), not by the database's language rules: every
-- event taken in inserts a random event_id into the primary key, some twenty comparisons
-- each, and nothing reads the inbox in order. Equality is the same under both; a key compared
-- with another table's column takes this column's collation (no conflict with the default).
-- 8.7 -> 8.0 us of PostgreSQL per event under C.UTF-8 (bench/README.md); a language's
-- collation (en_US.UTF-8) costs more per comparison. The primary key is rebuilt here.
ALTER TABLE inbox
    ALTER COLUMN topic TYPE text COLLATE "C",
    ALTER COLUMN event_id TYPE text COLLATE "C";
