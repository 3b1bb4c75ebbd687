-- rib coordinator schema v8: "we lost contact" is not "the job failed". Counts the
-- attempts of a job that ended because the coordinator lost contact with its worker
-- (the lease expired); the first scheduling::kFreeLostContacts of them do not use up
-- max_attempts (retry_policy.h). Reset by RetrySweep.
ALTER TABLE jobs ADD COLUMN lost_contacts integer NOT NULL DEFAULT 0;
