-- What the contests service knows, and the weeks it settled.
CREATE TABLE camps (
    camp_id text PRIMARY KEY,
    starts_on date NOT NULL,
    days integer NOT NULL,
    timezone text NOT NULL,
    occurred_at timestamptz NOT NULL
);

CREATE TABLE enrollments (
    camp_id text NOT NULL,
    student_id text NOT NULL,
    PRIMARY KEY (camp_id, student_id)
);

-- Submissions entered in the contest; the week follows from submitted_at and the camp.
CREATE TABLE entries (
    camp_id text NOT NULL,
    submission_id text NOT NULL,
    student_id text NOT NULL,
    submitted_at timestamptz NOT NULL,
    PRIMARY KEY (camp_id, submission_id)
);

-- The best review score of every reviewed submission (a review can precede its entry).
CREATE TABLE scores (
    camp_id text NOT NULL,
    submission_id text NOT NULL,
    best_score integer NOT NULL,
    PRIMARY KEY (camp_id, submission_id)
);

-- One row per (voter, submission): the earliest vote cast. `outcome` is set when the week is
-- settled (counted, or the reason it did not count).
CREATE TABLE votes (
    camp_id text NOT NULL,
    voter_id text NOT NULL,
    submission_id text NOT NULL,
    occurred_at timestamptz NOT NULL,
    outcome text,
    PRIMARY KEY (camp_id, voter_id, submission_id)
);
CREATE INDEX votes_submission ON votes (camp_id, submission_id);

-- Settled weeks: the row is inserted in the transaction that publishes the result, so a week
-- is settled once whatever the number of replicas, and a crash mid-close settles nothing.
CREATE TABLE weeks (
    camp_id text NOT NULL,
    week integer NOT NULL,
    closed_at timestamptz NOT NULL,
    ranking jsonb NOT NULL,
    PRIMARY KEY (camp_id, week)
);
