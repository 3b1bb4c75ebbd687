-- rib coordinator schema v3: a worker advertises every device kind it has (a node with
-- cpu and cuda devices both), and a job may require one kind ('' = any kind), so a
-- cuda job never goes to a CPU-only worker.
ALTER TABLE workers
  ADD COLUMN device_kinds    text[]    NOT NULL DEFAULT '{}',
  ADD COLUMN device_counts   integer[] NOT NULL DEFAULT '{}',
  ADD COLUMN device_memories bigint[]  NOT NULL DEFAULT '{}';
UPDATE workers SET device_kinds = ARRAY[device_kind], device_counts = ARRAY[device_count],
  device_memories = ARRAY[device_memory] WHERE device_count > 0;
ALTER TABLE workers DROP COLUMN device_kind, DROP COLUMN device_count,
  DROP COLUMN device_memory;
ALTER TABLE jobs ADD COLUMN device_kind text NOT NULL DEFAULT '';
