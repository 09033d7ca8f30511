"""Prometheus metrics for the service, in the text exposition format 0.0.4, without a dependency.

Why not ``prometheus-client``: we need counters, gauges and one kind of histogram, all in one
process (waitress threads, the writer thread, the monitor thread); the text format is a few
lines of rules, and a runtime dependency would bring a global default registry, multiprocess
modes and ``_created`` series we do not want. ``prometheus-client`` is still used by the tests,
whose parser reads everything :meth:`Registry.render` writes.

The format (https://prometheus.io/docs/instrumenting/exposition_formats/), as written here::

    # HELP selfheal_predictions_total Predictions answered, by model version and outcome.
    # TYPE selfheal_predictions_total counter
    selfheal_predictions_total{model_version="v0001",outcome="ok"} 42.0

* one ``# HELP`` and one ``# TYPE`` line per family, then its samples, one per line, with
  ``\\n`` line ends and the whole text ending in a newline;
* HELP text escapes backslash and newline (``\\\\``, ``\\n``); label values escape backslash,
  double quote and newline (``\\\\``, ``\\"``, ``\\n``);
* values are Go-style floats: ``NaN``, ``+Inf``, ``-Inf``, else Python's ``repr``;
* a counter's samples (and, as ``prometheus-client`` writes them, its HELP/TYPE lines) are
  named with the ``_total`` suffix;
* a histogram ``x`` writes cumulative ``x_bucket{le="..."}`` samples whose last bucket is
  ``le="+Inf"`` (equal to ``x_count``), then ``x_sum`` and ``x_count``, per label set.

Thread safety: every metric has its own lock; a sample is updated, and read by
:meth:`Registry.render`, under it, so each family (a histogram's buckets, sum and count
included) is rendered from one consistent snapshot. Gauge callbacks and registry collectors
run at render time outside every metric lock, so they may take locks of their own.

Service wiring: :func:`build_registry` returns a :class:`ServiceMetrics` (a :class:`Registry`)
holding the service's metric families, whose names are a public contract, and one tiny
``observe_*`` method per code path. Serve ``render()`` with :data:`CONTENT_TYPE`.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from abc import ABC, abstractmethod
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The Content-Type of :meth:`Registry.render` output for a ``/metrics`` response."""

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")

LabelKey = tuple[str, ...]
Sample = tuple[str, tuple[tuple[str, str], ...], float]  # name, ((label, value), ...), value
Collected = tuple[str, Mapping[str, Any], float]  # what a collector returns, per sample


# -- formatting ----------------------------------------------------------------------------------
def format_value(value: float) -> str:
    """A sample value as the format wants it: ``NaN``, ``+Inf``, ``-Inf`` or a float/int."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    v = float(value)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(v)


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _METRIC_NAME.fullmatch(name):
        raise ValueError(f"invalid metric name {name!r}: use [a-zA-Z_:][a-zA-Z0-9_:]*")
    return name


def _check_labelnames(
    metric: str, labelnames: Iterable[str], reserved: Sequence[str] = ()
) -> LabelKey:
    names = tuple(labelnames)
    for n in names:
        if not isinstance(n, str) or not _LABEL_NAME.fullmatch(n):
            raise ValueError(f"{metric}: invalid label name {n!r}: use [a-zA-Z_][a-zA-Z0-9_]*")
        if n.startswith("__"):
            raise ValueError(f"{metric}: label name {n!r} is reserved (leading '__')")
        if n in reserved:
            raise ValueError(f"{metric}: label name {n!r} is reserved for this metric type")
    if len(set(names)) != len(names):
        raise ValueError(f"{metric}: duplicate label names in {names}")
    return names


# -- metrics -------------------------------------------------------------------------------------
class _Metric(ABC):
    """A family: name, help, label names, and one value per label set."""

    type = "untyped"

    def __init__(self, name: str, help: str, labelnames: Iterable[str] = ()) -> None:
        self.name = _check_name(name)
        self.help = str(help)
        self.labelnames = _check_labelnames(name, labelnames, self._reserved())
        self._lock = threading.Lock()

    @staticmethod
    def _reserved() -> Sequence[str]:
        return ()

    @property
    def family(self) -> str:
        """The name on the HELP and TYPE lines."""
        return self.name

    @property
    def claimed_names(self) -> frozenset[str]:
        """Names no other family of a registry may use: its samples' and its family's."""
        return frozenset({self.name})

    def _key(self, labels: Mapping[str, Any]) -> LabelKey:
        """Label values in `labelnames` order; ValueError naming the metric when the label set
        is not exactly `labelnames`."""
        try:
            if len(labels) == len(self.labelnames):
                return tuple(str(labels[n]) for n in self.labelnames)
        except KeyError:
            pass
        raise ValueError(
            f"{self.name}: expected labels {sorted(self.labelnames)}, got {sorted(labels)}"
        )

    def _pairs(self, key: LabelKey) -> tuple[tuple[str, str], ...]:
        return tuple(zip(self.labelnames, key, strict=True))

    @abstractmethod
    def collect(self) -> list[Sample]:
        """The family's samples, taken under its lock (one consistent snapshot)."""


class Counter(_Metric):
    """A monotonically increasing count. Samples are named ``<name>_total`` (the suffix is
    added when `name` lacks it). A label-less counter starts at 0; a labelled one shows a
    label set from its first ``inc`` (``inc(0, ...)`` makes a known label set visible)."""

    type = "counter"

    def __init__(self, name: str, help: str, labelnames: Iterable[str] = ()) -> None:
        _check_name(name)
        super().__init__(name if name.endswith("_total") else f"{name}_total", help, labelnames)
        self._values: dict[LabelKey, float] = {} if self.labelnames else {(): 0.0}

    @property
    def claimed_names(self) -> frozenset[str]:
        return frozenset({self.name, self.name.removesuffix("_total")})

    def inc(self, amount: float = 1.0, **labels: Any) -> None:
        key = self._key(labels)
        amount = float(amount)
        if not amount >= 0.0:  # also rejects NaN
            raise ValueError(f"{self.name}: counters only go up (inc by {amount!r})")
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: Any) -> float:
        key = self._key(labels)
        with self._lock:
            return self._values.get(key, 0.0)

    def collect(self) -> list[Sample]:
        with self._lock:
            items = sorted(self._values.items())
        return [(self.name, self._pairs(k), v) for k, v in items]


class Gauge(_Metric):
    """A value that goes up and down.

    With ``fn``, the gauge is read from a live object at render time: ``fn()`` returns the
    value, or None for no sample; such a gauge takes no labels and cannot be ``set``. A
    labelled gauge fed at render time is declared plainly and fed by
    :meth:`Registry.add_collector`.
    """

    type = "gauge"

    def __init__(
        self,
        name: str,
        help: str,
        labelnames: Iterable[str] = (),
        *,
        fn: Callable[[], float | None] | None = None,
    ) -> None:
        super().__init__(name, help, labelnames)
        if fn is not None and self.labelnames:
            raise ValueError(
                f"{self.name}: a gauge with fn= takes no labels; use Registry.add_collector"
            )
        self.fn = fn
        self._values: dict[LabelKey, float] = {}

    def set(self, value: float, **labels: Any) -> None:
        if self.fn is not None:
            raise ValueError(f"{self.name}: this gauge is read from fn= at render time")
        key = self._key(labels)
        value = float(value)
        with self._lock:
            self._values[key] = value

    def inc(self, amount: float = 1.0, **labels: Any) -> None:
        if self.fn is not None:
            raise ValueError(f"{self.name}: this gauge is read from fn= at render time")
        key = self._key(labels)
        amount = float(amount)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def remove(self, **labels: Any) -> None:
        """Drop one label set (no error when absent)."""
        key = self._key(labels)
        with self._lock:
            self._values.pop(key, None)

    def clear(self) -> None:
        """Drop every label set, e.g. the per-feature values of a previous drift report."""
        with self._lock:
            self._values.clear()

    def value(self, **labels: Any) -> float | None:
        key = self._key(labels)
        with self._lock:
            return self._values.get(key)

    def collect(self) -> list[Sample]:
        if self.fn is not None:
            v = self.fn()  # outside the lock: fn may take locks of its own
            return [] if v is None else [(self.name, (), float(v))]
        with self._lock:
            items = sorted(self._values.items())
        return [(self.name, self._pairs(k), v) for k, v in items]


class Histogram(_Metric):
    """Observations counted into cumulative buckets (``value <= le``), plus their sum and count.

    `buckets` are the finite upper bounds, strictly increasing; ``+Inf`` is always added.
    A NaN observation raises ValueError (it would poison ``_sum`` forever).
    """

    type = "histogram"

    def __init__(
        self, name: str, help: str, buckets: Iterable[float], labelnames: Iterable[str] = ()
    ) -> None:
        super().__init__(name, help, labelnames)
        bounds = [float(b) for b in buckets]
        if bounds and bounds[-1] == math.inf:
            bounds.pop()
        if not bounds:
            raise ValueError(f"{self.name}: a histogram needs at least one finite bucket")
        if any(not math.isfinite(b) for b in bounds) or any(
            a >= b for a, b in zip(bounds, bounds[1:], strict=False)
        ):
            raise ValueError(f"{self.name}: buckets must be finite and strictly increasing")
        self.buckets = tuple(bounds)
        self._les = (*(format_value(b) for b in bounds), "+Inf")
        # per label set: [non-cumulative count per bucket incl. +Inf..., sum]
        self._values: dict[LabelKey, tuple[list[int], list[float]]] = (
            {} if self.labelnames else {(): self._empty()}
        )

    @staticmethod
    def _reserved() -> Sequence[str]:
        return ("le",)

    def _empty(self) -> tuple[list[int], list[float]]:
        return [0] * (len(self.buckets) + 1), [0.0]

    @property
    def claimed_names(self) -> frozenset[str]:
        return frozenset(
            {self.name, f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count"}
        )

    def observe(self, value: float, **labels: Any) -> None:
        key = self._key(labels)
        value = float(value)
        if math.isnan(value):
            raise ValueError(f"{self.name}: cannot observe NaN")
        i = bisect_left(self.buckets, value)  # first bound >= value; len(buckets) is +Inf
        with self._lock:
            entry = self._values.get(key)
            if entry is None:
                entry = self._values[key] = self._empty()
            entry[0][i] += 1
            entry[1][0] += value

    def collect(self) -> list[Sample]:
        with self._lock:
            items = sorted((k, (list(c), s[0])) for k, (c, s) in self._values.items())
        out: list[Sample] = []
        for key, (counts, total) in items:
            pairs = self._pairs(key)
            cumulative = 0
            for le, c in zip(self._les, counts, strict=True):
                cumulative += c
                out.append((f"{self.name}_bucket", (*pairs, ("le", le)), cumulative))
            out.append((f"{self.name}_sum", pairs, total))
            out.append((f"{self.name}_count", pairs, cumulative))
        return out


Metric = Counter | Gauge | Histogram


# -- registry ------------------------------------------------------------------------------------
class Registry:
    """Metric families in registration order, plus render-time collectors.

    A collector is ``fn() -> iterable of (metric_name, labels dict, value)``; each sample goes
    to the registered Gauge named `metric_name` (replacing a set value with the same labels).
    A collector that raises or returns an unknown gauge or a wrong label set is logged and its
    samples are left out of that render: a broken live object must not break ``/metrics``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._metrics: dict[str, Metric] = {}
        self._collectors: list[Callable[[], Iterable[Collected]]] = []

    def register(self, metric: Metric) -> Metric:
        with self._lock:
            taken = {n for m in self._metrics.values() for n in m.claimed_names}
            clash = metric.claimed_names & taken
            if clash:
                raise ValueError(f"{metric.name}: name(s) {sorted(clash)} already registered")
            self._metrics[metric.name] = metric
        return metric

    def counter(self, name: str, help: str, labelnames: Iterable[str] = ()) -> Counter:
        m = Counter(name, help, labelnames)
        self.register(m)
        return m

    def gauge(
        self,
        name: str,
        help: str,
        labelnames: Iterable[str] = (),
        *,
        fn: Callable[[], float | None] | None = None,
    ) -> Gauge:
        m = Gauge(name, help, labelnames, fn=fn)
        self.register(m)
        return m

    def histogram(
        self, name: str, help: str, buckets: Iterable[float], labelnames: Iterable[str] = ()
    ) -> Histogram:
        m = Histogram(name, help, buckets, labelnames)
        self.register(m)
        return m

    def get(self, name: str) -> Metric:
        """A registered family by name (counters by their ``_total`` name)."""
        with self._lock:
            m = self._metrics.get(name) or self._metrics.get(f"{name}_total")
        if m is None:
            raise KeyError(name)
        return m

    def add_collector(self, fn: Callable[[], Iterable[Collected]]) -> None:
        with self._lock:
            self._collectors.append(fn)

    def _collected(self, metrics: dict[str, Metric]) -> dict[str, dict[LabelKey, float]]:
        out: dict[str, dict[LabelKey, float]] = {}
        with self._lock:
            collectors = list(self._collectors)
        for fn in collectors:
            try:
                got: list[tuple[str, LabelKey, float]] = []
                for name, labels, value in fn():
                    m = metrics.get(name)
                    if not isinstance(m, (Gauge, Counter)):
                        raise ValueError(f"{name!r} is not a registered gauge or counter")
                    got.append((name, m._key(labels), float(value)))
            except Exception:
                log.exception("metrics collector %r failed; its samples are left out", fn)
                continue
            for name, key, value in got:
                out.setdefault(name, {})[key] = value
        return out

    def render(self) -> str:
        """The whole registry in the text exposition format 0.0.4."""
        with self._lock:
            metrics = dict(self._metrics)
        extra = self._collected(metrics)
        lines: list[str] = []
        for m in metrics.values():
            try:
                samples = m.collect()
            except Exception:  # a Gauge fn= reading a live object
                log.exception("metric %s failed to collect; left out", m.name)
                samples = []
            if m.name in extra:
                assert isinstance(m, (Gauge, Counter))
                by_key = {tuple(v for _, v in pairs): (n, pairs, v) for n, pairs, v in samples}
                for key, value in extra[m.name].items():
                    by_key[key] = (m.name, m._pairs(key), value)
                samples = [by_key[k] for k in sorted(by_key)]
            lines.append(f"# HELP {m.family} {escape_help(m.help)}")
            lines.append(f"# TYPE {m.family} {m.type}")
            for name, pairs, value in samples:
                if pairs:
                    inner = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in pairs)
                    lines.append(f"{name}{{{inner}}} {format_value(value)}")
                else:
                    lines.append(f"{name} {format_value(value)}")
        return "\n".join(lines) + "\n" if lines else ""


# -- the service's families ----------------------------------------------------------------------
REQUEST_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
COMMIT_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip
RETRAIN_OUTCOMES = ("promoted", "rejected", "failed")
PREDICTION_OUTCOMES = ("ok", "invalid", "error")
_CYCLE_GAUGES = (
    ("drift_share", "selfheal_drift_share"),
    ("live_f1", "selfheal_live_f1"),
    ("estimated_f1", "selfheal_estimated_f1"),
    ("estimated_f1_low", "selfheal_estimated_f1_low"),
    ("estimated_f1_high", "selfheal_estimated_f1_high"),
)


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


class ServiceMetrics(Registry):
    """The service's registry (see :func:`build_registry`) with one helper per code path.

    The helpers never validate business values beyond what the metrics need, and take
    plain values so the calling modules need not import anything but this class.
    """

    def __init__(
        self,
        *,
        queue_depth: Callable[[], float | None] | None = None,
        production: Callable[[], Mapping[str, Any] | None] | None = None,
        audit: Callable[[], Mapping[str, Mapping[str, int]]] | None = None,
    ) -> None:
        super().__init__()
        self.predictions = self.counter(
            "selfheal_predictions_total",
            "Predictions answered, by model version and outcome (ok | invalid | error).",
            ("model_version", "outcome"),
        )
        self.request_duration = self.histogram(
            "selfheal_request_duration_seconds",
            "HTTP request latency in seconds, by route template.",
            REQUEST_BUCKETS,
            ("route",),
        )
        self.http_requests = self.counter(
            "selfheal_http_requests_total",
            "HTTP requests answered, by route template and status code.",
            ("route", "status"),
        )
        self.batch_size = self.histogram(
            "selfheal_batch_size",
            "Rows scored per writer pipeline batch (group commit).",
            BATCH_BUCKETS,
        )
        self.commit_seconds = self.histogram(
            "selfheal_writer_commit_seconds",
            "Seconds per writer group commit (insert + COMMIT).",
            COMMIT_BUCKETS,
        )
        self.queue_depth = self.gauge(
            "selfheal_writer_queue_depth",
            "Records waiting in the writer queue, read at scrape time.",
            fn=queue_depth,
        )
        self.drift_share = self.gauge(
            "selfheal_drift_share", "Share of drifted features in the latest monitor report."
        )
        self.dataset_drift = self.gauge(
            "selfheal_dataset_drift",
            "1 when the latest monitor report found dataset drift, else 0.",
        )
        self.feature_effect_size = self.gauge(
            "selfheal_feature_effect_size",
            "Per-feature drift effect size in the latest monitor report, by effect measure.",
            ("feature", "effect"),
        )
        self.feature_drifted = self.gauge(
            "selfheal_feature_drifted",
            "1 when the feature drifted in the latest monitor report, 0 when stable.",
            ("feature",),
        )
        self.feature_missing_share = self.gauge(
            "selfheal_feature_missing_share",
            "Per-feature share of missing values, in the latest monitor window and in the "
            "reference (side).",
            ("feature", "side"),
        )
        self.feature_missing_drifted = self.gauge(
            "selfheal_feature_missing_drifted",
            "1 when the feature's share of missing values moved away from the reference's in "
            "the latest monitor report, 0 when it did not.",
            ("feature",),
        )
        self.live_f1 = self.gauge("selfheal_live_f1", "F1 on labelled live traffic, latest cycle.")
        self.estimated_f1 = self.gauge(
            "selfheal_estimated_f1", "Label-free estimated F1 of live traffic, latest cycle."
        )
        self.estimated_f1_low = self.gauge(
            "selfheal_estimated_f1_low", "Lower end of the estimated F1 band, latest cycle."
        )
        self.estimated_f1_high = self.gauge(
            "selfheal_estimated_f1_high", "Upper end of the estimated F1 band, latest cycle."
        )
        self.monitor_cycles = self.counter(
            "selfheal_monitor_cycles_total", "Monitor cycles run, by report status.", ("status",)
        )
        # Read from the audit tables at scrape time: every process's runs, promotions and
        # rollbacks (the CLI's, another server's) count, and a restart loses none.
        self.retrains = self.counter(
            "selfheal_retrains_total",
            "Retrain runs finished, by outcome (promoted | rejected | failed), from the "
            "database: every process's runs.",
            ("outcome",),
        )
        for outcome in RETRAIN_OUTCOMES:
            self.retrains.inc(0, outcome=outcome)
        self.promotions = self.counter(
            "selfheal_promotions_total",
            "Promotions to production, by actor (cli | api | monitor | init ...), from the "
            "database: every process's.",
            ("actor",),
        )
        self.rollbacks = self.counter(
            "selfheal_rollbacks_total",
            "Production rollbacks, by actor, from the database: every process's.",
            ("actor",),
        )
        if audit is not None:
            self.add_collector(lambda: _audit_samples(audit()))
        self.model_info = self.gauge(
            "selfheal_model_info", "1 for the production model version.", ("version",)
        )
        self.model_promoted = self.gauge(
            "selfheal_model_promoted_timestamp_seconds",
            "Unix time the production version was promoted (or rolled back to).",
        )
        if production is not None:
            self.add_collector(lambda: _production_samples(production()))

    # -- helpers, one per code path ------------------------------------------------------------
    def observe_request(self, route: str, status: int | str, seconds: float) -> None:
        """After each HTTP response; `route` is the URL rule (bounded), not the raw path."""
        self.http_requests.inc(route=route, status=status)
        self.request_duration.observe(max(0.0, seconds), route=route)

    def observe_predictions(self, version: str | None, n: int, outcome: str = "ok") -> None:
        """After a prediction request: `n` records of `version` ended as `outcome`."""
        if n > 0:
            self.predictions.inc(n, model_version=version or "none", outcome=outcome)

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
        self.monitor_cycles.inc(status=status)
        if status == "error":
            return
        for key, name in _CYCLE_GAUGES:
            _set_or_clear(self.get(name), summary.get(key))
        dd = summary.get("dataset_drift")
        _set_or_clear(self.dataset_drift, None if dd is None else float(bool(dd)))
        if features is None:
            features = summary.get("features") or ()
        rows = [(f.get("feature") or f.get("name"), f) for f in features]
        for g in (
            self.feature_effect_size,
            self.feature_drifted,
            self.feature_missing_share,
            self.feature_missing_drifted,
        ):
            g.clear()
        for feature, f in rows:
            if feature is None:
                continue
            for side, key in (
                ("window", "missing_share"),
                ("reference", "missing_share_reference"),
            ):
                if f.get(key) is not None:
                    self.feature_missing_share.set(float(f[key]), feature=feature, side=side)
            if f.get("missing_drifted") is not None:
                self.feature_missing_drifted.set(float(bool(f["missing_drifted"])), feature=feature)
            if f.get("effect_size") is not None:
                self.feature_effect_size.set(
                    f["effect_size"], feature=feature, effect=f.get("effect_name") or "unknown"
                )
            if f.get("drifted") is not None:
                self.feature_drifted.set(float(bool(f["drifted"])), feature=feature)


def _set_or_clear(gauge: Metric, value: Any) -> None:
    assert isinstance(gauge, Gauge)
    if value is None:
        gauge.clear()
    else:
        gauge.set(float(value))


def _production_samples(pointer: Mapping[str, Any] | None) -> list[Collected]:
    if not pointer or not pointer.get("version"):
        return []
    out: list[Collected] = [("selfheal_model_info", {"version": str(pointer["version"])}, 1.0)]
    ts = _timestamp(pointer.get("promoted_at"))
    if ts is not None:
        out.append(("selfheal_model_promoted_timestamp_seconds", {}, ts))
    return out


def _audit_samples(counts: Mapping[str, Mapping[str, int]]) -> list[Collected]:
    """`{"retrains": {outcome: n}, "promotions": {actor: n}, "rollbacks": {actor: n}}` (as
    `store.audit_counts` returns) as counter samples."""
    out: list[Collected] = []
    for family, label in (
        ("selfheal_retrains_total", "outcome"),
        ("selfheal_promotions_total", "actor"),
        ("selfheal_rollbacks_total", "actor"),
    ):
        key = family.removeprefix("selfheal_").removesuffix("_total")
        for value, n in (counts.get(key) or {}).items():
            out.append((family, {label: str(value or "unknown")}, float(n)))
    return out


def build_registry(
    *,
    queue_depth: Callable[[], float | None] | None = None,
    production: Callable[[], Mapping[str, Any] | None] | None = None,
    audit: Callable[[], Mapping[str, Mapping[str, int]]] | None = None,
) -> ServiceMetrics:
    """The service's registry with every family of the public contract registered.

    ``queue_depth()`` feeds ``selfheal_writer_queue_depth`` (e.g. ``lambda: writer.depth``);
    ``production()`` returns the production pointer (``{"version", "promoted_at", ...}``, e.g.
    ``registry.pointer``) and feeds ``selfheal_model_info{version}`` and
    ``selfheal_model_promoted_timestamp_seconds``. ``audit()`` returns the counts of the
    audit tables (`store.audit_counts`) and feeds ``selfheal_retrains_total``,
    ``selfheal_promotions_total`` and ``selfheal_rollbacks_total``. All are read at render
    time.
    """
    return ServiceMetrics(queue_depth=queue_depth, production=production, audit=audit)


# -- storage: the WAL and the writer's checkpoints (docs/architecture.md, "Durability") ----------
# Kept apart from `build_registry`'s contract: the service adds them with its writer at hand.
WAL_FAMILIES = (
    "selfheal_wal_bytes",
    "selfheal_wal_high_water_bytes",
    "selfheal_wal_checkpoints_total",
)


def add_storage_metrics(
    registry: Registry,
    *,
    wal_bytes: Callable[[], float | None],
    wal_high_water: Callable[[], float | None],
    checkpoints: Callable[[], Mapping[tuple[str, str], int]],
) -> None:
    """Register the WAL gauges and the checkpoint counter on `registry`, all read at
    scrape time: ``wal_bytes()`` (the -wal file's size now, e.g. ``db.wal_size``),
    ``wal_high_water()`` (the largest size the writer saw after a commit) and
    ``checkpoints()`` (``{(reason, result): n}``, e.g. ``writer.stats.checkpoints``)."""
    registry.gauge(
        "selfheal_wal_bytes",
        "Size of the SQLite -wal file in bytes, read at scrape time.",
        fn=wal_bytes,
    )
    registry.gauge(
        "selfheal_wal_high_water_bytes",
        "Largest -wal file size in bytes the writer saw after a commit since this process "
        "started (bounded by SELFHEAL_WAL_MAX_MIB plus one batch).",
        fn=wal_high_water,
    )
    registry.counter(
        "selfheal_wal_checkpoints_total",
        "TRUNCATE checkpoints run by the writer, by reason (bound: the -wal file passed "
        "SELFHEAL_WAL_MAX_MIB; idle: no work for a second) and result (ok | busy | error).",
        ("reason", "result"),
    )

    def samples() -> list[Collected]:
        return [
            ("selfheal_wal_checkpoints_total", {"reason": reason, "result": result}, float(n))
            for (reason, result), n in dict(checkpoints()).items()
        ]

    registry.add_collector(samples)
