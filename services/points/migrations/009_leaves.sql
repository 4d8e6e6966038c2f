-- Leave (contract "Care"): the spans reported; days of leave neither break nor extend a streak.
CREATE TABLE leaves (
    camp_id text NOT NULL,
    student_id text NOT NULL,
    from_day integer NOT NULL,
    to_day integer NOT NULL,
    PRIMARY KEY (camp_id, student_id, from_day, to_day)
);
