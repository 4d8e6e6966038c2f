-- What the integrity gate (shared/gate.py) needs to judge check-ins, shares and reviews, and
-- what waits until it can: every service keeps its own copy, in its own schema.
CREATE TABLE gate_camps (
    camp_id text PRIMARY KEY,
    starts_on date NOT NULL,
    timezone text NOT NULL,
    occurred_at timestamptz NOT NULL
);

CREATE TABLE gate_submissions (
    camp_id text NOT NULL,
    submission_id text NOT NULL,
    student_id text NOT NULL,
    PRIMARY KEY (camp_id, submission_id)
);

-- submission_id NULL: waits for the camp; else for that submission of the camp.
CREATE TABLE gate_held (
    topic text NOT NULL,
    event_id text NOT NULL,
    camp_id text NOT NULL,
    submission_id text,
    payload text NOT NULL,
    seq bigserial NOT NULL,
    PRIMARY KEY (topic, event_id)
);
CREATE INDEX gate_held_waits ON gate_held (camp_id, submission_id, seq);
CREATE INDEX gate_held_seq ON gate_held (seq);
