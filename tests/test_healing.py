"""Healing, measured the way bench/healing_bench.py measures it: a seeded stream with an
abrupt concept change replayed through the real serving, monitor and healer code with an
injected clock (`run_once(now=...)` inside `selfheal.replay`), compared with the frozen
first model and with an offline ceiling trained on the first 1,000 post-change rows."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from selfheal import datasets
from selfheal.performance import labeled_metrics
from selfheal.replay import replay
from selfheal.schema import infer_schema
from selfheal.training import train
from tests.conftest import make_settings

PRE, POST, TRAIN = 3000, 4000, 2000  # the change is at row 3,000


def auc(y: object, p: object) -> float:
    value = labeled_metrics(y, p).auc  # type: ignore[arg-type]
    assert value is not None
    return value


def test_a_seeded_concept_change_is_healed_to_the_offline_ceiling(tmp_path: Path) -> None:
    frame = pd.concat(
        [datasets.generate(PRE, seed=71), datasets.generate(POST, seed=72, drift="concept")],
        ignore_index=True,
    )
    # The latency ratio of the consistency gate is the one wall-clock input of a verdict.
    settings = make_settings(tmp_path / "home", gate_max_latency_ratio=1000)
    res = replay(frame, datasets.TARGET, settings=settings, train_rows=TRAIN, batch=100)
    assert res.refused == 0 and len(res.served) == PRE + POST - TRAIN
    change = PRE - TRAIN  # index of the first post-change row in the streamed arrays
    rest = slice(change + 1000, None)  # the rows the ceiling is scored on
    served, frozen = auc(res.y[rest], res.served[rest]), auc(res.y[rest], res.frozen[rest])
    first = frame.iloc[PRE : PRE + 1000]
    schema = infer_schema(first, target=datasets.TARGET)
    ceiling_model = train(
        first[schema.names], first[datasets.TARGET].to_numpy(), schema, seed=settings.seed
    )
    later = frame.iloc[PRE + 1000 :]
    ceiling = auc(
        later[datasets.TARGET].to_numpy(),
        ceiling_model.pipeline.predict_proba(schema.frame_to_matrix(later[schema.names]))[:, 1],
    )
    assert served >= ceiling - 0.05, (served, ceiling)
    assert served >= frozen + 0.05, (served, frozen)  # the change hurt, and it healed
    before = slice(0, change)
    assert auc(res.y[before], res.served[before]) >= auc(res.y[before], res.frozen[before]) - 0.01
    kinds = [e["kind"] for e in res.events]
    assert "promoted" in kinds[1:]  # v0001's own promotion is the first event
    healed = next(e for e in res.events[1:] if e["kind"] == "promoted")
    assert PRE <= healed["row"] <= PRE + 1500
    assert res.versions[-1] != "v0001"
