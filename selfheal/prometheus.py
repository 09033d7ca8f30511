"""The service's Prometheus metrics for ``GET /metrics``, on a private ``prometheus_client``
registry, with one ``observe_*`` helper per code path.

``prometheus_client`` writes the text exposition format 0.0.4 (escaping, Go-style floats,
the ``_total`` suffix on counters, cumulative histogram buckets ending in ``le="+Inf"``). We
keep it to a private :class:`~prometheus_client.CollectorRegistry` (never the global default
one) and switch its ``_created`` series off.

Two kinds of family. **Per process**: counters and histograms updated by the code paths
(predictions, HTTP requests and latency, writer batches and commits, monitor cycles).
**Read at scrape time** by :class:`LiveFamilies` collectors: the writer's queue depth, the
latest monitor report, the audit-table counts (every process's retrains, promotions and
rollbacks), the production pointer, and the WAL gauges and checkpoint counter. A live object
that raises is logged and its families are written without samples: a broken live object
must not break ``/metrics``.

Service wiring: :func:`build_registry` returns a :class:`ServiceMetrics` holding the families
of the public contract (docs/api.md); :func:`add_storage_metrics` adds the WAL families. Serve
``render()`` with :data:`CONTENT_TYPE`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

# `generate_latest` writes format 0.0.4; the library's CONTENT_TYPE_LATEST now names 1.0.0
# (0.26 here), so the header is spelled out to stay what /metrics always sent.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The Content-Type of :meth:`ServiceMetrics.render` output for a ``/metrics`` response."""

# Counters and histograms would also write a `<name>_created` gauge per label set: series we
# never used. The switch is process-wide; nothing else in the process exports metrics.
disable_created_metrics()

REQUEST_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
COMMIT_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip
RETRAIN_OUTCOMES = ("promoted", "rejected", "failed")
PREDICTION_OUTCOMES = ("ok", "invalid", "error")

Family = tuple[str, str, str, tuple[str, ...]]
"""A family read at scrape time: (``"gauge"`` or ``"counter"``, name, help, label names)."""
Values = Mapping[str, Mapping[tuple[str, ...], float]]
"""Samples read at scrape time: per family name, value per label values (in label order)."""


class LiveFamilies(Collector):
    """Families whose samples ``read()`` returns at each scrape.

    When ``read()`` raises, the error is logged and the families are written without samples.
    """

    def __init__(self, families: Sequence[Family], read: Callable[[], Values]) -> None:
        self.families = tuple(families)
        self.read = read

    def describe(self) -> list[GaugeMetricFamily | CounterMetricFamily]:
        """The families without samples, so the registry refuses a second one with a name."""
        kinds = {"gauge": GaugeMetricFamily, "counter": CounterMetricFamily}
        return [
            kinds[kind](name, help, labels=labels) for kind, name, help, labels in self.families
        ]

    def collect(self) -> Iterator[Metric]:
        try:
            values = self.read()
        except Exception:
            names = ", ".join(name for _, name, _, _ in self.families)
            log.exception("reading %s failed; written without samples", names)
            values = {}
        # by the declared name: a CounterMetricFamily drops the `_total` from its own
        for (_, name, _, _), family in zip(self.families, self.describe(), strict=True):
            for key, value in (values.get(name) or {}).items():
                family.add_metric([str(v) for v in key], float(value))
            yield family


def _timestamp(value: Any) -> float | None:
    """Unix seconds from a float, a datetime, or ISO-8601 text (``...Z`` accepted)."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.timestamp()
    raise ValueError(f"not a timestamp: {value!r}")


def _one(name: str, value: float | None) -> dict[str, dict[tuple[str, ...], float]]:
    """A label-less family's sample, or none when `value` is None."""
    return {} if value is None else {name: {(): float(value)}}


# -- scrape-time families ------------------------------------------------------------------------
CYCLE_FAMILIES: tuple[Family, ...] = (
    ("gauge", "selfheal_drift_share", "Share of drifted features in the latest monitor report.",
     ()),
    ("gauge", "selfheal_dataset_drift",
     "1 when the latest monitor report found dataset drift, else 0.", ()),
    ("gauge", "selfheal_feature_effect_size",
     "Per-feature drift effect size in the latest monitor report, by effect measure.",
     ("feature", "effect")),
    ("gauge", "selfheal_feature_drifted",
     "1 when the feature drifted in the latest monitor report, 0 when stable.", ("feature",)),
    ("gauge", "selfheal_feature_missing_share",
     "Per-feature share of missing values, in the latest monitor window and in the "
     "reference (side).", ("feature", "side")),
    ("gauge", "selfheal_feature_missing_drifted",
     "1 when the feature's share of missing values moved away from the reference's in the "
     "latest monitor report, 0 when it did not.", ("feature",)),
    ("gauge", "selfheal_live_f1", "F1 on labelled live traffic, latest cycle.", ()),
    ("gauge", "selfheal_estimated_f1", "Label-free estimated F1 of live traffic, latest cycle.",
     ()),
    ("gauge", "selfheal_estimated_f1_low", "Lower end of the estimated F1 band, latest cycle.",
     ()),
    ("gauge", "selfheal_estimated_f1_high", "Upper end of the estimated F1 band, latest cycle.",
     ()),
)  # fmt: skip
_CYCLE_GAUGES = (
    ("drift_share", "selfheal_drift_share"),
    ("live_f1", "selfheal_live_f1"),
    ("estimated_f1", "selfheal_estimated_f1"),
    ("estimated_f1_low", "selfheal_estimated_f1_low"),
    ("estimated_f1_high", "selfheal_estimated_f1_high"),
)
# Read from the audit tables at scrape time: every process's runs, promotions and rollbacks
# (the CLI's, another server's) count, and a restart loses none.
AUDIT_FAMILIES: tuple[Family, ...] = (
    ("counter", "selfheal_retrains_total",
     "Retrain runs finished, by outcome (promoted | rejected | failed), from the database: "
     "every process's runs.", ("outcome",)),
    ("counter", "selfheal_promotions_total",
     "Promotions to production, by actor (cli | api | monitor | init ...), from the database: "
     "every process's.", ("actor",)),
    ("counter", "selfheal_rollbacks_total",
     "Production rollbacks, by actor, from the database: every process's.", ("actor",)),
)  # fmt: skip
PRODUCTION_FAMILIES: tuple[Family, ...] = (
    ("gauge", "selfheal_model_info", "1 for the production model version.", ("version",)),
    ("gauge", "selfheal_model_promoted_timestamp_seconds",
     "Unix time the production version was promoted (or rolled back to).", ()),
)  # fmt: skip


def cycle_values(
    summary: Mapping[str, Any], features: Iterable[Mapping[str, Any]] | None = None
) -> dict[str, dict[tuple[str, ...], float]]:
    """The :data:`CYCLE_FAMILIES` samples of one monitor report: a gauge whose value is None
    has no sample; see :meth:`ServiceMetrics.observe_cycle` for `features`."""
    out: dict[str, dict[tuple[str, ...], float]] = {}
    for key, name in _CYCLE_GAUGES:
        out.update(_one(name, summary.get(key)))
    dd = summary.get("dataset_drift")
    out.update(_one("selfheal_dataset_drift", None if dd is None else float(bool(dd))))
    if features is None:
        features = summary.get("features") or ()

    def put(name: str, key: tuple[str, ...], value: Any) -> None:
        if value is not None:
            out.setdefault(name, {})[key] = float(value)

    for f in features:
        feature = f.get("feature") or f.get("name")
        if feature is None:
            continue
        feature = str(feature)
        put("selfheal_feature_missing_share", (feature, "window"), f.get("missing_share"))
        put(
            "selfheal_feature_missing_share",
            (feature, "reference"),
            f.get("missing_share_reference"),
        )
        md = f.get("missing_drifted")
        put("selfheal_feature_missing_drifted", (feature,), None if md is None else bool(md))
        effect = str(f.get("effect_name") or "unknown")
        put("selfheal_feature_effect_size", (feature, effect), f.get("effect_size"))
        drifted = f.get("drifted")
        put("selfheal_feature_drifted", (feature,), None if drifted is None else bool(drifted))
    return out


def audit_values(counts: Mapping[str, Mapping[Any, int]]) -> dict[str, dict[Any, float]]:
    """:data:`AUDIT_FAMILIES` samples from ``{"retrains": {outcome: n}, "promotions": {actor:
    n}, "rollbacks": {actor: n}}`` (as `store.audit_counts` returns); every retrain outcome is
    shown, at 0 before it first happens."""
    out: dict[str, dict[Any, float]] = {
        "selfheal_retrains_total": {(o,): 0.0 for o in RETRAIN_OUTCOMES}
    }
    for _, family, _, _ in AUDIT_FAMILIES:
        key = family.removeprefix("selfheal_").removesuffix("_total")
        for value, n in (counts.get(key) or {}).items():
            out.setdefault(family, {})[(str(value or "unknown"),)] = float(n)
    return out


def production_values(pointer: Mapping[str, Any] | None) -> dict[str, dict[Any, float]]:
    """:data:`PRODUCTION_FAMILIES` samples from the production pointer (none without one)."""
    if not pointer or not pointer.get("version"):
        return {}
    out: dict[str, dict[Any, float]] = {"selfheal_model_info": {(str(pointer["version"]),): 1.0}}
    out.update(
        _one("selfheal_model_promoted_timestamp_seconds", _timestamp(pointer.get("promoted_at")))
    )
    return out


# -- the service's metrics -----------------------------------------------------------------------
class ServiceMetrics:
    """The service's families on a private registry (see :func:`build_registry`), with one
    helper per code path.

    The helpers never validate business values beyond what the metrics need, and take plain
    values so the calling modules need not import anything but this class.
    """

    def __init__(
        self,
        *,
        queue_depth: Callable[[], float | None] | None = None,
        production: Callable[[], Mapping[str, Any] | None] | None = None,
        audit: Callable[[], Mapping[str, Mapping[str, int]]] | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        reg = self.registry
        self.predictions = Counter(
            "selfheal_predictions_total",
            "Predictions answered, by model version and outcome (ok | invalid | error).",
            ("model_version", "outcome"),
            registry=reg,
        )
        # Labelled children by label values (see observe_request); a dict read or a racing
        # double insert of the same child is safe under the GIL.
        self._request_children: dict[tuple[str, int | str], tuple[Any, Any]] = {}
        self._prediction_children: dict[tuple[str | None, str], Any] = {}
        self.request_duration = Histogram(
            "selfheal_request_duration_seconds",
            "HTTP request latency in seconds, by route template.",
            ("route",),
            registry=reg,
            buckets=REQUEST_BUCKETS,
        )
        self.http_requests = Counter(
            "selfheal_http_requests_total",
            "HTTP requests answered, by route template and status code.",
            ("route", "status"),
            registry=reg,
        )
        self.batch_size = Histogram(
            "selfheal_batch_size",
            "Rows scored per writer pipeline batch (group commit).",
            registry=reg,
            buckets=BATCH_BUCKETS,
        )
        self.commit_seconds = Histogram(
            "selfheal_writer_commit_seconds",
            "Seconds per writer group commit (insert + COMMIT).",
            registry=reg,
            buckets=COMMIT_BUCKETS,
        )
        depth = (
            "gauge",
            "selfheal_writer_queue_depth",
            "Records waiting in the writer queue, read at scrape time.",
            (),
        )
        read_depth = queue_depth or (lambda: None)
        reg.register(LiveFamilies([depth], lambda: _one(depth[1], read_depth())))
        # The latest monitor report, replaced whole by observe_cycle: a scrape sees one report.
        self._cycle: Values = {}
        reg.register(LiveFamilies(CYCLE_FAMILIES, lambda: self._cycle))
        self.monitor_cycles = Counter(
            "selfheal_monitor_cycles_total",
            "Monitor cycles run, by report status.",
            ("status",),
            registry=reg,
        )
        read_audit = audit or (lambda: {})
        reg.register(LiveFamilies(AUDIT_FAMILIES, lambda: audit_values(read_audit())))
        read_production = production or (lambda: None)
        reg.register(
            LiveFamilies(PRODUCTION_FAMILIES, lambda: production_values(read_production()))
        )

    def render(self) -> str:
        """The whole registry in the text exposition format 0.0.4."""
        return generate_latest(self.registry).decode("utf-8")

    # -- helpers, one per code path ------------------------------------------------------------
    def observe_request(self, route: str, status: int | str, seconds: float) -> None:
        """After each HTTP response; `route` is the URL rule (bounded), not the raw path."""
        key = (route, status)
        children = self._request_children.get(key)
        if children is None:
            # `labels()` stringifies, locks and looks up on every call (~10 us a request
            # for two families); the label sets are bounded (routes x statuses), so the
            # children are looked up once. No family here is ever cleared.
            children = (
                self.http_requests.labels(route=route, status=status),
                self.request_duration.labels(route=route),
            )
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(max(0.0, seconds))

    def observe_predictions(self, version: str | None, n: int, outcome: str = "ok") -> None:
        """After a prediction request: `n` records of `version` ended as `outcome`."""
        if n > 0:
            key = (version, outcome)
            child = self._prediction_children.get(key)
            if child is None:
                child = self.predictions.labels(model_version=version or "none", outcome=outcome)
                self._prediction_children[key] = child
            child.inc(n)

    def observe_batch(self, rows: int, commit_seconds: float) -> None:
        """After each writer group commit; a batch of write jobs only (0 rows scored) counts
        its commit time but not a batch size."""
        if rows > 0:
            self.batch_size.observe(rows)
        self.commit_seconds.observe(max(0.0, commit_seconds))

    def observe_cycle(
        self, summary: Mapping[str, Any], features: Iterable[Mapping[str, Any]] | None = None
    ) -> None:
        """After each monitor cycle. Counts the cycle by ``summary["status"]``; on ``error``
        the gauges keep the last good report. Otherwise each gauge is set from the summary, or
        dropped when its value is None, and the per-feature gauges are replaced by `features`
        (default ``summary["features"]``; dicts with feature (or name), effect_name,
        effect_size, drifted, missing_share, missing_share_reference, missing_drifted)."""
        status = str(summary.get("status") or "unknown")
        self.monitor_cycles.labels(status=status).inc()
        if status != "error":
            self._cycle = cycle_values(summary, features)


def build_registry(
    *,
    queue_depth: Callable[[], float | None] | None = None,
    production: Callable[[], Mapping[str, Any] | None] | None = None,
    audit: Callable[[], Mapping[str, Mapping[str, int]]] | None = None,
) -> ServiceMetrics:
    """The service's metrics with every family of the public contract registered.

    ``queue_depth()`` feeds ``selfheal_writer_queue_depth`` (e.g. ``lambda: writer.depth``);
    ``production()`` returns the production pointer (``{"version", "promoted_at", ...}``, e.g.
    ``registry.pointer``) and feeds ``selfheal_model_info{version}`` and
    ``selfheal_model_promoted_timestamp_seconds``. ``audit()`` returns the counts of the
    audit tables (`store.audit_counts`) and feeds ``selfheal_retrains_total``,
    ``selfheal_promotions_total`` and ``selfheal_rollbacks_total``. All are read at scrape
    time; a callable that returns None gives its family no sample.
    """
    return ServiceMetrics(queue_depth=queue_depth, production=production, audit=audit)


# -- storage: the WAL and the writer's checkpoints (docs/architecture.md, "Durability") ----------
# Kept apart from `build_registry`'s contract: the service adds them with its writer at hand.
WAL_FAMILIES: tuple[Family, ...] = (
    ("gauge", "selfheal_wal_bytes", "Size of the SQLite -wal file in bytes, read at scrape time.",
     ()),
    ("gauge", "selfheal_wal_high_water_bytes",
     "Largest -wal file size in bytes the writer saw after a commit since this process "
     "started (bounded by SELFHEAL_WAL_MAX_MIB plus one batch).", ()),
    ("counter", "selfheal_wal_checkpoints_total",
     "TRUNCATE checkpoints run by the writer, by reason (bound: the -wal file passed "
     "SELFHEAL_WAL_MAX_MIB; idle: no work for a second) and result (ok | busy | error).",
     ("reason", "result")),
)  # fmt: skip


def add_storage_metrics(
    metrics: ServiceMetrics,
    *,
    wal_bytes: Callable[[], float | None],
    wal_high_water: Callable[[], float | None],
    checkpoints: Callable[[], Mapping[tuple[str, str], int]],
) -> None:
    """Register the WAL gauges and the checkpoint counter on `metrics`, all read at
    scrape time: ``wal_bytes()`` (the -wal file's size now, e.g. ``db.wal_size``),
    ``wal_high_water()`` (the largest size the writer saw after a commit) and
    ``checkpoints()`` (``{(reason, result): n}``, e.g. ``writer.stats.checkpoints``).
    Each is read on its own, so one that raises leaves only its own family empty."""
    size, high, done = WAL_FAMILIES
    metrics.registry.register(LiveFamilies([size], lambda: _one(size[1], wal_bytes())))
    metrics.registry.register(LiveFamilies([high], lambda: _one(high[1], wal_high_water())))
    metrics.registry.register(
        LiveFamilies([done], lambda: {done[1]: {k: float(n) for k, n in checkpoints().items()}})
    )
