-- Each ledger row was written to three indexes: the primary key, the cause's unique key
-- (camp, student, rule, cause) and ledger_student (student, camp, id) for a student's history.
-- The unique key now leads with the student, so it serves the history too (a student's rows
-- are few; sorting them by id costs nothing) and ledger_student goes: the ledger insert was
-- the points batch's costliest statement. ON CONFLICT (camp_id, student_id, rule_id, cause)
-- finds the new key: inference does not depend on column order.
CREATE UNIQUE INDEX ledger_cause ON ledger (student_id, camp_id, rule_id, cause);
ALTER TABLE ledger DROP CONSTRAINT ledger_camp_id_student_id_rule_id_cause_key;
DROP INDEX ledger_student;
