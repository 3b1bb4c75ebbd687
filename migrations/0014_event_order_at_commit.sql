-- rib coordinator schema v14: an event's place in its sweep's log is fixed when its
-- transaction commits.
-- Until v13 every transaction that wrote an event took its sweep's event lock (an
-- advisory lock) at that insert and held it to its end, so that event ids grew in
-- commit order (WatchSweep reads "after the last one seen" and must never skip one
-- that commits late). Every writer of a sweep then waited for the others' remaining
-- statements and round trips: in bench/coordinator most of a report's time was that
-- wait (pg_stat_statements: the lock statement took 18 ms on average at 10 workers).
-- Now each event gets `seq`, its position in the log, inside its transaction's COMMIT:
-- a deferred trigger takes the sweep's lock there, and the commit ends it, with no round
-- trip to the coordinator in between. Readers order by seq; rows still being written
-- are invisible to them, and every visible row has its seq.

-- The sweep's event lock, its only definition (pg::RefreshSweepState takes it too).
CREATE FUNCTION rib_lock_event_log(sweep text) RETURNS void LANGUAGE sql AS
  $$ SELECT pg_advisory_xact_lock(7496034, hashtext(sweep)) $$;

CREATE SEQUENCE events_seq;
ALTER TABLE events ADD COLUMN seq bigint;
-- The ids written so far already follow commit order.
UPDATE events SET seq = id;
SELECT setval('events_seq', (SELECT COALESCE(max(id), 0) + 1 FROM events), false);
CREATE UNIQUE INDEX events_sweep_seq ON events (sweep_id, seq);
DROP INDEX events_sweep;

CREATE FUNCTION rib_sequence_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM rib_lock_event_log(NEW.sweep_id);
  UPDATE events SET seq = nextval('events_seq') WHERE id = NEW.id;
  RETURN NULL;
END $$;

-- Fires at COMMIT, once per inserted row without a seq, in the order the rows were
-- inserted. A new sweep's first events (SubmitSweep) are numbered as they are inserted
-- instead: no other transaction can write events of a sweep before the transaction
-- that creates it commits, and every later one is numbered after them.
CREATE CONSTRAINT TRIGGER events_sequence_at_commit AFTER INSERT ON events
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.seq IS NULL)
  EXECUTE FUNCTION rib_sequence_event();
