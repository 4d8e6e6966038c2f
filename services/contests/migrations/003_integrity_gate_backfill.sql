-- A running deployment that takes on the integrity gate (plumbing migration 004) already knows
-- its camps and contest entries: the gate starts from them, or the reviews of entries already
-- handed in would wait for events already taken in.
INSERT INTO gate_camps (camp_id, starts_on, timezone, occurred_at)
SELECT camp_id, starts_on, timezone, occurred_at FROM camps
ON CONFLICT (camp_id) DO NOTHING;

INSERT INTO gate_submissions (camp_id, submission_id, student_id)
SELECT camp_id, submission_id, student_id FROM entries
ON CONFLICT DO NOTHING;
