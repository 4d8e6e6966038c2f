-- Praise of every reviewed work (praise.works: every): reviews that are not excellent are kept
-- too, so that a review that came before its camp can still be praised when the camp comes.
ALTER TABLE excellent_reviews ADD COLUMN excellent boolean NOT NULL DEFAULT true;
