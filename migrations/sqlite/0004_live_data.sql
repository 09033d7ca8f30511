-- 0004: live data: a feature's share of missing values is tested against the reference's.

ALTER TABLE drift_feature_results ADD COLUMN missing_share REAL;            -- in the window
ALTER TABLE drift_feature_results ADD COLUMN missing_share_reference REAL;
ALTER TABLE drift_feature_results ADD COLUMN missing_p_adjusted REAL;       -- BH over features
ALTER TABLE drift_feature_results ADD COLUMN missing_drifted INTEGER;       -- 1, 0 or NULL

-- The monitor window reads the rows other systems logged (role 'external') next to the
-- serving version's own; this keeps that read an index range scan.
CREATE INDEX predictions_external ON predictions (seq) WHERE role = 'external';
