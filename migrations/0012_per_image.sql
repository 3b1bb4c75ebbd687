-- rib coordinator schema v12: per-image correctness of each result (issue 15 item 9).
-- Bit k of correct_bits (byte k / 8, least significant bit first) says whether the
-- k-th image of the (dataset, subset) in the evaluation list was right; the bootstrap of
-- RI / mRI (common/robustness_bootstrap.h) resamples images from these bits. Empty for
-- results recorded before this migration or by workers that do not send them.
ALTER TABLE results ADD COLUMN correct_bits bytea NOT NULL DEFAULT ''::bytea;
