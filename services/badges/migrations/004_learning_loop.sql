-- The learning loop: each camp's homework schedule (with what judging on-time needs), the first
-- time each student handed in each assignment, and participation in the Q&A corner.
ALTER TABLE camps ADD COLUMN starts_on date;
ALTER TABLE camps ADD COLUMN timezone text;
ALTER TABLE camps ADD COLUMN assignments jsonb NOT NULL DEFAULT '[]';

CREATE TABLE handed_in (
    camp_id text NOT NULL,
    student_id text NOT NULL,
    assignment_id text NOT NULL,
    first_at timestamptz NOT NULL,
    PRIMARY KEY (camp_id, student_id, assignment_id)
);

-- Distinct questions asked, and answers given to other students' questions, per student.
CREATE TABLE questions_asked (
    camp_id text NOT NULL,
    student_id text NOT NULL,
    question_id text NOT NULL,
    PRIMARY KEY (camp_id, student_id, question_id)
);
CREATE TABLE answers_given (
    camp_id text NOT NULL,
    student_id text NOT NULL,  -- the answerer
    question_id text NOT NULL,
    PRIMARY KEY (camp_id, student_id, question_id)
);
