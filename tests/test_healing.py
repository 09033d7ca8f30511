"""Healing, measured the way bench/healing_bench.py measures it: a seeded stream with an
abrupt concept change replayed through the real serving, monitor and healer code with an
injected clock (`run_once(now=...)` inside `selfheal.replay`), compared with the frozen
first model and with an offline ceiling trained on the first 1,000 post-change rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from selfheal.performance import labeled_metrics
from selfheal.replay import replay
from selfheal.schema import infer_schema
from selfheal.training import train
from tests.conftest import make_settings

PRE, POST, TRAIN = 3000, 3000, 2000  # the change is at row 3,000


def sea_stream(seed: int = 7, thetas: tuple[float, ...] = (8.0, 11.0)) -> pd.DataFrame:
    """SEA concepts (Street & Kim 2001, as River's `datasets.synth.SEA` draws them):
    x1, x2, x3 uniform on [0, 10], label 1 when x1 + x2 <= theta, 10% of labels flipped;
    theta jumps from 8 to 11 at row PRE (an abrupt change of concept, features unchanged),
    and on through `thetas`, every POST rows."""
    rng = np.random.default_rng(seed)
    n = PRE + POST * (len(thetas) - 1)
    x = rng.uniform(0, 10, size=(n, 3))
    segment = np.clip((np.arange(n) - PRE) // POST + 1, 0, len(thetas) - 1)
    theta = np.asarray(thetas)[segment]
    y = (x[:, 0] + x[:, 1] <= theta).astype(int)
    flip = rng.random(n) < 0.1
    y[flip] = 1 - y[flip]
    return pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "x3": x[:, 2], "label": y})


def auc(y: object, p: object) -> float:
    value = labeled_metrics(y, p).auc  # type: ignore[arg-type]
    assert value is not None
    return value


def test_a_seeded_concept_change_is_healed_to_the_offline_ceiling(tmp_path: Path) -> None:
    frame = sea_stream()
    # The latency ratio of the consistency gate is the one wall-clock input of a verdict.
    settings = make_settings(tmp_path / "home", gate_max_latency_ratio=1000)
    res = replay(frame, "label", settings=settings, train_rows=TRAIN, batch=100)
    assert res.refused == 0 and len(res.served) == PRE + POST - TRAIN
    change = PRE - TRAIN  # index of the first post-change row in the streamed arrays
    rest = slice(change + 1000, None)  # the rows the ceiling is scored on
    served, frozen = auc(res.y[rest], res.served[rest]), auc(res.y[rest], res.frozen[rest])
    first = frame.iloc[PRE : PRE + 1000]
    schema = infer_schema(first, target="label")
    ceiling_model = train(
        first[schema.names], first["label"].to_numpy(), schema, seed=settings.seed
    )
    later = frame.iloc[PRE + 1000 :]
    ceiling = auc(
        later["label"].to_numpy(),
        ceiling_model.pipeline.predict_proba(schema.frame_to_matrix(later[schema.names]))[:, 1],
    )
    assert served >= ceiling - 0.05, (served, ceiling)
    assert served >= frozen + 0.05, (served, frozen)  # the change hurt, and it healed
    before = slice(0, change)
    assert auc(res.y[before], res.served[before]) >= auc(res.y[before], res.frozen[before]) - 0.01
    kinds = [e["kind"] for e in res.events]
    assert "promoted" in kinds[1:]  # v0001's own promotion is the first event
    healed = next(e for e in res.events[1:] if e["kind"] == "promoted")
    assert PRE <= healed["row"] <= PRE + 800
    assert res.versions[-1] != "v0001"


def test_a_concept_that_comes_back_is_recalled_not_relearned(tmp_path: Path) -> None:
    """SEA 8 -> 11 -> 8: after the second change the first model, which knew concept 8,
    is judged on the same holdout as the new challengers and promoted again as it is."""
    frame = sea_stream(seed=8, thetas=(8.0, 11.0, 8.0))
    settings = make_settings(tmp_path / "home", gate_max_latency_ratio=1000)
    res = replay(frame, "label", settings=settings, train_rows=TRAIN, batch=100)
    back = PRE + POST  # row of the second change
    promoted = [e for e in res.events if e["kind"] == "promoted" and e["row"] >= back]
    assert promoted and promoted[0]["version"] == "v0001", res.events
    assert "recalled: v0001" in promoted[0]["detail"]
    assert promoted[0]["row"] <= back + 500
    after = slice(back - TRAIN + 500, None)
    assert auc(res.y[after], res.served[after]) >= auc(res.y[after], res.frozen[after]) - 0.01
