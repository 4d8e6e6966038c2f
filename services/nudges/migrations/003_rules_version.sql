-- The nudge book's version (label and content digest) each nudge was decided under.
ALTER TABLE nudges ADD COLUMN rules_version text;
