-- The hand-out's index (postgres_repository_workers.cc, AcquireJob): the queued jobs
-- by owner and priority, oldest first. A skip scan of it lists the (owner, priority)
-- groups and each group's oldest job without reading the rest of the queue, so
-- AcquireJob costs the same with 1,000 or 100,000 jobs queued.
CREATE INDEX jobs_queued_by_owner ON jobs (owner, priority, seq) WHERE state = 'QUEUED';
