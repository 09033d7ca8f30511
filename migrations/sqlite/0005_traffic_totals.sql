-- 0005: traffic totals kept as rows are written, so that the operator reads (/monitoring/stats,
-- the dashboard, `selfheal status`) cost the same at 5 million rows as at 5 thousand: before,
-- each of them counted every logged row. Triggers keep them in the same transaction as the
-- rows they count, whichever path writes: the writer, the CLI, a prune or a cascade.

CREATE TABLE traffic_totals (
    name  TEXT    NOT NULL CHECK (name IN ('production', 'shadow', 'external', 'labels')),
    shard INTEGER NOT NULL DEFAULT 0,        -- PostgreSQL spreads writers over shards
    n     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (name, shard)
);
INSERT INTO traffic_totals (name, shard, n)
    SELECT r.name, 0, (SELECT COUNT(*) FROM predictions WHERE role = r.name)
    FROM (SELECT 'production' AS name UNION ALL SELECT 'shadow' UNION ALL SELECT 'external') r;
INSERT INTO traffic_totals (name, shard, n) SELECT 'labels', 0, COUNT(*) FROM labels;

CREATE TRIGGER traffic_totals_prediction_in AFTER INSERT ON predictions
BEGIN
    UPDATE traffic_totals SET n = n + 1 WHERE name = NEW.role AND shard = 0;
END;
CREATE TRIGGER traffic_totals_prediction_out AFTER DELETE ON predictions
BEGIN
    UPDATE traffic_totals SET n = n - 1 WHERE name = OLD.role AND shard = 0;
END;
CREATE TRIGGER traffic_totals_label_in AFTER INSERT ON labels
BEGIN
    UPDATE traffic_totals SET n = n + 1 WHERE name = 'labels' AND shard = 0;
END;
CREATE TRIGGER traffic_totals_label_out AFTER DELETE ON labels
BEGIN
    UPDATE traffic_totals SET n = n - 1 WHERE name = 'labels' AND shard = 0;
END;
