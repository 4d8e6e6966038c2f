-- Leaderboards rank by points earned, which redemptions do not lower: each balance row keeps
-- its student's earnings beside the balance.
ALTER TABLE balances ADD COLUMN earned integer NOT NULL DEFAULT 0;
UPDATE balances b SET earned = coalesce(
    (SELECT sum(l.delta) FROM ledger l
     WHERE l.camp_id = b.camp_id AND l.student_id = b.student_id AND l.delta > 0), 0);
DROP INDEX balances_leaderboard;
CREATE INDEX balances_earned ON balances (camp_id, earned DESC);

-- A week's board sums the earnings of the week's days.
CREATE INDEX ledger_camp_earnings ON ledger (camp_id, occurred_at) WHERE delta > 0;

-- Display names, for boards that show them (the latest enrollment of a student wins).
CREATE TABLE students (
    camp_id text NOT NULL,
    student_id text NOT NULL,
    display_name text NOT NULL,
    enrolled_at timestamptz NOT NULL,
    PRIMARY KEY (camp_id, student_id)
);
