-- Held events leave a chunk at a time once their camp is known, in the order they were held:
-- a sequence to order them by, and an index that yields a camp's oldest without a sort.
ALTER TABLE held ADD COLUMN seq bigserial;
CREATE INDEX held_camp_seq ON held (camp_id, seq);
DROP INDEX held_camp;
