-- Fill in the length of the camps the gate knew before it kept it (plumbing migration 006),
-- so that every check-in batch takes its camps from the gate's read.
UPDATE gate_camps g SET days = c.days FROM camps c WHERE c.camp_id = g.camp_id AND g.days IS NULL;
