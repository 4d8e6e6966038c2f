-- Facts the badges are computed from, and the badges awarded.
CREATE TABLE camps (
    camp_id text PRIMARY KEY,
    days integer NOT NULL,
    lessons integer NOT NULL,
    occurred_at timestamptz NOT NULL
);

CREATE TABLE checkin_days (
    camp_id text NOT NULL,
    student_id text NOT NULL,
    day integer NOT NULL,
    PRIMARY KEY (camp_id, student_id, day)
);

-- The best watched share of each lesson (progress can be reported many times).
CREATE TABLE lesson_progress (
    camp_id text NOT NULL,
    student_id text NOT NULL,
    lesson_id text NOT NULL,
    best_ratio double precision NOT NULL,
    PRIMARY KEY (camp_id, student_id, lesson_id)
);

CREATE TABLE excellent_works (
    camp_id text NOT NULL,
    student_id text NOT NULL,
    submission_id text NOT NULL,
    score integer NOT NULL,
    review_event_id text NOT NULL,
    PRIMARY KEY (camp_id, student_id, submission_id)
);

-- Students seen in a camp (so that a late camp definition re-evaluates all of them).
CREATE TABLE students (
    camp_id text NOT NULL,
    student_id text NOT NULL,
    PRIMARY KEY (camp_id, student_id)
);

CREATE TABLE awards (
    camp_id text NOT NULL,
    student_id text NOT NULL,
    badge_id text NOT NULL,
    source_event_id text NOT NULL,
    definitions_version text NOT NULL,
    awarded_at timestamptz NOT NULL,
    PRIMARY KEY (camp_id, student_id, badge_id)
);
CREATE INDEX awards_camp_badge ON awards (camp_id, badge_id);
