"""The monitor: every `SELFHEAL_MONITOR_INTERVAL` seconds, judge the recent traffic.

One cycle (`run_once(now=...)`, what tests call):

1. check an active probation (the healer may roll back);
2. read the newest production predictions of the serving version (a count window, and a
   time window when `SELFHEAL_MONITOR_WINDOW_MINUTES` is set);
3. test them for drift against the version's stored reference sketch, estimate F1 without
   labels (CBPE) and measure it with the labels that have arrived;
4. observe: turn all of that into a plain `selfheal.policy.Observation`;
5. decide: `selfheal.policy.decide` picks the trigger (labeled F1, drift, estimated F1) and
   whether a retrain may start now (probation, single flight, the evidence-driven
   cooldown; the rule is in that module and in docs/evaluation_gates.md);
6. act: start the retrain and record the cycle in `drift_reports` and
   `drift_feature_results`.

A failing cycle is logged, recorded as status `error` and survived; `/health` shows it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from selfheal import (
    db,
    store,
)
from selfheal.binary_metrics import f1_interval
from selfheal.config import Settings
from selfheal.db import iso, parse_time, utcnow
from selfheal.drift import SCORE_NAME, DriftReport, ReferenceSketch, detect
from selfheal.errors import NoModelError, cli
from selfheal.frames import rows_to_frame
from selfheal.healer import Healer, Write
from selfheal.performance import (
    Calibrator,
    LabeledMetrics,
    PerformanceEstimate,
    estimate_performance,
    labeled_metrics,
    proxy_metrics,
)
from selfheal.policy import LastRun, Observation, PolicyState, decide
from selfheal.registry import LoadedModel, Registry

log = logging.getLogger("selfheal.monitor")


def f1_upper_bound(
    y: np.ndarray,
    proba: np.ndarray,
    threshold: float,
    *,
    confidence: float,
    n_boot: int = 1000,
    seed: int = 0,
) -> float:
    """Upper end of the two-sided `confidence` bootstrap interval of live F1 at `threshold`
    (`binary_metrics.f1_interval`: a multinomial draw over the confusion cells)."""
    _, high = f1_interval(y, proba >= threshold, n_boot=n_boot, seed=seed, alpha=1.0 - confidence)
    return high


@dataclass
class _Measured:
    """One cycle's observations: the report row being built, per-feature rows, and the
    objects behind them (None when the window is empty or too small)."""

    row: dict[str, Any]
    features: list[dict[str, Any]] = field(default_factory=list)
    report: DriftReport | None = None
    estimate: PerformanceEstimate | None = None
    live: LabeledMetrics | None = None
    frame: pd.DataFrame | None = None
    scores: np.ndarray | None = None


class Monitor:
    """Owns the monitor cycle: observe the serving version's window (drift against its
    reference sketch, the CBPE estimate, labeled metrics), ask `selfheal.policy.decide`, act
    (start a retrain through the healer), and record the cycle (`drift_reports`, the HTML
    report, the `on_cycle` observers such as /metrics).

    Runs in its own `selfheal-monitor` thread every SELFHEAL_MONITOR_INTERVAL seconds in the
    server (`start`/`stop`), or once from the CLI and tests (`run_once(now=...)`, time
    injected). A cycle that fails is recorded with status `error` and reported by `health`;
    it never stops the thread.
    """

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        healer: Healer,
        *,
        read_conn: Callable[[], db.Connection],
        write: Write,
        background_retrain: bool = True,
        on_cycle: Callable[[dict[str, Any], list[dict[str, Any]]], None] | None = None,
        reports_dir: Path | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.healer = healer
        self.read_conn = read_conn
        self.write = write
        self.background_retrain = background_retrain
        self.on_cycle = on_cycle
        self.reports_dir = reports_dir
        self._sketches: dict[str, tuple[ReferenceSketch, float]] = {}
        self._stop = threading.Event()
        self._cycle_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.cycles = 0
        self.failures = 0
        self.last_cycle_at: str | None = None
        self.last_error: str | None = None
        self.last_summary: dict[str, Any] | None = None
        # The leader lease (selfheal/leader.py): None runs every cycle (the CLI, tests);
        # a server's monitor thread runs cycles only while its process holds the lease.
        self.lease: Any = None
        self.on_lead: Callable[[], None] | None = None  # called when the lease is taken
        self._leading = False
        self._holder: tuple[float, dict[str, Any] | None] = (0.0, None)

    # -- thread --------------------------------------------------------------------------
    def start(self) -> Monitor:
        self.lead()  # take the lease at once if it is free, so /health names a leader
        self._thread = threading.Thread(target=self._loop, name="selfheal-monitor", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.healer.stop(timeout)
        if self.lease is not None:
            self.lease.release()
            self._leading = False

    def lead(self) -> bool:
        """Whether this process may run cycles now: it holds the lease, or took it just now
        (then `on_lead` runs first: the previous leader's unfinished retrain runs are
        recorded as failed). Always True without a lease."""
        if self.lease is None:
            return True
        try:
            got = bool(self.lease.try_acquire())
        except Exception as exc:  # a follower keeps serving whatever the lease does
            log.warning("leader lease check failed: %s", exc)
            got = False
        if got and not self._leading:
            log.info("this process took the leader lease: it runs the monitor and the healer")
            if self.on_lead is not None:
                try:
                    self.on_lead()
                except Exception:
                    log.exception("taking the lead: the start-up work failed")
        elif self._leading and not got:
            log.warning("this process lost the leader lease; another process runs the monitor")
        self._leading = got
        return got

    def leader(self) -> dict[str, Any]:
        """For /health: whether this process leads, and who does (cached for 2 s: it may
        cost PostgreSQL a connection)."""
        from selfheal.leader import identity

        if self.lease is None:
            return {"this_process": True, "process": identity(), "holder": None, "lease": "none"}
        at, holder = self._holder
        if time.monotonic() - at > 2.0:
            try:
                holder = self.lease.holder()
            except Exception:
                holder = None
            self._holder = (time.monotonic(), holder)
        return {
            "this_process": bool(self.lease.held),
            "process": identity(),  # which process answered (one of several workers)
            "holder": holder,
            "lease": "advisory_lock" if type(self.lease).__name__ == "PgLease" else "flock",
        }

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        # A follower checks the lease at each tick: a dead leader is replaced within one
        # monitor interval.
        while not self._stop.wait(self.settings.monitor_interval):
            if self.lead():
                self.run_once()

    def health(self) -> dict[str, Any]:
        alive = self.alive or self._thread is None
        return {
            "ok": alive and self.last_error is None,
            "enabled": self._thread is not None,
            "alive": self.alive,
            "cycles": self.cycles,
            "failures": self.failures,
            "last_cycle_at": self.last_cycle_at,
            "last_error": self.last_error,
            "retrain_running": self.healer.running,
            "interval_seconds": self.settings.monitor_interval,
            "leader": self.leader(),
        }

    # -- one cycle -----------------------------------------------------------------------
    def run_once(self, now: datetime | None = None) -> dict[str, Any]:
        """One monitor cycle at time `now`; never raises. Cycles of one process never
        overlap (the thread and POST /monitoring/run share a lock): two at once would both
        count the same drifting cycle towards the consecutive-drift trigger."""
        with self._cycle_lock:
            return self._run_once(now)

    def _run_once(self, now: datetime | None) -> dict[str, Any]:
        now = now or utcnow()
        self.cycles += 1
        self.last_cycle_at = iso(now)
        try:
            summary = self._cycle(now)
            self.last_error = None
        except Exception as exc:
            self.failures += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("monitor cycle failed")
            if self.on_cycle is not None:
                try:
                    self.on_cycle({"status": "error"}, [])
                except Exception:
                    log.exception("monitor cycle hook failed")
            summary = {
                "status": "error",
                "error": self.last_error,
                "created_at": iso(now),
                "decision": "none",
            }
            try:
                row = {
                    "created_at": iso(now),
                    "model_version": self.registry.production(),
                    "status": "error",
                    "error": self.last_error,
                }
                self.write(lambda c: store.insert_drift_report(c, row))
            except Exception:  # the database may be the failing part
                log.exception("could not record the failed cycle")
        self.last_summary = summary
        return summary

    def _sketch(self, version: str) -> tuple[ReferenceSketch, float]:
        """The version's sketch and the label-free F1 estimate on its own reference scores
        (the baseline for the estimated-F1 trigger), computed once per version."""
        if version not in self._sketches:
            meta = self.registry.verify(version)
            sketch = ReferenceSketch.load(self.registry.sketch_path(version))
            _, ref_scores = self.registry.reference(version)
            calib = Calibrator.from_dict(meta["calibrator"])
            base = estimate_performance(
                calib, ref_scores, float(meta.get("threshold", 0.5)), seed=self.settings.seed
            ).f1
            self._sketches[version] = (sketch, base)
        return self._sketches[version]

    def _cycle(self, now: datetime) -> dict[str, Any]:
        """Observe the window, let the policy decide, act, and record the cycle."""
        probation = self.healer.check_probation(now)
        self._prune(now)
        version = self.registry.production()
        if version is None:
            raise NoModelError(f"no production model to monitor; run `{cli('init')}`")
        model = self.registry.load(version)
        sketch, baseline_f1 = self._sketch(version)
        rows = self._window(version, now)
        # Rows logged through /monitoring/predictions were validated against this schema:
        # their features are live traffic too. Their scores and decisions are another
        # model's, so the score test, CBPE and the labeled metrics read the serving
        # version's own rows only.
        own = [r for r in rows if r["role"] == "production"]
        m = self._measure(model, sketch, rows, own, now)
        # The labeled trigger's baseline: the cross-validated F1 when known (see training).
        expected_f1 = model.meta["metrics"].get("cv_f1") or model.meta["metrics"].get("f1")
        obs = self._observe(
            version, m.row, m.report, m.estimate, m.live, baseline_f1, own, expected_f1
        )
        choice = decide(obs, self._state(now, probation, rows), self.settings.policy_config())
        decision, run_id = choice.action, None
        if decision == "retrain":
            assert choice.trigger is not None
            decision, run_id = self.healer.request(
                choice.trigger,
                {"triggers": choice.triggers, "model_version": version, "why": choice.reason},
                actor="monitor",
                now=now,
                background=self.background_retrain,
            )
        if probation is not None and probation.get("status") == "rolled_back":
            decision = "rolled_back"
        m.row.update(
            decision=decision,
            trigger=choice.trigger,
            retrain_run_id=run_id,
            report={
                "drift": m.report.to_dict() if m.report else None,
                "estimate": m.estimate.to_dict() if m.estimate else None,
                "live": m.live.to_dict() if m.live else None,
                "baseline_estimated_f1": baseline_f1,
                "triggers": choice.triggers,
                "probation": probation,
                "decision_reason": choice.reason,
                "n_external": len(rows) - len(own),
            },
        )
        return self._record(m, sketch, version, now, probation, choice.triggers, choice.reason)

    def _prune(self, now: datetime) -> None:
        """Retention: drop predictions older than SELFHEAL_RETENTION_DAYS (0 keeps all)."""
        days = self.settings.retention_days
        if days > 0:
            cutoff = iso(now - timedelta(days=days))
            pruned = self.write(lambda c: store.prune(c, cutoff))
            if any(pruned.values()):
                log.info("retention: pruned %s older than %s", pruned, cutoff)

    def _window(self, version: str, now: datetime) -> list[db.Row]:
        """The newest rows `version` served (and the external ones) in its current stint
        and within SELFHEAL_MONITOR_WINDOW_MINUTES, newest first."""
        s = self.settings
        conn = self.read_conn()
        since = (
            iso(now - timedelta(minutes=s.monitor_window_minutes))
            if s.monitor_window_minutes > 0
            else None
        )
        # Only the version's current stint: after a rollback to it, or a recall, the rows it
        # served long ago (on another concept) say nothing about how it does now.
        stint = store.stint_start(conn, version)
        if stint is not None and (since is None or stint > since):
            since = stint
        return store.monitor_window(
            conn, version, limit=s.monitor_window, since=since, until=iso(now)
        )

    def _measure(
        self,
        model: LoadedModel,
        sketch: ReferenceSketch,
        rows: list[db.Row],
        own: list[db.Row],
        now: datetime,
    ) -> _Measured:
        """The window's statistics: drift against the reference, the label-free estimate
        and the labeled metrics of the version's own rows, as the cycle's report row."""
        s = self.settings
        m = _Measured(
            row={
                "created_at": iso(now),
                "model_version": model.version,
                "n_window": len(rows),
                "n_reference": None,
                "holdout_f1": model.meta["metrics"].get("f1"),
            }
        )
        if not rows:
            m.row.update(status="insufficient_data", dataset_drift=0)
            return m
        m.frame = rows_to_frame(rows, model.schema)
        m.scores = np.array([r["probability"] for r in own], dtype=np.float64)
        report = m.report = detect(sketch, m.frame, m.scores if own else None, s.drift_config())
        m.row.update(
            window_from=rows[-1]["created_at"],
            window_to=rows[0]["created_at"],
            out_of_range_rows=sum(1 for r in rows if r["out_of_range"]),
            n_reference=report.n_reference,
        )
        if own:
            proxies = proxy_metrics(m.scores, model.threshold)
            m.row.update(
                positive_rate=proxies.positive_rate, mean_probability=proxies.mean_probability
            )
        if len(own) >= s.drift_min_window:
            calib = Calibrator.from_dict(model.meta["calibrator"])
            m.estimate = estimate_performance(calib, m.scores, model.threshold, seed=s.seed)
            m.row.update(
                estimated_f1=m.estimate.f1,
                estimated_f1_low=m.estimate.f1_low,
                estimated_f1_high=m.estimate.f1_high,
            )
        labeled = [r for r in own if r["label"] is not None]
        m.row["n_labeled"] = len(labeled)
        if labeled:
            y = np.array([r["label"] for r in labeled], dtype=np.int64)
            p = np.array([r["probability"] for r in labeled], dtype=np.float64)
            m.live = labeled_metrics(y, p, model.threshold)
            m.row.update(live_f1=m.live.f1, live_auc=m.live.auc, live_brier=m.live.brier)
        m.row.update(
            status=report.status,
            dataset_drift=int(report.dataset_drift),
            drift_share=report.drift_share,
            score_drift=(
                None
                if report.score is None or report.score.drifted is None
                else int(report.score.drifted)
            ),
        )
        for f in [*report.features, *([report.score] if report.score else [])]:
            d = f.to_dict()
            d["feature"] = d.pop("name", SCORE_NAME)
            for flag in ("drifted", "missing_drifted"):
                d[flag] = None if d.get(flag) is None else int(d[flag])
            m.features.append(d)
        return m

    def _record(
        self,
        m: _Measured,
        sketch: ReferenceSketch,
        version: str,
        now: datetime,
        probation: dict[str, Any] | None,
        triggers: Any,
        reason: str,
    ) -> dict[str, Any]:
        """Write the cycle's report row and HTML report, tell the observers, log a line;
        returns the cycle's summary."""
        row, features = m.row, m.features
        report_id = self.write(lambda c: store.insert_drift_report(c, row, features))
        summary = {k: v for k, v in row.items() if k != "report"}
        summary.update(
            id=report_id,
            triggers=triggers,
            probation=probation,
            drifted_features=[f["feature"] for f in features if f.get("drifted")],
            decision_reason=reason,
        )
        if m.report is not None and self.reports_dir is not None:
            try:  # the HTML report is a view: its failure must never fail the cycle
                summary["report_path"] = str(
                    self._write_report(sketch, m.frame, m.scores, m.report, version, now, row)
                )
            except Exception:
                log.exception("writing the drift report failed")
        if self.on_cycle is not None:
            try:
                self.on_cycle(summary, features)
            except Exception:  # an observer (metrics) must never fail the cycle
                log.exception("monitor cycle hook failed")
        log.info(
            "monitor cycle: %s %s n=%d drift_share=%s decision=%s%s",
            version,
            row["status"],
            row["n_window"],
            row.get("drift_share"),
            row["decision"],
            f" ({row['trigger']})" if row.get("trigger") else "",
        )
        return summary

    def _write_report(
        self,
        sketch: ReferenceSketch,
        frame: Any,
        scores: Any,
        report: Any,
        version: str,
        now: datetime,
        row: dict[str, Any],
    ) -> Path:
        from selfheal.report import build_report, write_report

        assert self.reports_dir is not None
        extra = {
            k: row[k]
            for k in (
                "estimated_f1",
                "estimated_f1_low",
                "estimated_f1_high",
                "live_f1",
                "n_labeled",
                "positive_rate",
                "mean_probability",
            )
            if row.get(k) is not None
        }
        html = build_report(
            sketch,
            frame,
            scores,
            report,
            model_version=version,
            generated_at=iso(now),
            extra=extra,
            title=f"Drift report: {version}",
        )
        return write_report(html, self.reports_dir, iso(now))

    def _observe(
        self,
        version: str,
        row: dict[str, Any],
        report: Any,
        estimate: Any,
        live: Any,
        baseline_f1: float,
        rows: list[db.Row],
        expected_f1: float | None,
    ) -> Observation:
        """The window as plain values (`selfheal.policy.Observation`)."""
        drift_cycles = 0
        if report is not None and report.dataset_drift:
            drift_cycles = store.consecutive_drift(self.read_conn(), version) + 1
        upper = None
        if live is not None and live.f1 is not None:
            labeled = [r for r in rows if r["label"] is not None]
            y = np.array([r["label"] for r in labeled], dtype=np.int64)
            p = np.array([r["probability"] for r in labeled], dtype=np.float64)
            upper = f1_upper_bound(
                y, p, float(labeled[0]["threshold"]), confidence=0.90, seed=self.settings.seed
            )
        return Observation(
            version=version,
            n_window=int(row.get("n_window") or 0),
            dataset_drift=bool(report is not None and report.dataset_drift),
            drift_cycles=drift_cycles,
            drift_share=None if report is None else report.drift_share,
            drifted=tuple(f.name for f in report.features if f.drifted) if report else (),
            score_drifted=bool(report is not None and report.score and report.score.drifted),
            estimated_f1=None if estimate is None else estimate.f1,
            estimated_f1_band=None if estimate is None else (estimate.f1_low, estimate.f1_high),
            reference_estimated_f1=baseline_f1,
            n_labels=0 if live is None else live.n,
            live_f1=None if live is None else live.f1,
            live_f1_upper=upper,
            expected_f1=expected_f1,
            holdout_f1=row.get("holdout_f1"),
        )

    def _state(
        self, now: datetime, probation: dict[str, Any] | None, rows: list[db.Row]
    ) -> PolicyState:
        """What the policy needs to know besides the window: probation, single flight and
        the retrain history behind the cooldown. New labels are counted in this window only
        (labeled rows logged after the previous run's data cutoff): labels of rows another
        version served, before a rollback say, are no evidence about the serving one."""
        history = store.policy_history(self.read_conn())
        last = history["last_run"]
        cutoff = 0 if last is None else int(last["data_cutoff_seq"] or 0)
        new_labels = sum(1 for r in rows if r["label"] is not None and int(r["seq"]) > cutoff)
        return PolicyState(
            now=now,
            # A rollback this cycle counts too: the window still holds the rows that led to
            # the rolled-back retrain, which are no evidence for another one.
            probation_active=probation is not None
            and probation.get("status") in ("active", "rolled_back"),
            auto_retrain=self.settings.auto_retrain,
            retrain_running=self.healer.running,
            last_run=None
            if last is None
            else LastRun(
                id=int(last["id"]),
                status=str(last["status"]),
                started_at=parse_time(last["started_at"]),
                trained=last["stage"] != "data",
                labels_since=new_labels,
            ),
            unpromoted_streak=int(history["unpromoted_streak"]),
            last_trained_at=_time(history["last_trained_at"]),
            last_rollback_at=_time(history["last_rollback_at"]),
        )


def _time(text: str | None) -> datetime | None:
    return None if text is None else parse_time(text)
