-- Every calendar row of a batch's students is updated by each batch: room left in each page
-- makes those updates HOT (no new index entry, old versions pruned without vacuum), as for
-- points' calendars (services/points/migrations/006): 99% HOT instead of 17-36% measured there.
ALTER TABLE checkin_calendar SET (fillfactor = 60);
