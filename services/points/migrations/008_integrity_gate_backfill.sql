-- A running deployment that takes on the integrity gate (plumbing migration 004) already knows
-- its camps: the gate starts from them, or every check-in of a running camp would wait for a
-- camp event already taken in. Events this service held for their camp before the gate existed
-- are handed to the gate, which judges them like any other.
INSERT INTO gate_camps (camp_id, starts_on, timezone, occurred_at)
SELECT camp_id, starts_on, timezone, occurred_at FROM camps
ON CONFLICT (camp_id) DO NOTHING;

INSERT INTO gate_held (topic, event_id, camp_id, submission_id, payload)
SELECT topic, event_id, camp_id,
       CASE WHEN topic = 'camp.shares' THEN payload::jsonb ->> 'submission_id' END, payload
FROM held ORDER BY seq
ON CONFLICT DO NOTHING;
DROP TABLE held;  -- the gate holds what waits for a camp, for every service
