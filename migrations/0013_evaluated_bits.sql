-- rib coordinator schema v13: which images each result evaluated (issue 15 item 9).
-- Held-out evaluation scores dataset j, for a model fine-tuned on i, on every image of j
-- that shares no source photo with i's train side, so each result covers a different
-- part of j. Since this migration correct_bits has one bit per image of the whole
-- (dataset, subset), in the dataset's example order, and evaluated_bits, in the same
-- shape, marks the images that were evaluated (in the evaluation list and decoded):
-- popcount(evaluated_bits) = total, correct_bits only where evaluated_bits is set.
-- Empty (results recorded before, or a result that evaluated every image of its bits):
-- every image of correct_bits was evaluated.
ALTER TABLE results ADD COLUMN evaluated_bits bytea NOT NULL DEFAULT ''::bytea;
