-- 0001: the core tables. Times are ISO-8601 UTC text; JSON columns hold JSON text.

CREATE TABLE predictions (
    seq           INTEGER PRIMARY KEY,                 -- arrival order; windows read by seq
    id            TEXT    NOT NULL UNIQUE,             -- public id (uuid4 hex or the caller's)
    created_at    TEXT    NOT NULL,
    model_version TEXT    NOT NULL,
    role          TEXT    NOT NULL DEFAULT 'production'
                  CHECK (role IN ('production', 'shadow', 'external')),
    parent_id     TEXT    REFERENCES predictions(id) ON DELETE CASCADE, -- shadow rows: the served row
    features      TEXT    NOT NULL,                    -- JSON object, as validated
    probability   REAL    NOT NULL CHECK (probability >= 0 AND probability <= 1),
    prediction    INTEGER NOT NULL CHECK (prediction IN (0, 1)),
    threshold     REAL    NOT NULL,
    latency_ms    REAL,
    out_of_range  TEXT                                 -- JSON list of fields outside the soft range; NULL if none
);
CREATE INDEX predictions_created_at ON predictions (created_at);
CREATE INDEX predictions_version_role ON predictions (model_version, role, seq);
CREATE INDEX predictions_parent ON predictions (parent_id) WHERE parent_id IS NOT NULL;

CREATE TABLE labels (
    prediction_id TEXT    PRIMARY KEY REFERENCES predictions(id) ON DELETE CASCADE,
    label         INTEGER NOT NULL CHECK (label IN (0, 1)),
    created_at    TEXT    NOT NULL
);
CREATE INDEX labels_created_at ON labels (created_at);

-- Append-only audit of every registry decision: registered, promoted, rolled_back, rejected.
CREATE TABLE model_events (
    id               INTEGER PRIMARY KEY,
    created_at       TEXT NOT NULL,
    event            TEXT NOT NULL,
    version          TEXT,
    previous_version TEXT,
    reason           TEXT NOT NULL,
    actor            TEXT NOT NULL,                    -- cli, api, monitor, init, test
    details          TEXT                              -- JSON
);
CREATE INDEX model_events_version ON model_events (version);
CREATE TRIGGER model_events_append_only_update BEFORE UPDATE ON model_events
BEGIN
    SELECT RAISE(ABORT, 'model_events is append-only');
END;
CREATE TRIGGER model_events_append_only_delete BEFORE DELETE ON model_events
BEGIN
    SELECT RAISE(ABORT, 'model_events is append-only');
END;

CREATE TABLE retrain_runs (
    id                INTEGER PRIMARY KEY,
    trigger           TEXT NOT NULL,                   -- drift, labeled_f1, estimated_f1, manual
    evidence          TEXT,                            -- JSON: what the trigger saw
    status            TEXT NOT NULL DEFAULT 'running'
                      CHECK (status IN ('running', 'promoted', 'rejected', 'failed', 'skipped')),
    actor             TEXT NOT NULL,
    base_version      TEXT,                            -- production when the run started
    candidate_version TEXT,
    started_at        TEXT NOT NULL,
    finished_at       TEXT,
    reason            TEXT,
    error             TEXT
);
CREATE INDEX retrain_runs_started_at ON retrain_runs (started_at);
