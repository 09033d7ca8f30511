"""Compiled scoring: a fitted pipeline evaluated in a few NumPy operations per batch.

Serving scores a batch of tens of rows per group commit, and for such batches scikit-learn's
`predict_proba` costs about 4 ms of GIL-held Python whatever the batch size: 200 calls of
`TreePredictor.predict` (one per tree of the gradient boosting) and the `ColumnTransformer`'s
per-call validation and joblib dispatch (docs/performance.md, "Where a request's time goes").
That is time the request threads of the same process cannot run. `compile_pipeline` turns the
pipelines `selfheal.training.build_pipeline` makes into plain arrays and evaluates them as
scikit-learn does, operation for operation:

* numeric preprocessing `SimpleImputer` then `StandardScaler`: missing values take the fitted
  statistic, then `(x - mean_) / scale_` (scikit-learn 1.9: `_base.py`, `_data.py`);
* `HistGradientBoostingClassifier` (binary, numeric splits, at most 64 leaves per tree):
  every split of every tree tested at once with its rule (`_predictor.pyx`,
  `_predict_one_from_raw_data`: NaN goes to the side `missing_go_to_left` names, else
  `x <= num_threshold` goes left), and each tree's exit leaf found from those tests with
  QuickScorer's bitvectors (Lucchese et al., "QuickScorer: a fast algorithm to rank
  documents with additive ensembles of regression trees", SIGIR 2015): a split that sends a
  row right removes the leaves of its left subtree, and the leftmost leaf left is the one
  the row reaches. The leaf values are then added tree after tree onto the baseline, in
  scikit-learn's order, and `expit` gives the probability (`HalfBinomialLoss.predict_proba`);
* `LogisticRegression` (binary): `X @ coef_.T + intercept_`, then `expit`.

A categorical part (one-hot encoding) is left to scikit-learn's own transform, and the
compiled classifier runs after it. Anything else is not compiled (`compile_pipeline`
returns None). Safety does not rest on this reimplementation being right: `verified` scores
a sample with both and keeps the compiled form only when every probability is bit for bit
equal (`numpy.array_equal`); `registry.Registry.load` does so on the version's reference
sample. A model that differs in any bit is served by scikit-learn, as before.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit  # what scikit-learn's losses call; sklearn depends on SciPy
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

log = logging.getLogger("selfheal.compiled")


@dataclass(frozen=True)
class _Numeric:
    """SimpleImputer + StandardScaler on the columns `cols` of the raw matrix."""

    cols: np.ndarray  # int, the ColumnTransformer's column selection
    fill: np.ndarray  # the imputer's statistics_, one per column
    mean: np.ndarray | None
    scale: np.ndarray | None

    def transform(self, X: np.ndarray) -> np.ndarray:
        out = np.array(X[:, self.cols], dtype=np.float64)  # a copy, as check_array makes
        missing = np.isnan(out)
        if missing.any():
            out[missing] = np.broadcast_to(self.fill, out.shape)[missing]
        if self.mean is not None:
            out -= self.mean
        if self.scale is not None:
            out /= self.scale
        return out


@dataclass(frozen=True)
class _Forest:
    """Every split of a binary HistGradientBoostingClassifier in flat arrays, grouped by
    tree (tree t's splits start at `starts[t]`, a sentinel first). `cleared[k]` has a 1 bit
    for each leaf in split k's left subtree, leaves numbered left to right within their tree
    (QuickScorer's mask is its complement). `value` holds the leaf values in that order
    (tree t's start at `leaf_start[t]`)."""

    starts: np.ndarray  # (trees,) intp
    feature: np.ndarray  # (splits,) intp
    threshold: np.ndarray  # (splits,) float64
    missing_right: np.ndarray  # (splits,) bool: NaN goes right
    cleared: np.ndarray  # (splits,) unsigned: ~mask, the leaves a right turn removes
    value: np.ndarray  # (leaves,) float64
    leaf_start: np.ndarray  # (trees,) intp
    lowest_bit: np.ndarray | None  # 16-bit masks: lowest set bit of each value, by lookup
    baseline: float

    def proba(self, X: np.ndarray) -> np.ndarray:
        x = np.take(np.asarray(X, dtype=np.float64), self.feature, axis=1)  # (n, splits)
        right = x > self.threshold  # NaN compares False ...
        missing = np.isnan(x)
        if missing.any():  # ... and goes where the split sent missing values
            right = np.where(missing, self.missing_right, right)
        # A right turn keeps `mask`, a left one keeps every leaf: ~(cleared * right).
        kept = self.cleared * right
        np.invert(kept, out=kept)
        exits = np.bitwise_and.reduceat(kept, self.starts, axis=1)  # (n, trees), never 0
        if self.lowest_bit is not None:
            leaf = self.lowest_bit[exits]
        else:  # the lowest set bit's position: a power of two is exact as a float64
            low = exits & (~exits + np.ones(1, dtype=exits.dtype))
            leaf = np.frexp(low.astype(np.float64))[1] - 1
        # scikit-learn: raw = 0; raw += baseline; raw += tree_t(X) for t in order. An
        # accumulate adds strictly in order (a reduce may sum pairwise: with one row it
        # did, one unit in the last place off).
        n = x.shape[0]
        terms = np.empty((self.starts.size + 1, n), dtype=np.float64)
        terms[0] = 0.0 + self.baseline
        terms[1:] = self.value[self.leaf_start + leaf].T
        raw = np.add.accumulate(terms, axis=0)[-1]
        return np.asarray(expit(raw), dtype=np.float64)


@dataclass(frozen=True)
class _Linear:
    coef: np.ndarray  # (n_features,)
    intercept: float

    def proba(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(expit(X @ self.coef + self.intercept), dtype=np.float64)


@dataclass(frozen=True)
class CompiledPipeline:
    """P(class 1) for a raw matrix, as `pipeline.predict_proba(X)[:, 1]` gives it."""

    numeric: _Numeric | None  # None: the ColumnTransformer runs as it is (a categorical part)
    pre: Any  # the fitted ColumnTransformer, used when `numeric` is None
    clf: _Forest | _Linear

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        Z = self.numeric.transform(X) if self.numeric is not None else self.pre.transform(X)
        return self.clf.proba(np.asarray(Z, dtype=np.float64))


def _numeric_part(pre: ColumnTransformer) -> _Numeric | None:
    parts = [t for t in pre.transformers_ if t[0] != "remainder"]
    if len(parts) != 1 or parts[0][0] != "num" or pre.remainder != "drop":
        return None
    _, steps, cols = parts[0]
    if not isinstance(steps, Pipeline) or len(steps.steps) != 2:
        return None
    imputer, scaler = steps.steps[0][1], steps.steps[1][1]
    if not isinstance(imputer, SimpleImputer) or not isinstance(scaler, StandardScaler):
        return None
    fill = np.asarray(imputer.statistics_, dtype=np.float64)
    if imputer.add_indicator or not np.all(np.isfinite(fill)):
        return None  # an indicator adds columns; a NaN statistic drops its column
    if not (isinstance(imputer.missing_values, float) and np.isnan(imputer.missing_values)):
        return None
    return _Numeric(
        cols=np.asarray(cols, dtype=np.intp),
        fill=fill,
        mean=None if scaler.mean_ is None or not scaler.with_mean else scaler.mean_.copy(),
        scale=None if scaler.scale_ is None or not scaler.with_std else scaler.scale_.copy(),
    )


MAX_LEAVES = 64  # QuickScorer's masks are one unsigned integer per split


def _leaf_ranges(left: np.ndarray, right: np.ndarray, is_leaf: np.ndarray) -> np.ndarray:
    """(nodes, 2) [first, end) of the leaves under each node, leaves numbered left to right
    (an iterative walk: no recursion limit)."""
    span = np.zeros((len(is_leaf), 2), dtype=np.intp)
    count = 0
    stack: list[tuple[int, bool]] = [(0, False)]
    while stack:
        i, children_done = stack.pop()
        if is_leaf[i]:
            span[i] = (count, count + 1)
            count += 1
        elif not children_done:
            stack += [(i, True), (int(right[i]), False), (int(left[i]), False)]
        else:
            span[i] = (span[left[i], 0], span[right[i], 1])
    return span


def _forest(clf: HistGradientBoostingClassifier) -> _Forest | None:
    if clf.n_trees_per_iteration_ != 1 or len(clf.classes_) != 2:
        return None
    trees = [p[0] for p in clf._predictors]
    if not trees:
        return None
    widest = max(int(np.sum(t.nodes["is_leaf"])) for t in trees)
    if widest > MAX_LEAVES:
        return None
    dtype = np.uint16 if widest <= 16 else np.uint32 if widest <= 32 else np.uint64
    starts, leaf_start = [], []
    feature: list[int] = []
    threshold: list[float] = []
    missing_right: list[bool] = []
    cleared: list[int] = []
    values: list[np.ndarray] = []
    for tree in trees:
        nodes = tree.nodes
        if np.any(nodes["is_categorical"]):
            return None
        left, right, is_leaf = nodes["left"], nodes["right"], nodes["is_leaf"].astype(bool)
        span = _leaf_ranges(left, right, is_leaf)
        starts.append(len(feature))
        # The sentinel: never a right turn (x > inf is false, NaN goes left), so a tree
        # that is one leaf keeps it, and reduceat never sees an empty group.
        feature.append(0)
        threshold.append(np.inf)
        missing_right.append(False)
        cleared.append(0)
        for i in np.flatnonzero(~is_leaf):
            first, end = span[left[i]]
            feature.append(int(nodes["feature_idx"][i]))
            threshold.append(float(nodes["num_threshold"][i]))
            missing_right.append(not bool(nodes["missing_go_to_left"][i]))
            cleared.append(((1 << (end - first)) - 1) << first)
        leaves = np.flatnonzero(is_leaf)
        ordered = np.empty(len(leaves), dtype=np.float64)
        ordered[span[leaves, 0]] = nodes["value"][leaves].astype(np.float64)
        leaf_start.append(sum(len(v) for v in values))
        values.append(ordered)
    baseline = np.asarray(clf._baseline_prediction, dtype=np.float64).ravel()
    if baseline.size != 1:
        return None
    lowest_bit = None
    if dtype == np.uint16:
        v = np.arange(1 << 16, dtype=np.int64)
        lowest_bit = np.zeros(1 << 16, dtype=np.intp)
        lowest_bit[1:] = np.log2((v & -v)[1:]).astype(np.intp)  # exact for powers of two
    return _Forest(
        starts=np.asarray(starts, dtype=np.intp),
        feature=np.asarray(feature, dtype=np.intp),
        threshold=np.asarray(threshold, dtype=np.float64),
        missing_right=np.asarray(missing_right, dtype=bool),
        cleared=np.asarray(cleared, dtype=dtype),
        value=np.concatenate(values),
        leaf_start=np.asarray(leaf_start, dtype=np.intp),
        lowest_bit=lowest_bit,
        baseline=float(baseline[0]),
    )


def _linear(clf: LogisticRegression) -> _Linear | None:
    coef = np.asarray(clf.coef_, dtype=np.float64)
    if len(clf.classes_) != 2 or coef.shape[0] != 1:
        return None
    return _Linear(coef=coef[0].copy(), intercept=float(np.asarray(clf.intercept_)[0]))


def compile_pipeline(pipeline: Any) -> CompiledPipeline | None:
    """The compiled form of a `build_pipeline` pipeline, or None for any other model."""
    try:
        if not isinstance(pipeline, Pipeline) or len(pipeline.steps) != 2:
            return None
        pre, clf = pipeline.steps[0][1], pipeline.steps[1][1]
        if not isinstance(pre, ColumnTransformer):
            return None
        if isinstance(clf, HistGradientBoostingClassifier):
            model: _Forest | _Linear | None = _forest(clf)
        elif isinstance(clf, LogisticRegression):
            model = _linear(clf)
        else:
            return None
        if model is None:
            return None
        return CompiledPipeline(numeric=_numeric_part(pre), pre=pre, clf=model)
    except (AttributeError, KeyError, ValueError, TypeError) as exc:  # another sklearn
        log.info("scoring stays with scikit-learn: cannot compile (%s)", exc)
        return None


def verified(
    compiled: CompiledPipeline | None, pipeline: Any, sample: np.ndarray
) -> CompiledPipeline | None:
    """`compiled` if it gives every probability of `sample` bit for bit as
    `pipeline.predict_proba(sample)[:, 1]`, else None. `sample` is a raw matrix in schema
    order (`FeatureSchema.to_matrix`); use rows with missing values and extremes."""
    if compiled is None or len(sample) == 0:
        return None
    # The whole sample, and small batches as the writer scores them (summation paths
    # differ with the batch's shape).
    for part in (sample, sample[:1], sample[1:3], sample[3:10]):
        if len(part) == 0:
            continue
        try:
            # One OpenMP thread, as the writer scores: no thread team is started here (a
            # team started in a process that forks later breaks the children's).
            with threadpool_limits(limits=1, user_api="openmp"):
                expected = np.asarray(pipeline.predict_proba(part)[:, 1], dtype=np.float64)
            got = compiled.predict_proba(part)
        except Exception as exc:
            log.warning("scoring stays with scikit-learn: the compiled form failed (%s)", exc)
            return None
        if got.shape != expected.shape or not np.array_equal(got, expected):
            diff = float(np.max(np.abs(got - expected))) if got.shape == expected.shape else None
            log.warning("scoring stays with scikit-learn: probabilities differ (%s)", diff)
            return None
    return compiled
