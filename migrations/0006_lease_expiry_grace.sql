-- rib coordinator schema v6: when the last lease-expiry pass ran (any coordinator's).
-- A pass that finds no pass ran for a while (every coordinator was down, or the
-- database was) first extends the live leases by a lease timeout instead of expiring
-- them, so workers that could not heartbeat through the outage keep their jobs.
CREATE TABLE lease_expiry (
  id        boolean PRIMARY KEY DEFAULT true CHECK (id),
  last_pass timestamptz   -- NULL: no pass has run yet
);
INSERT INTO lease_expiry (last_pass) VALUES (NULL);
