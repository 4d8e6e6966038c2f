-- Every check-in moves its student's balance and earnings. With neither indexed and room left
-- in each page, the new row version goes beside the old one: a HOT update, no index entry,
-- pruned without vacuum. The index on earnings made every such update write two index entries,
-- and spared the all-time board only a sort: the board reads every balance of its camp anyway
-- (by the primary key). The room applies to pages written from now on.
DROP INDEX balances_earned;
ALTER TABLE balances SET (fillfactor = 70);
