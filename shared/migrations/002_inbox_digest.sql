-- A fingerprint of each event's content, so that a different event reusing a known event_id
-- (a producer bug) is told apart from a redelivery: the first is dead-lettered, not ignored.
ALTER TABLE inbox ADD COLUMN digest bytea;
