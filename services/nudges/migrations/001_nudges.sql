-- What the nudges service knows of camps and students (latest by occurred_at).
CREATE TABLE camps (
    camp_id text PRIMARY KEY,
    title text NOT NULL,
    starts_on date NOT NULL,
    days integer NOT NULL,
    timezone text NOT NULL,
    cohort_time text NOT NULL,
    occurred_at timestamptz NOT NULL
);

CREATE TABLE enrollments (
    camp_id text NOT NULL,
    student_id text NOT NULL,
    display_name text NOT NULL,
    occurred_at timestamptz NOT NULL,
    PRIMARY KEY (camp_id, student_id)
);

CREATE TABLE preferences (
    camp_id text NOT NULL,
    student_id text NOT NULL,
    reminder_time text,
    opt_out boolean NOT NULL,
    occurred_at timestamptz NOT NULL,
    PRIMARY KEY (camp_id, student_id)
);

CREATE TABLE checkins (
    camp_id text NOT NULL,
    student_id text NOT NULL,
    day integer NOT NULL,
    occurred_at timestamptz NOT NULL,
    PRIMARY KEY (camp_id, student_id, day)
);

CREATE TABLE works (
    camp_id text NOT NULL,
    student_id text NOT NULL,
    submission_id text NOT NULL,
    title text NOT NULL,
    occurred_at timestamptz NOT NULL,
    PRIMARY KEY (camp_id, submission_id)
);
CREATE INDEX works_student ON works (camp_id, student_id, occurred_at DESC);

-- Each student's segment as last computed, for the camp day it was computed for.
CREATE TABLE segments (
    camp_id text NOT NULL,
    student_id text NOT NULL,
    day integer NOT NULL,
    segment text NOT NULL,
    PRIMARY KEY (camp_id, student_id)
);

-- Camp days whose start has been processed (segments recomputed, reminders scheduled).
CREATE TABLE rollovers (
    camp_id text NOT NULL,
    day integer NOT NULL,
    done_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (camp_id, day)
);

-- Every nudge that came due or will: claimed by one replica at a time (FOR UPDATE SKIP
-- LOCKED), then marked sent or skipped (with the reason) in the same transaction as its
-- outbox row. `cause` makes each nudge unique: the day of a reminder, the submission of a
-- praise, the lapse of a welcome-back.
CREATE TABLE nudges (
    id bigserial PRIMARY KEY,
    kind text NOT NULL,
    camp_id text NOT NULL,
    student_id text NOT NULL,
    day integer NOT NULL,
    cause text NOT NULL,
    due_at timestamptz NOT NULL,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'skipped')),
    reason text,
    segment text,
    template_id text,
    context jsonb NOT NULL DEFAULT '{}',
    decided_at timestamptz,
    UNIQUE (kind, camp_id, student_id, cause)
);
CREATE INDEX nudges_pending ON nudges (due_at) WHERE status = 'pending';
CREATE INDEX nudges_student ON nudges (camp_id, student_id, kind, day);

-- Lapses already welcomed back (one welcome-back and one gift per lapse).
CREATE TABLE lapses (
    camp_id text NOT NULL,
    student_id text NOT NULL,
    lapse text NOT NULL,
    PRIMARY KEY (camp_id, student_id, lapse)
);
