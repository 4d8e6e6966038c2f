-- A running deployment that takes on the integrity gate (plumbing migration 004) already knows
-- its camps and works: the gate starts from them, or the check-ins of a running camp and the
-- reviews of works already handed in would wait for events already taken in.
INSERT INTO gate_camps (camp_id, starts_on, timezone, occurred_at)
SELECT camp_id, starts_on, timezone, occurred_at FROM camps
ON CONFLICT (camp_id) DO NOTHING;

INSERT INTO gate_submissions (camp_id, submission_id, student_id)
SELECT camp_id, submission_id, student_id FROM works
ON CONFLICT DO NOTHING;
