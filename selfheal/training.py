"""Training: a scikit-learn Pipeline per schema, a stratified holdout, holdout metrics.

The pipeline takes the array built by `FeatureSchema.to_matrix` (columns in schema order), so
the request path scores NumPy arrays without building a DataFrame per request. Numeric columns
are median-imputed and standardised; categorical ones are imputed with a constant and one-hot
encoded with `handle_unknown="ignore"`, so a category unseen in training scores as "none of
the known levels" instead of failing.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from selfheal.errors import DataError
from selfheal.performance import fit_calibrator, labeled_metrics
from selfheal.schema import FeatureSchema

CLASSIFIERS = ("hgb", "logreg")
REFERENCE_ROWS = 5000


def build_pipeline(schema: FeatureSchema, classifier: str = "hgb", seed: int = 0) -> Pipeline:
    idx = {n: i for i, n in enumerate(schema.names)}
    parts: list[tuple[str, Any, list[int]]] = []
    if schema.numeric:
        parts.append(
            (
                "num",
                make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
                [idx[n] for n in schema.numeric],
            )
        )
    if schema.categorical:
        parts.append(
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="__missing__"),
                    OneHotEncoder(
                        handle_unknown="ignore",
                        sparse_output=False,
                        max_categories=50,
                        dtype=np.float64,
                    ),
                ),
                [idx[n] for n in schema.categorical],
            )
        )
    pre = ColumnTransformer(parts, remainder="drop", sparse_threshold=0.0)
    if classifier == "hgb":
        clf: Any = HistGradientBoostingClassifier(
            max_iter=200,
            learning_rate=0.08,
            max_leaf_nodes=15,
            l2_regularization=1.0,
            early_stopping=False,
            random_state=seed,
        )
    elif classifier == "logreg":
        clf = LogisticRegression(max_iter=2000, C=1.0)
    else:
        raise DataError(
            f"unknown classifier {classifier!r}; use one of {', '.join(CLASSIFIERS)}",
            code="invalid_classifier",
        )
    return Pipeline([("pre", pre), ("clf", clf)])


def fingerprint(frame: pd.DataFrame, y: np.ndarray) -> str:
    """sha256 over the data's values and column names: equal data gives an equal print."""
    h = hashlib.sha256()
    h.update("\x1f".join(map(str, frame.columns)).encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    h.update(np.asarray(y, dtype=np.int64).tobytes())
    return h.hexdigest()


@dataclass
class TrainResult:
    pipeline: Pipeline
    metrics: dict[str, Any]
    threshold: float
    calibrator: dict[str, Any]
    reference: pd.DataFrame  # up to REFERENCE_ROWS feature rows, with the target column
    reference_scores: np.ndarray  # model scores on the holdout (out of sample)
    params: dict[str, Any]
    data: dict[str, Any]
    holdout_index: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))


def scores(pipeline: Pipeline, X: np.ndarray) -> np.ndarray:
    return np.asarray(pipeline.predict_proba(X)[:, 1], dtype=np.float64)


def holdout_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, Any]:
    m = labeled_metrics(y, p, threshold=threshold).to_dict()
    eps = 1e-15
    pc = np.clip(p, eps, 1 - eps)
    m["log_loss"] = float(-np.mean(y * np.log(pc) + (1 - y) * np.log(1 - pc)))
    return m


def best_f1_threshold(y: np.ndarray, p: np.ndarray, max_rate_gap: float = 0.15) -> float:
    """The threshold maximising F1 on (y, p), searched over the distinct scores.

    Only cuts whose positive rate is within `max_rate_gap` of the label rate are eligible:
    on a weak model the unconstrained optimum is often "everyone is positive" (F1 =
    2b/(1+b) at base rate b), which the consistency gate would rightly refuse. Sorting once
    gives every cut's TP and FP as cumulative sums, so all candidates cost O(n log n).
    Ties go to the threshold nearest 0.5; with no eligible cut the answer is 0.5."""
    order = np.argsort(-p, kind="mergesort")
    ps, ys = p[order], y[order]
    tp = np.cumsum(ys)
    fp = np.cumsum(1 - ys)
    last = np.r_[ps[1:] != ps[:-1], True]  # a cut is only possible between distinct scores
    pos = int(ys.sum())
    if pos == 0:
        return 0.5
    f1 = 2 * tp / (tp + fp + pos)
    rate = (tp + fp) / len(ys)
    f1 = np.where(last & (np.abs(rate - pos / len(ys)) <= max_rate_gap), f1, -1.0)
    if f1.max() < 0:
        return 0.5
    best = np.flatnonzero(f1 >= f1.max() - 1e-12)
    cut = best[np.argmin(np.abs(ps[best] - 0.5))]
    return float(np.clip(ps[cut], 0.01, 0.99))


def tune_threshold(
    X: np.ndarray,
    y: np.ndarray,
    tr: np.ndarray,
    schema: FeatureSchema,
    *,
    classifier: str,
    seed: int,
    weights: np.ndarray | None,
    by_time: bool,
    max_rate_gap: float = 0.15,
) -> float:
    """Fit on part of the training rows, pick the F1-best threshold on the rest."""
    if by_time:  # rows are in time order: validate on the newest training rows
        cut = int(len(tr) * 0.8)
        fit_idx, val_idx = tr[:cut], tr[cut:]
    else:
        fit_idx, val_idx = train_test_split(tr, test_size=0.25, stratify=y[tr], random_state=seed)
    if len(np.unique(y[fit_idx])) < 2 or y[val_idx].sum() == 0:
        return 0.5
    pipe = build_pipeline(schema, classifier, seed)
    fit_kw = {} if weights is None else {"clf__sample_weight": weights[fit_idx]}
    pipe.fit(X[fit_idx], y[fit_idx], **fit_kw)
    return best_f1_threshold(y[val_idx], scores(pipe, X[val_idx]), max_rate_gap)


def cross_validated_f1(
    X: np.ndarray,
    y: np.ndarray,
    tr: np.ndarray,
    schema: FeatureSchema,
    *,
    classifier: str,
    seed: int,
    weights: np.ndarray | None,
    threshold: float,
    folds: int = 3,
) -> float | None:
    """F1 of pooled out-of-fold predictions over the training rows.

    The monitor's labeled-F1 trigger needs a baseline that is not itself noise: the
    holdout F1 on a few hundred rows moves by +-0.03, so a lucky holdout would make every
    clean week look like a drop. Pooling out-of-fold predictions over all training rows
    estimates the same quantity with several times the data."""
    if np.bincount(y[tr], minlength=2).min() < folds:
        return None
    oof = np.empty(len(tr), dtype=np.float64)
    for a, b in StratifiedKFold(folds, shuffle=True, random_state=seed).split(tr, y[tr]):
        pipe = build_pipeline(schema, classifier, seed)
        fit_kw = {} if weights is None else {"clf__sample_weight": weights[tr[a]]}
        pipe.fit(X[tr[a]], y[tr[a]], **fit_kw)
        oof[b] = scores(pipe, X[tr[b]])
    return float(labeled_metrics(y[tr], oof, threshold=threshold).f1)


def train(
    frame: pd.DataFrame,
    y: np.ndarray,
    schema: FeatureSchema,
    *,
    classifier: str = "hgb",
    seed: int = 0,
    holdout: float = 0.2,
    threshold: float | None = None,
    sample_weight: np.ndarray | None = None,
    holdout_index: np.ndarray | None = None,
    max_rate_gap: float = 0.15,
) -> TrainResult:
    """Fit the pipeline on a stratified split and measure it on the holdout.

    `holdout_index` fixes the holdout rows (the retrain workflow holds out the most recent
    labeled rows, split by time); otherwise a seeded stratified split is used.

    `threshold=None` tunes the decision threshold for F1 on a validation part of the
    training rows (the newest ones in time-split mode), never on the holdout, so the
    holdout metrics stay honest; the model is then refit on all training rows.
    """
    y = np.asarray(y, dtype=np.int64)
    n = len(frame)
    if n != len(y):
        raise DataError(f"features have {n} rows but the target has {len(y)}")
    counts = np.bincount(y, minlength=2)
    if counts.min() < 5:
        raise DataError(
            f"each class needs at least 5 rows to train; the target has "
            f"{int(counts[0])} negatives and {int(counts[1])} positives",
            code="invalid_target",
        )
    problems = schema.validate_frame(frame)
    if problems:
        from selfheal.schema import summarize

        raise DataError(
            "training data breaks the schema: " + summarize(problems),
            details=problems,
            code="validation_failed",
        )
    X = schema.frame_to_matrix(frame)
    all_idx = np.arange(n)
    if holdout_index is None:
        tr, te = train_test_split(all_idx, test_size=holdout, stratify=y, random_state=seed)
    else:
        te = np.asarray(holdout_index, dtype=np.int64)
        tr = np.setdiff1d(all_idx, te)
    if len(np.unique(y[te])) < 2 or len(np.unique(y[tr])) < 2:
        raise DataError(
            "the holdout and the training part each need both classes; provide more labeled rows",
            code="invalid_target",
        )
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
    tuned = threshold is None
    if tuned:
        threshold = tune_threshold(
            X,
            y,
            tr,
            schema,
            classifier=classifier,
            seed=seed,
            weights=weights,
            by_time=holdout_index is not None,
            max_rate_gap=max_rate_gap,
        )
    assert threshold is not None
    pipe = build_pipeline(schema, classifier, seed)
    fit_kw = {} if weights is None else {"clf__sample_weight": weights[tr]}
    t0 = time.monotonic()
    pipe.fit(X[tr], y[tr], **fit_kw)
    fit_seconds = time.monotonic() - t0
    p_te = scores(pipe, X[te])
    metrics = holdout_metrics(y[te], p_te, threshold)
    metrics["holdout_rows"] = int(len(te))
    metrics["cv_f1"] = cross_validated_f1(
        X, y, tr, schema, classifier=classifier, seed=seed, weights=weights, threshold=threshold
    )
    calibrator = fit_calibrator(p_te, y[te]).to_dict()

    rng = np.random.default_rng(seed)
    ref_idx = np.sort(rng.choice(n, size=min(REFERENCE_ROWS, n), replace=False))
    reference = frame.iloc[ref_idx].reset_index(drop=True).copy()
    reference[schema.target] = y[ref_idx]
    return TrainResult(
        pipeline=pipe,
        metrics=metrics,
        threshold=float(threshold),
        calibrator=calibrator,
        reference=reference,
        reference_scores=p_te,
        params={
            "classifier": classifier,
            "seed": seed,
            "holdout": holdout,
            "estimator": repr(pipe.named_steps["clf"]),
            "fit_seconds": round(fit_seconds, 3),
        },
        data={
            "rows": n,
            "train_rows": int(len(tr)),
            "holdout_rows": int(len(te)),
            "positive_rate": float(y.mean()),
            "fingerprint": fingerprint(frame, y),
            "weighted": sample_weight is not None,
        },
        holdout_index=np.asarray(te),
    )
