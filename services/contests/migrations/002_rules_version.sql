-- The contests file's version (label and content digest) each week was settled under.
ALTER TABLE weeks ADD COLUMN rules_version text;
