-- The learning loop: each camp's homework schedule, what each work is (its assignment and
-- tier) and when it was first reviewed, and the questions with their first staff answer.
ALTER TABLE camps ADD COLUMN assignments jsonb NOT NULL DEFAULT '[]';

ALTER TABLE works ADD COLUMN assignment_id text;
ALTER TABLE works ADD COLUMN tier text;
ALTER TABLE works ADD COLUMN first_review_at timestamptz;
-- Works taken in before this migration have no tier: whether they were reviewed was not kept
-- (only excellent reviews were), so they stay out of the teachers' queue.
UPDATE works w SET first_review_at = r.at
FROM (SELECT camp_id, submission_id, min(occurred_at) AS at FROM excellent_reviews
      GROUP BY camp_id, submission_id) r
WHERE w.camp_id = r.camp_id AND w.submission_id = r.submission_id;
-- The teachers' queue: works of a camp not reviewed yet, oldest first.
CREATE INDEX works_waiting ON works (camp_id, occurred_at)
    WHERE first_review_at IS NULL AND tier IS NOT NULL;
CREATE INDEX works_assignment ON works (camp_id, student_id, assignment_id);

-- A question and its first answer by a teacher or assistant. Either may arrive first: a row
-- made by an answer has no category or asked_at until its question comes.
CREATE TABLE questions (
    camp_id text NOT NULL,
    question_id text NOT NULL,
    student_id text NOT NULL,
    category text,
    asked_at timestamptz,
    first_answer_at timestamptz,
    PRIMARY KEY (camp_id, question_id)
);
CREATE INDEX questions_waiting ON questions (camp_id, asked_at)
    WHERE first_answer_at IS NULL AND asked_at IS NOT NULL;

-- The teachers' robot posts, one per camp and period (a replica that wins the row posts).
CREATE TABLE teacher_digests (
    camp_id text NOT NULL,
    period bigint NOT NULL,
    posted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (camp_id, period)
);
