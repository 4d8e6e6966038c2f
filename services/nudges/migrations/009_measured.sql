-- Reminders and homework nudges are measured 24 hours after their decision (was a check-in
-- within those 24 hours?), reminded students against the held-out ones.
ALTER TABLE nudges ADD COLUMN measured boolean NOT NULL DEFAULT false;
CREATE INDEX nudges_to_measure ON nudges (decided_at)
    WHERE NOT measured AND kind IN ('reminder', 'homework') AND (status = 'sent' OR reason = 'holdout');
