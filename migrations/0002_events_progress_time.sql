-- rib coordinator schema v2: PruneProgressEvents deletes old progress events of
-- finished jobs; this partial index finds them without scanning the whole log.
CREATE INDEX events_progress_time ON events (time) WHERE kind = 'progress';
