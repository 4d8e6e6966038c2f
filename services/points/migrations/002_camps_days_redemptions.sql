-- What the points rules need besides the ledger.
ALTER TABLE ledger ADD COLUMN camp_day integer;
CREATE INDEX ledger_share_day ON ledger (camp_id, student_id, camp_day) WHERE rule_id = 'share';

-- The latest definition of each camp (an older one arriving late is ignored).
CREATE TABLE camps (
    camp_id text PRIMARY KEY,
    starts_on date NOT NULL,
    days integer NOT NULL,
    timezone text NOT NULL,
    occurred_at timestamptz NOT NULL
);

-- Checked-in camp days: the facts streaks are computed from.
CREATE TABLE checkin_days (
    camp_id text NOT NULL,
    student_id text NOT NULL,
    day integer NOT NULL,
    event_id text NOT NULL,
    PRIMARY KEY (camp_id, student_id, day)
);

-- Events that need their camp's definition (check-ins, shares) wait here until it arrives.
CREATE TABLE held (
    topic text NOT NULL,
    event_id text NOT NULL,
    camp_id text NOT NULL,
    payload text NOT NULL,
    held_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, event_id)
);
CREATE INDEX held_camp ON held (camp_id);

-- Each redemption request is decided once.
CREATE TABLE redemptions (
    camp_id text NOT NULL,
    request_id text NOT NULL,
    student_id text NOT NULL,
    item_id text NOT NULL,
    cost integer NOT NULL,
    status text NOT NULL CHECK (status IN ('accepted', 'rejected')),
    reason text NOT NULL,
    event_id text NOT NULL,
    decided_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (camp_id, request_id)
);
