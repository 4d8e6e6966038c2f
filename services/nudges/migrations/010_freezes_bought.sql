-- Redemptions accepted by the points service (gamify.redemptions): the streak freezes bought,
-- so that a student whose streak a freeze held is told so (the freeze rules are points').
CREATE TABLE redemptions_accepted (
    camp_id text NOT NULL,
    student_id text NOT NULL,
    request_id text NOT NULL,
    item_id text NOT NULL,
    requested_at timestamptz NOT NULL,
    PRIMARY KEY (camp_id, request_id)
);
CREATE INDEX redemptions_accepted_student ON redemptions_accepted (camp_id, student_id);
