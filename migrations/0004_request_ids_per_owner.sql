-- rib coordinator schema v4: a client's request id belongs to its owner. It was unique
-- across the pool, so one user could take (squat) another's predictable request id and
-- make that user's submission return someone else's sweep. Two owners may now use the
-- same id; one owner's repeated id still returns the first sweep.
ALTER TABLE sweeps DROP CONSTRAINT sweeps_client_request_id_key;
CREATE UNIQUE INDEX sweeps_owner_client_request_id ON sweeps (owner, client_request_id);
