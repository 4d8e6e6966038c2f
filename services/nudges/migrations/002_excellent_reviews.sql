-- Excellent reviews, so that praise is proposed even for a review that arrived before its
-- camp's definition (the handler proposes it when the camp arrives).
CREATE TABLE excellent_reviews (
    camp_id text NOT NULL,
    student_id text NOT NULL,
    submission_id text NOT NULL,
    score integer NOT NULL,
    occurred_at timestamptz NOT NULL,
    PRIMARY KEY (camp_id, submission_id)
);
