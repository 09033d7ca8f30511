"""Probation: a promoted model serves while its predecessor scores the same requests in
shadow, until enough of those requests are labeled to compare the two. It then passes, or
is rolled back automatically when it does worse live.

The decisions are pure functions of plain values (`expired`, `compare`); `Probation.check`
reads the state, asks them, and acts (ends the probation, rolls back, stops the shadow).
The monitor thread calls it once per cycle, before anything else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from selfheal import (
    db,
    store,
)
from selfheal.config import Settings
from selfheal.db import iso, parse_time, utcnow
from selfheal.performance import labeled_metrics
from selfheal.registry import Registry

log = logging.getLogger("selfheal.probation")
Write = Callable[[Callable[[db.Connection], Any]], Any]


def expired(started_at: datetime, now: datetime, max_hours: float) -> float | None:
    """The probation's age in hours when it is past `max_hours` (then it ends without a
    verdict, so healing is never blocked by missing labels), else None."""
    age = (now - started_at).total_seconds() / 3600
    return age if age > max_hours else None


@dataclass(frozen=True)
class Comparison:
    """The promoted model against its predecessor on the same labeled requests.

    `metric` is F1, or accuracy when the labels hold one class (F1 undefined); `drop` is the
    predecessor's value minus the promoted one's; `rolled_back` when it exceeds `max_drop`.
    """

    n: int
    metric: str
    new: float
    previous: float
    f1_new: float | None
    f1_previous: float | None
    accuracy_new: float
    accuracy_previous: float
    max_drop: float

    @property
    def drop(self) -> float:
        return self.previous - self.new

    @property
    def rolled_back(self) -> bool:
        return self.drop > self.max_drop

    def to_dict(self) -> dict[str, Any]:
        """As recorded in `probations.result` and the rollback event's details."""
        return {
            "n": self.n,
            "metric": self.metric,
            "f1_new": self.f1_new,
            "f1_previous": self.f1_previous,
            "accuracy_new": self.accuracy_new,
            "accuracy_previous": self.accuracy_previous,
            "drop": self.drop,
            "max_drop": self.max_drop,
        }


def compare(
    y: np.ndarray,
    proba_new: np.ndarray,
    threshold_new: float,
    proba_previous: np.ndarray,
    threshold_previous: float,
    *,
    max_drop: float,
) -> Comparison:
    """Compare two models on the same labeled requests, each at its own threshold.

    Shapes: `y` (n,) of 0/1, the probabilities (n,) in [0, 1]. F1 is compared when both are
    defined, else accuracy (see `performance.labeled_metrics`)."""
    new = labeled_metrics(y, proba_new, threshold=threshold_new)
    old = labeled_metrics(y, proba_previous, threshold=threshold_previous)
    metric = "f1" if new.f1 is not None and old.f1 is not None else "accuracy"
    return Comparison(
        n=int(len(y)),
        metric=metric,
        new=float(getattr(new, metric)),
        previous=float(getattr(old, metric)),
        f1_new=new.f1,
        f1_previous=old.f1,
        accuracy_new=new.accuracy,
        accuracy_previous=old.accuracy,
        max_drop=max_drop,
    )


class Probation:
    """Owns the probation of the latest promotion: checked by the monitor thread each cycle
    (`check`), ended by a promotion or rollback by hand (`home.end_probation_by_hand`)."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        *,
        read_conn: Callable[[], db.Connection],
        write: Write,
        on_swap: Callable[[], None],
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.read_conn = read_conn
        self.write = write
        self.on_swap = on_swap

    def check(self, now: datetime | None = None) -> dict[str, Any] | None:
        """The active probation's state after this check, or None when there is none:
        `ended` (production moved by hand, or expired), `active` (waiting for labels),
        `passed`, or `rolled_back` (production is the predecessor again)."""
        now = now or utcnow()
        prob = store.active_probation(self.read_conn())
        if prob is None:
            return None
        production = self.registry.production()
        if production != prob["version"]:
            # Production moved by hand: the probation no longer describes what serves.
            self._end(prob, "ended", {"reason": f"production changed to {production}"}, now)
            return {"status": "ended", "version": prob["version"]}
        pairs = self._pairs(prob)
        age = expired(parse_time(prob["started_at"]), now, self.settings.probation_max_hours)
        if age is not None:
            reason = (
                f"expired after {age:.1f} h with {len(pairs)} of "
                f"{prob['labels_needed']} labeled predictions"
            )
            self._end(prob, "ended", {"reason": reason}, now)
            log.warning("probation of %s %s", prob["version"], reason)
            return {"status": "ended", "version": prob["version"], "reason": reason}
        state = {
            "status": "active",
            "version": prob["version"],
            "previous_version": prob["previous_version"],
            "labels": len(pairs),
            "labels_needed": prob["labels_needed"],
        }
        if len(pairs) < prob["labels_needed"]:
            return state
        cmp = compare(
            np.array([r["label"] for r in pairs], dtype=np.int64),
            np.array([r["probability"] for r in pairs]),
            float(pairs[0]["threshold"]),
            np.array([r["shadow_probability"] for r in pairs]),
            float(pairs[0]["shadow_threshold"]),
            max_drop=self.settings.probation_max_f1_drop,
        )
        result = cmp.to_dict()
        if cmp.rolled_back:
            reason = self._roll_back(prob, cmp, now)
            return {**state, "status": "rolled_back", "reason": reason, **result}
        self._end(prob, "passed", result, now)
        log.info(
            "probation of %s passed: %s %.3f vs %.3f",
            prob["version"],
            cmp.metric,
            cmp.new,
            cmp.previous,
        )
        return {**state, "status": "passed", **result}

    def _pairs(self, prob: dict[str, Any]) -> list[db.Row]:
        return store.probation_pairs(
            self.read_conn(),
            version=prob["version"],
            shadow_version=prob["previous_version"],
            after_seq=prob["start_seq"],
            limit=prob["labels_needed"],
        )

    def _roll_back(self, prob: dict[str, Any], cmp: Comparison, now: datetime) -> str:
        label = "F1" if cmp.metric == "f1" else "accuracy (one class labeled, F1 undefined)"
        reason = (
            f"probation: live {label} of {prob['version']} {cmp.new:.3f} trails "
            f"{prob['previous_version']}'s {cmp.previous:.3f} by {cmp.drop:.3f} "
            f"(> {cmp.max_drop}) on the same {cmp.n} labeled predictions"
        )
        self.registry.rollback(
            to=prob["previous_version"], reason=reason, actor="monitor", details=cmp.to_dict()
        )
        self._end(prob, "rolled_back", cmp.to_dict(), now)
        self.on_swap()
        log.warning("automatic rollback: %s", reason)
        return reason

    def _end(
        self, prob: dict[str, Any], status: str, result: dict[str, Any], now: datetime
    ) -> None:
        self.write(
            lambda c: store.end_probation(c, prob["id"], status=status, result=result, now=iso(now))
        )
        if self.registry.shadow() == prob["previous_version"]:
            self.registry.set_shadow(
                None, actor="monitor", reason=f"probation of {prob['version']} ended"
            )
            self.on_swap()
