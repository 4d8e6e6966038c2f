-- The ledger: one row per payment or deduction, with its cause. Never updated but for
-- balance_after, which is filled in the same transaction as the insert.
CREATE TABLE ledger (
    id bigserial PRIMARY KEY,
    camp_id text NOT NULL,
    student_id text NOT NULL,
    rule_id text NOT NULL,
    cause text NOT NULL,
    delta integer NOT NULL,
    balance_after integer,
    source_event_id text NOT NULL,
    rules_version text NOT NULL,
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (camp_id, student_id, rule_id, cause)
);
CREATE INDEX ledger_student ON ledger (student_id, camp_id, id);

CREATE TABLE balances (
    camp_id text NOT NULL,
    student_id text NOT NULL,
    balance integer NOT NULL CHECK (balance >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (camp_id, student_id)
);
CREATE INDEX balances_leaderboard ON balances (camp_id, balance DESC);
