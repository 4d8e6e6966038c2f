-- Inbox rows older than the retention are deleted in chunks (shared.retention). A BRIN index
-- finds them: rows arrive in time order, so a range per block is enough, and it costs the
-- batch's inbox insert next to nothing (a B-tree on processed_at would be one more index
-- entry per event).
CREATE INDEX inbox_processed_at ON inbox USING brin (processed_at);
