-- When each redemption was requested: a streak freeze bought counts from that camp day on.
ALTER TABLE redemptions ADD COLUMN requested_at timestamptz;
CREATE INDEX redemptions_student ON redemptions (camp_id, student_id) WHERE status = 'accepted';
