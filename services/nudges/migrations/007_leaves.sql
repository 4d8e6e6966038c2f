-- Leave (contract "Care"): every span reported; the days of leave are their union (capped by
-- GAMIFY_LEAVE_MAX_DAYS when set), computed where they are used.
CREATE TABLE leaves (
    camp_id text NOT NULL,
    student_id text NOT NULL,
    from_day integer NOT NULL,
    to_day integer NOT NULL,
    PRIMARY KEY (camp_id, student_id, from_day, to_day)
);
