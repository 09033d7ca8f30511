-- 0002: what the monitor sees and decides, and how each retrain was judged.

-- One row per monitor cycle, including failed cycles (status 'error').
CREATE TABLE drift_reports (
    id                INTEGER PRIMARY KEY,
    created_at        TEXT    NOT NULL,
    model_version     TEXT,
    status            TEXT    NOT NULL
                      CHECK (status IN ('ok', 'drift', 'insufficient_data', 'error')),
    dataset_drift     INTEGER NOT NULL DEFAULT 0,
    drift_share       REAL,
    score_drift       INTEGER,
    n_window          INTEGER NOT NULL DEFAULT 0,
    n_reference       INTEGER,
    window_from       TEXT,
    window_to         TEXT,
    out_of_range_rows INTEGER,
    positive_rate     REAL,
    mean_probability  REAL,
    estimated_f1      REAL,
    estimated_f1_low  REAL,
    estimated_f1_high REAL,
    n_labeled         INTEGER,
    live_f1           REAL,
    live_auc          REAL,
    live_brier        REAL,
    holdout_f1        REAL,
    decision          TEXT    NOT NULL DEFAULT 'none',  -- none, retrain, cooldown, retrain_running, disabled, rolled_back, ...
    trigger           TEXT,                             -- drift, labeled_f1, estimated_f1
    retrain_run_id    INTEGER REFERENCES retrain_runs(id),
    error             TEXT,
    report            TEXT                              -- JSON: the full DriftReport and estimates
);
CREATE INDEX drift_reports_created_at ON drift_reports (created_at);
CREATE INDEX drift_reports_version ON drift_reports (model_version, id);

CREATE TABLE drift_feature_results (
    report_id   INTEGER NOT NULL REFERENCES drift_reports(id) ON DELETE CASCADE,
    feature     TEXT    NOT NULL,                       -- '__score__' for the prediction score
    kind        TEXT    NOT NULL,
    test        TEXT    NOT NULL,
    statistic   REAL,
    p_value     REAL,
    p_adjusted  REAL,
    effect_name TEXT,
    effect_size REAL,
    threshold   REAL,
    psi         REAL,
    n_nan       INTEGER,
    drifted     INTEGER,                                -- 1, 0, or NULL (no verdict)
    PRIMARY KEY (report_id, feature)
);

CREATE TABLE gate_results (
    run_id     INTEGER NOT NULL REFERENCES retrain_runs(id) ON DELETE CASCADE,
    gate       TEXT    NOT NULL,   -- data_quality, statistical, stability, consistency
    passed     INTEGER NOT NULL,
    "values"   TEXT    NOT NULL,   -- JSON
    thresholds TEXT    NOT NULL,   -- JSON
    reason     TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    PRIMARY KEY (run_id, gate)
);

-- A promoted model is watched on its next labeled traffic beside its predecessor.
CREATE TABLE probations (
    id               INTEGER PRIMARY KEY,
    version          TEXT    NOT NULL,
    previous_version TEXT    NOT NULL,
    retrain_run_id   INTEGER REFERENCES retrain_runs(id),
    started_at       TEXT    NOT NULL,
    start_seq        INTEGER NOT NULL,                  -- predictions.seq at promotion: rows after it count
    ended_at         TEXT,
    status           TEXT    NOT NULL DEFAULT 'active'
                     CHECK (status IN ('active', 'passed', 'rolled_back', 'ended')),
    labels_needed    INTEGER NOT NULL,
    result           TEXT                               -- JSON: both F1s on the same rows
);
CREATE INDEX probations_status ON probations (status);
