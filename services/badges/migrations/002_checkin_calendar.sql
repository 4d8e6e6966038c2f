-- A student's checked-in days of a camp in one row (sorted, each day once), replacing a row
-- per day: the facts of a batch's students are read a row per student, not a row per day.
CREATE TABLE checkin_calendar (
    camp_id text NOT NULL,
    student_id text NOT NULL,
    days integer[] NOT NULL,
    PRIMARY KEY (camp_id, student_id)
);
INSERT INTO checkin_calendar (camp_id, student_id, days)
SELECT camp_id, student_id, array_agg(day ORDER BY day) FROM checkin_days
GROUP BY camp_id, student_id;
DROP TABLE checkin_days;
