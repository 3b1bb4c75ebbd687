-- rib coordinator schema v7: exactly-once reports. Each event of an attempt carries a
-- sequence number (1, 2, ...); the coordinator keeps the highest it has written for the
-- current attempt and ignores an event at or below it (a reconnecting stream re-sends
-- what it is not sure arrived). Reset by every hand-out. 0 = unsequenced (always
-- applied: an agent's own one-event reports, or a worker that predates it).
ALTER TABLE jobs ADD COLUMN report_seq bigint NOT NULL DEFAULT 0;
