"""Judging a challenger: the four gates on the same holdout for both models, and the
sentence that records the verdict. Evaluating only reads (the models' scores, the latest
live rows); acting on the verdict (register, promote, reject) is the healer's.

The gates themselves are in `selfheal.gates` (docs/evaluation_gates.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from selfheal import (
    db,
    store,
)
from selfheal.db import iso
from selfheal.errors import DataError
from selfheal.frames import matching_rows, rows_to_frame
from selfheal.gates import (
    GateConfig,
    GateResult,
    consistency_gate,
    data_quality_gate,
    stability_gate,
    statistical_gate,
    summarize,
)
from selfheal.registry import LoadedModel
from selfheal.retrain import MIN_LIVE_HOLDOUT
from selfheal.schema import FeatureSchema
from selfheal.training import TrainResult

if TYPE_CHECKING:
    from selfheal.healer import TrainingSet


@dataclass
class Judgement:
    """The gates' verdict on one challenger: every gate's result (data quality,
    statistical, stability, consistency, in that order), whether all passed, and the
    reason recorded with the run and the version."""

    gates: list[GateResult]
    passed: bool
    reason: str

    def gate_dicts(self) -> list[dict[str, Any]]:
        return [g.to_dict() for g in self.gates]


def rejection_reason(trigger: str, verdict: dict[str, Any]) -> str:
    """The audit sentence of a rejection, cause first: the failing gates with their
    reasons, then the names of the gates that passed (their full text is in
    `gate_results`), e.g. "drift: rejected by statistical: F1 gain -0.006 < 0.01 ...;
    passed: data_quality, stability, consistency"."""
    failed = set(verdict["failed"])
    causes = [line for line in verdict["reasons"] if line.split(":", 1)[0] in failed]
    passed = [r["name"] for r in verdict["results"] if r["name"] not in failed]
    text = f"{trigger}: rejected by " + "; ".join(causes)
    return text + (f"; passed: {', '.join(passed)}" if passed else "")


def evaluate(
    result: TrainResult,
    schema: FeatureSchema,
    ts: TrainingSet,
    champion: LoadedModel,
    *,
    config: GateConfig,
    read_conn: Callable[[], db.Connection],
    trigger: str,
    now: datetime,
    dq: GateResult | None,
    holdout_from: TrainingSet | None = None,
) -> Judgement:
    """Run the four gates on the same holdout for both models.

    A retrained challenger is judged on its own holdout (`result.holdout_index` of `ts`).
    An outside one (`holdout_from`, e.g. `selfheal train --challenge`) is judged on the
    newest labeled live rows, and its data quality on its own reference sample when `dq`
    is None. Raises DataError when there are too few labeled live rows for that."""
    if holdout_from is not None:
        if holdout_from.holdout_index is None:
            raise DataError(
                f"need at least {MIN_LIVE_HOLDOUT} labeled live rows to judge a "
                "challenger; send labels first (make send-labels)"
            )
        hold = holdout_from.frame.iloc[holdout_from.holdout_index].reset_index(drop=True)
        y_h = holdout_from.y[holdout_from.holdout_index]
        chall_p = np.asarray(
            result.pipeline.predict_proba(schema.frame_to_matrix(hold))[:, 1], dtype=np.float64
        )
        if dq is None:
            dq = data_quality_gate(
                result.reference[schema.names],
                result.reference[schema.target].to_numpy(),
                config=config,
            )
    else:
        idx = result.holdout_index
        hold = ts.frame.iloc[idx].reset_index(drop=True)
        y_h = ts.y[idx]
        chall_p = result.reference_scores
    assert dq is not None
    champ_p = champion.predict_proba(champion.schema.frame_to_matrix(hold))
    stat = statistical_gate(
        y_h,
        chall_p,
        champ_p,
        threshold=result.threshold,
        champion_threshold=champion.threshold,
        config=config,
    )
    stab = stability_gate(
        hold,
        y_h,
        chall_p,
        champ_p,
        numeric=schema.numeric,
        categorical=schema.categorical,
        threshold=result.threshold,
        champion_threshold=champion.threshold,
        config=config,
    )
    cons = consistency(
        result, schema, champion, ts, chall_p, now, config=config, read_conn=read_conn
    )
    gates = [dq, stat, stab, cons]
    verdict = summarize(gates)
    if verdict["passed"]:
        reason = (
            f"{trigger}: all gates passed; holdout F1 {stat.values['challenger_f1']:.3f}"
            f" vs champion {champion.version} {stat.values['champion_f1']:.3f}"
        )
    else:
        reason = rejection_reason(trigger, verdict)
    return Judgement(gates=gates, passed=bool(verdict["passed"]), reason=reason)


def consistency(
    result: TrainResult,
    schema: FeatureSchema,
    champion: LoadedModel,
    ts: TrainingSet,
    holdout_p: np.ndarray,
    now: datetime,
    *,
    config: GateConfig,
    read_conn: Callable[[], db.Connection],
) -> GateResult:
    """Consistency on the latest live rows (or the holdout when there is no traffic):
    those logged since the holdout began, when there are 200 of them, so the positive
    rate is compared with the label rate of the same stretch of time."""
    rows = store.recent_predictions(read_conn(), limit=1000, until=iso(now))
    rows = matching_rows(rows, schema)
    hold = ts.holdout_index
    if hold is not None and ts.n_live:
        start = int(ts.live_seq[hold[0] - ts.n_reference])
        present = [r for r in rows if int(r["seq"]) >= start]
        if len(present) >= 200:
            rows = present
    chall_spr: float | None = None
    champ_spr: float | None = None
    champ_live: np.ndarray | None = None
    chall_live = holdout_p
    if rows:
        live = rows_to_frame(rows, schema)
        (chall_spr, chall_live), (champ_spr, champ_live) = time_per_row(
            (result.pipeline, schema.frame_to_matrix(live)),
            (champion.pipeline, champion.schema.frame_to_matrix(live)),
        )
    return consistency_gate(
        chall_live,
        observed_label_rate=ts.label_rate,
        challenger_seconds_per_row=chall_spr or 0.0,
        champion_seconds_per_row=champ_spr,
        champion_live_proba=champ_live,
        threshold=result.threshold,
        champion_threshold=champion.threshold,
        config=config,
    )


def time_per_row(
    *models: tuple[Any, np.ndarray], rounds: int = 5
) -> list[tuple[float, np.ndarray]]:
    """Per-row time (seconds) of one batch call of each (pipeline, X), and its scores.

    The calls are interleaved round by round and each model keeps its minimum, so a burst of
    load from another process slows both models alike instead of one of them (on a shared
    2-core machine back-to-back best-of-3 timings drifted enough to fail a 3x ratio)."""
    best = [float("inf")] * len(models)
    proba: list[np.ndarray] = [np.empty(0)] * len(models)
    for _ in range(rounds):
        for i, (pipeline, X) in enumerate(models):
            t0 = time.perf_counter()
            proba[i] = np.asarray(pipeline.predict_proba(X)[:, 1], dtype=np.float64)
            best[i] = min(best[i], time.perf_counter() - t0)
    return [(b / max(len(X), 1), p) for b, p, (_, X) in zip(best, proba, models, strict=True)]
