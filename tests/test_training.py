from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from selfheal import datasets
from selfheal.errors import DataError
from selfheal.schema import infer_schema
from selfheal.training import fingerprint, train


@pytest.mark.parametrize("classifier", ["hgb", "logreg"])
def test_training_is_deterministic_for_a_seed(classifier: str) -> None:
    frame = datasets.generate(2000, seed=5)
    y = frame.pop("default").to_numpy()
    schema = infer_schema(frame, target="default", declared=datasets.CREDIT_SCHEMA)
    a = train(frame, y, schema, classifier=classifier, seed=7)
    b = train(frame, y, schema, classifier=classifier, seed=7)
    X = schema.frame_to_matrix(frame)
    np.testing.assert_array_equal(a.pipeline.predict_proba(X), b.pipeline.predict_proba(X))
    assert {k: v for k, v in a.metrics.items()} == {k: v for k, v in b.metrics.items()}
    assert a.metrics["auc"] > 0.7
    assert set(a.metrics) >= {"f1", "precision", "recall", "auc", "brier", "log_loss"}


def test_mixed_numeric_and_categorical_with_missing_values() -> None:
    rng = np.random.default_rng(0)
    n = 800
    region = rng.choice(["north", "south", "east"], n)
    amount = rng.normal(100, 20, n)
    amount[::50] = np.nan
    y = ((region == "south") ^ (rng.random(n) < 0.1)).astype(int)
    frame = pd.DataFrame({"loan amount": amount, "region": region.astype(object)})
    schema = infer_schema(frame, target="y")
    result = train(frame, y, schema, seed=1)
    assert result.metrics["auc"] > 0.8
    unseen = schema.to_matrix([(100.0, "west"), (None, "south")])
    assert np.all(np.isfinite(result.pipeline.predict_proba(unseen)))


def test_training_refuses_a_class_with_too_few_rows() -> None:
    frame = pd.DataFrame({"x": np.arange(100.0)})
    y = np.zeros(100, dtype=int)
    y[:3] = 1
    with pytest.raises(DataError, match="at least 5 rows"):
        train(frame, y, infer_schema(frame, target="y"))


def test_fingerprint_changes_with_data() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    assert fingerprint(frame, np.array([0, 1])) != fingerprint(frame, np.array([1, 0]))
    assert fingerprint(frame, np.array([0, 1])) == fingerprint(frame.copy(), np.array([0, 1]))
