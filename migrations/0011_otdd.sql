-- rib coordinator schema v11: OTDD (issue 15 item 7). An otdd job's result is one
-- distance between the pre-training set and its downstream set (worker/engine/otdd.h),
-- not an accuracy: one row per job, the last report winning (a rerun attempt
-- overwrites). Read by GetMatrix beside the results of the sweep's other jobs.
CREATE TABLE dataset_distances (
  job_id          text PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
  attempt         integer NOT NULL,
  source_dataset  text NOT NULL,
  target_dataset  text NOT NULL,
  distance        double precision NOT NULL,
  source_examples bigint NOT NULL CHECK (source_examples > 0),
  target_examples bigint NOT NULL CHECK (target_examples > 0),
  epsilon         double precision NOT NULL,
  converged       boolean NOT NULL,
  recorded_at     timestamptz NOT NULL
);
