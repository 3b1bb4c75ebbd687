-- rib coordinator schema v1: sweeps, jobs and their dependency edges, results,
-- workers, and the event log that feeds WatchSweep (LISTEN/NOTIFY on 'rib_events').
-- Identifiers are text UUIDs; `seq` columns give a stable order for paging.

CREATE TABLE sweeps (
  id                text PRIMARY KEY DEFAULT gen_random_uuid()::text,
  seq               bigserial UNIQUE NOT NULL,
  name              text NOT NULL,
  owner             text NOT NULL,
  priority          integer NOT NULL DEFAULT 0,
  max_attempts      integer NOT NULL DEFAULT 3,
  yaml              text NOT NULL,
  client_request_id text UNIQUE,
  state             text NOT NULL DEFAULT 'ACTIVE'
                    CHECK (state IN ('ACTIVE', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
  suite             text NOT NULL DEFAULT '',
  models            text[] NOT NULL DEFAULT '{}',
  methods           text[] NOT NULL DEFAULT '{}',
  finetune_datasets text[] NOT NULL DEFAULT '{}',
  eval_datasets     text[] NOT NULL DEFAULT '{}',
  created_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE jobs (
  id               text PRIMARY KEY DEFAULT gen_random_uuid()::text,
  seq              bigserial UNIQUE NOT NULL,
  sweep_id         text NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
  key              text NOT NULL,            -- "model/method/dataset" or "model/pre"
  hash             text NOT NULL,            -- JobHash(spec): identity of the computation
  spec             jsonb NOT NULL,           -- the full JobSpec
  model            text NOT NULL,
  method           text NOT NULL,
  method_kind      text NOT NULL,
  finetune_dataset text NOT NULL DEFAULT '',
  datasets         text[] NOT NULL DEFAULT '{}',  -- every dataset the job reads
  devices          integer NOT NULL DEFAULT 1,
  state            text NOT NULL CHECK (state IN ('PENDING', 'QUEUED', 'LEASED', 'RUNNING',
                                                  'SUCCEEDED', 'FAILED', 'CANCELLED')),
  attempt          integer NOT NULL DEFAULT 0,  -- fencing token; only grows
  max_attempts     integer NOT NULL DEFAULT 3,  -- attempt number after which it fails
  worker_id        text,
  lease_expires_at timestamptz,
  error            text NOT NULL DEFAULT '',
  reused_from      text REFERENCES jobs(id),
  priority         integer NOT NULL DEFAULT 0,
  owner            text NOT NULL,
  progress         double precision NOT NULL DEFAULT 0,
  last_checkpoint  text NOT NULL DEFAULT '',
  final_weights    text NOT NULL DEFAULT '',
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  UNIQUE (sweep_id, key)
);
CREATE INDEX jobs_sweep_state ON jobs (sweep_id, state);
CREATE INDEX jobs_queued ON jobs (priority DESC, created_at) WHERE state = 'QUEUED';
CREATE INDEX jobs_hash_succeeded ON jobs (hash) WHERE state = 'SUCCEEDED' AND reused_from IS NULL;
CREATE INDEX jobs_lease ON jobs (lease_expires_at) WHERE state IN ('LEASED', 'RUNNING');

CREATE TABLE job_deps (
  job_id     text NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  depends_on text NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  PRIMARY KEY (job_id, depends_on)
);
CREATE INDEX job_deps_reverse ON job_deps (depends_on);

CREATE TABLE results (
  job_id   text NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  attempt  integer NOT NULL,
  dataset  text NOT NULL,
  subset   text NOT NULL DEFAULT '',
  correct  bigint NOT NULL CHECK (correct >= 0),
  total    bigint NOT NULL CHECK (total >= correct),
  skipped  bigint NOT NULL DEFAULT 0 CHECK (skipped >= 0),
  recorded_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (job_id, dataset, subset)
);

CREATE TABLE workers (
  id             text PRIMARY KEY DEFAULT gen_random_uuid()::text,
  seq            bigserial UNIQUE NOT NULL,
  name           text NOT NULL,
  state          text NOT NULL DEFAULT 'ACTIVE' CHECK (state IN ('ACTIVE', 'DRAINING', 'LOST')),
  device_kind    text NOT NULL DEFAULT 'cpu',
  device_count   integer NOT NULL DEFAULT 0,
  device_memory  bigint NOT NULL DEFAULT 0,
  datasets       text[] NOT NULL DEFAULT '{}',
  labels         text[] NOT NULL DEFAULT '{}',
  free_devices   integer NOT NULL DEFAULT 0,
  last_heartbeat timestamptz NOT NULL DEFAULT now(),
  created_at     timestamptz NOT NULL DEFAULT now()
);

-- Append-only log of what WatchSweep streams. Each insert is followed by
-- pg_notify('rib_events', '<sweep_id>:<event id>') in the same transaction.
CREATE TABLE events (
  id          bigserial PRIMARY KEY,
  sweep_id    text NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
  job_id      text NOT NULL DEFAULT '',
  time        timestamptz NOT NULL DEFAULT now(),
  kind        text NOT NULL CHECK (kind IN ('state', 'progress', 'result', 'sweep_state')),
  job_state   text NOT NULL DEFAULT '',
  sweep_state text NOT NULL DEFAULT '',
  job_label   text NOT NULL DEFAULT '',
  error       text NOT NULL DEFAULT '',
  epoch       integer NOT NULL DEFAULT 0,
  epochs      integer NOT NULL DEFAULT 0,
  step        bigint NOT NULL DEFAULT 0,
  steps       bigint NOT NULL DEFAULT 0,
  loss        double precision NOT NULL DEFAULT 0,
  lr          double precision NOT NULL DEFAULT 0,
  dataset     text NOT NULL DEFAULT '',
  subset      text NOT NULL DEFAULT '',
  correct     bigint NOT NULL DEFAULT 0,
  total       bigint NOT NULL DEFAULT 0,
  skipped     bigint NOT NULL DEFAULT 0
);
CREATE INDEX events_sweep ON events (sweep_id, id);
