-- rib coordinator schema v10: debugging a job (issue 17 items 6 and 8). One row per
-- attempt (hand-out) of a job, written where the job's state is (pg::SetJobState): made
-- when it is LEASED, started when it is RUNNING, ended when the job leaves the
-- lease-holding states, with the error, and what the worker's `finished` report said
-- (status code, weights and their digest, the reproducibility record). Attempts made
-- before this migration have no row. The lease secret's hash is kept per attempt so that
-- its worker may upload the attempt's log after it ended.
CREATE TABLE attempts (
  job_id            text NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  attempt           integer NOT NULL,
  worker_id         text NOT NULL DEFAULT '',
  lease_secret_hash text NOT NULL DEFAULT '',
  leased_at         timestamptz NOT NULL,
  started_at        timestamptz,
  finished_at       timestamptz,
  end_state         text NOT NULL DEFAULT '',
  error             text NOT NULL DEFAULT '',
  code              integer NOT NULL DEFAULT 0,
  weights           text NOT NULL DEFAULT '',
  weights_digest    text NOT NULL DEFAULT '',
  checkpoints       text[] NOT NULL DEFAULT '{}',
  repro             jsonb,
  PRIMARY KEY (job_id, attempt)
);

-- The rank logs of an attempt, as its worker uploads them: the bytes
-- [start_offset, end_offset) of rank `rank`'s log, at most the newest 1 MiB
-- (pg::kMaxAttemptLogBytes).
CREATE TABLE attempt_logs (
  job_id       text NOT NULL,
  attempt      integer NOT NULL,
  rank         integer NOT NULL CHECK (rank >= 0),
  data         bytea NOT NULL DEFAULT '',
  start_offset bigint NOT NULL DEFAULT 0,
  end_offset   bigint NOT NULL DEFAULT 0,
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (job_id, attempt, rank),
  FOREIGN KEY (job_id, attempt) REFERENCES attempts (job_id, attempt) ON DELETE CASCADE
);
