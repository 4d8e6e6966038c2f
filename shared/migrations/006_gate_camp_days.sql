-- A camp's length beside its calendar: the gate reads it with the camp, and a service that
-- needs it (points judges a check-in's day against it) takes it from that read instead of a
-- statement of its own. NULL for camps saved before: those services read their own table.
ALTER TABLE gate_camps ADD COLUMN days int;
