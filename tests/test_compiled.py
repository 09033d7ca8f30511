"""Compiled scoring (selfheal/compiled.py) gives scikit-learn's probabilities bit for bit,
for every pipeline `build_pipeline` makes, or is not used."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.pipeline import Pipeline

from selfheal.compiled import compile_pipeline, verified
from selfheal.schema import infer_schema
from selfheal.training import build_pipeline


def _data(seed: int, categorical: bool) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = 1500
    frame = pd.DataFrame(
        {
            "a": rng.normal(50, 10, n),
            "b": rng.lognormal(10, 1, n),
            "c": rng.integers(0, 5, n).astype(float),
        }
    )
    frame.loc[rng.random(n) < 0.1, "a"] = np.nan  # missing values the imputer fills
    logit = 0.08 * (frame["a"].fillna(50) - 50) + 0.5 * np.log(frame["b"]) - 5 + frame["c"]
    if categorical:
        frame["plan"] = rng.choice(["basic", "pro", "team"], n)
        logit = logit + (frame["plan"] == "pro") * 1.5
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame, y


@pytest.mark.parametrize("classifier", ["hgb", "logreg"])
@pytest.mark.parametrize("categorical", [False, True])
def test_compiled_probabilities_equal_scikit_learn_bit_for_bit(
    classifier: str, categorical: bool
) -> None:
    frame, y = _data(3, categorical)
    schema = infer_schema(frame.assign(y=y), target="y")
    pipe = build_pipeline(schema, classifier, seed=1).fit(schema.frame_to_matrix(frame), y)
    compiled = compile_pipeline(pipe)
    assert compiled is not None
    assert (compiled.numeric is None) is categorical  # one-hot stays with scikit-learn
    rng = np.random.default_rng(9)
    X = schema.frame_to_matrix(frame)
    holes = X.copy()
    holes[rng.random(X.shape) < 0.3] = np.nan  # every column, categorical ones too
    # Whole samples and the batch sizes the writer scores (a single row once summed its
    # trees pairwise, one unit in the last place off).
    batches = [X, holes] + [holes[k : k + n] for k, n in ((0, 1), (5, 2), (9, 3), (50, 33))]
    for sample in batches:
        expected = pipe.predict_proba(sample)[:, 1]
        assert np.array_equal(compiled.predict_proba(sample), expected), len(sample)
    assert verified(compiled, pipe, holes) is compiled


@pytest.mark.parametrize(
    ("leaves", "min_leaf", "dtype"),
    [(2, 20, np.uint16), (31, 5, np.uint32), (63, 2, np.uint64), (15, 1500, np.uint16)],
)
def test_every_mask_width_and_one_leaf_trees_score_bit_for_bit(
    leaves: int, min_leaf: int, dtype: type
) -> None:
    """QuickScorer's masks are 16, 32 or 64 bits wide by the widest tree, and a tree that
    is one leaf (here every tree, when no leaf may hold fewer rows than the data has) still
    gives its value."""
    frame, y = _data(5, False)
    schema = infer_schema(frame.assign(y=y), target="y")
    X = schema.frame_to_matrix(frame)
    pre = build_pipeline(schema, "hgb", seed=1).steps[0][1]
    clf = HistGradientBoostingClassifier(
        max_iter=30, max_leaf_nodes=leaves, min_samples_leaf=min_leaf, random_state=0
    )
    pipe = Pipeline([("pre", pre), ("clf", clf)]).fit(X, y)
    compiled = compile_pipeline(pipe)
    assert compiled is not None
    assert compiled.clf.cleared.dtype == dtype  # type: ignore[union-attr]
    holes = X.copy()
    holes[np.random.default_rng(2).random(X.shape) < 0.3] = np.nan
    for sample in (X, holes, holes[:1], holes[7:9]):
        expected = pipe.predict_proba(sample)[:, 1]
        assert np.array_equal(compiled.predict_proba(sample), expected)


def test_a_forest_wider_than_64_leaves_is_left_to_scikit_learn() -> None:
    frame, y = _data(6, False)
    schema = infer_schema(frame.assign(y=y), target="y")
    X = schema.frame_to_matrix(frame)
    pre = build_pipeline(schema, "hgb", seed=1).steps[0][1]
    clf = HistGradientBoostingClassifier(max_iter=3, max_leaf_nodes=80, min_samples_leaf=2)
    pipe = Pipeline([("pre", pre), ("clf", clf)]).fit(X, y)
    assert max(int(p[0].nodes["is_leaf"].sum()) for p in clf._predictors) > 64
    assert compile_pipeline(pipe) is None


def test_a_model_it_cannot_compile_or_that_differs_is_left_to_scikit_learn() -> None:
    frame, y = _data(4, False)
    schema = infer_schema(frame.assign(y=y), target="y")
    X = schema.frame_to_matrix(frame)
    pipe = build_pipeline(schema, "hgb", seed=1).fit(X, y)
    forest = Pipeline([("pre", pipe.steps[0][1]), ("clf", RandomForestClassifier(3))])
    assert compile_pipeline(forest.fit(X, y)) is None
    compiled = compile_pipeline(pipe)
    assert compiled is not None
    # Every leaf value moved by 1e-12: the check refuses the whole compiled form.
    value = compiled.clf.value  # type: ignore[union-attr]
    value[np.flatnonzero(value)] += 1e-12
    assert verified(compiled, pipe, X) is None


def test_the_server_scores_with_the_compiled_form_and_says_so(client: object) -> None:
    info = client.get("/model/info").get_json()  # type: ignore[attr-defined]
    assert info["scoring"] == "compiled"
