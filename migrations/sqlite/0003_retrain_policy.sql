-- 0003: what a retrain trained on and how far it got, for the evidence-driven cooldown.

-- The newest predictions.seq among the labeled rows the run read: labels of rows after it
-- are new evidence for the next run.
ALTER TABLE retrain_runs ADD COLUMN data_cutoff_seq INTEGER;
-- How far the run got: 'data' (refused or failed before training: no cooldown),
-- 'training', 'judging', 'done'.
ALTER TABLE retrain_runs ADD COLUMN stage TEXT;
-- JSON: every candidate window with its rows and holdout metrics, the holdout, the winner.
ALTER TABLE retrain_runs ADD COLUMN candidates TEXT;
