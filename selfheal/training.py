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
from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split
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

    def artifacts(self) -> dict[str, Any]:
        """What `Registry.register` stores of this result (besides schema, data, lineage)."""
        return {
            "pipeline": self.pipeline,
            "metrics": self.metrics,
            "threshold": self.threshold,
            "reference": self.reference,
            "reference_scores": self.reference_scores,
            "params": self.params,
            "calibrator": self.calibrator,
        }


def scores(pipeline: Pipeline, X: np.ndarray) -> np.ndarray:
    return np.asarray(pipeline.predict_proba(X)[:, 1], dtype=np.float64)


def holdout_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, Any]:
    m = labeled_metrics(y, p, threshold=threshold).to_dict()
    eps = 1e-15
    pc = np.clip(p, eps, 1 - eps)
    m["log_loss"] = float(-np.mean(y * np.log(pc) + (1 - y) * np.log(1 - pc)))
    return m


def baseline_rows(n: int) -> int:
    """How many of the newest `n` time-ordered rows give a refit model's cross-validated F1
    (the labeled-F1 trigger's baseline) and its calibrator: the newest quarter, but at least
    500 when there are that many. A quarter of a 300-row window is 75 rows, whose F1 moves
    by +-0.1 on its own: as a baseline it fired the trigger on noise. (The threshold is
    still tuned on the newest quarter: a larger, older stretch set it for a label rate that
    had passed, and the consistency gate refused the challenger.)"""
    return min(n, max(n // 4, 500))


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


def out_of_fold_scores(
    X: np.ndarray,
    y: np.ndarray,
    tr: np.ndarray,
    schema: FeatureSchema,
    *,
    classifier: str,
    seed: int,
    weights: np.ndarray | None,
    folds: int = 3,
) -> np.ndarray | None:
    """Scores of every training row from a model that did not see it (k-fold).

    The fold models are trained on the same mix of data as the final model, so a
    threshold chosen on these scores carries over to it; a threshold chosen on a model fit
    without the newest rows did not (it over-called positives on live traffic)."""
    if np.bincount(y[tr], minlength=2).min() < folds:
        return None
    proba = cross_val_predict(
        build_pipeline(schema, classifier, seed),
        X[tr],
        y[tr],
        cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
        method="predict_proba",
        params=None if weights is None else {"clf__sample_weight": weights[tr]},
    )
    return np.asarray(proba[:, 1], dtype=np.float64)


def _check_training_data(frame: pd.DataFrame, y: np.ndarray, schema: FeatureSchema) -> None:
    """As many labels as rows, at least 5 rows of each class, and no schema problem."""
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


def _split(
    y: np.ndarray, *, holdout: float, seed: int, holdout_index: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """The training and holdout row indices: `holdout_index` as given, else a seeded
    stratified split; each part must hold both classes."""
    all_idx = np.arange(len(y))
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
    return tr, te


def _tuned_threshold(
    y_tr: np.ndarray, oof: np.ndarray | None, *, time_split: bool, max_rate_gap: float
) -> float:
    """The F1-best threshold on the out-of-fold scores of the training rows (0.5 without
    them)."""
    if oof is None:
        return 0.5
    # In time-split mode tune on the newest quarter of the training rows: the
    # distribution the model will meet next.
    part = slice(len(y_tr) * 3 // 4, None) if time_split else slice(None)
    return best_f1_threshold(y_tr[part], oof[part], max_rate_gap)


def _reference_sample(frame: pd.DataFrame, y: np.ndarray, target: str, seed: int) -> pd.DataFrame:
    """Up to `REFERENCE_ROWS` rows drawn with `seed`, in their original order, with the
    target column: what the registry stores for drift and simulated traffic."""
    n = len(frame)
    rng = np.random.default_rng(seed)
    ref_idx = np.sort(rng.choice(n, size=min(REFERENCE_ROWS, n), replace=False))
    reference = frame.iloc[ref_idx].reset_index(drop=True).copy()
    reference[target] = y[ref_idx]
    return reference


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

    `threshold=None` tunes the decision threshold for F1 on out-of-fold scores of the
    training rows (the newest quarter of them in time-split mode), never on the holdout, so
    the holdout metrics stay honest. The candidate cuts keep the positive rate within
    `max_rate_gap` of the label rate.
    """
    y = np.asarray(y, dtype=np.int64)
    n = len(frame)
    _check_training_data(frame, y, schema)
    X = schema.frame_to_matrix(frame)
    tr, te = _split(y, holdout=holdout, seed=seed, holdout_index=holdout_index)
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
    # Out-of-fold scores give the threshold (when tuned) and a cross-validated F1, the
    # monitor's baseline: a few hundred holdout rows alone move F1 by +-0.03.
    oof = out_of_fold_scores(X, y, tr, schema, classifier=classifier, seed=seed, weights=weights)
    if threshold is None:
        threshold = _tuned_threshold(
            y[tr], oof, time_split=holdout_index is not None, max_rate_gap=max_rate_gap
        )
    pipe = build_pipeline(schema, classifier, seed)
    fit_kw = {} if weights is None else {"clf__sample_weight": weights[tr]}
    t0 = time.monotonic()
    pipe.fit(X[tr], y[tr], **fit_kw)
    fit_seconds = time.monotonic() - t0
    p_te = scores(pipe, X[te])
    metrics = holdout_metrics(y[te], p_te, threshold)
    metrics["holdout_rows"] = int(len(te))
    metrics["cv_f1"] = None if oof is None else labeled_metrics(y[tr], oof, threshold=threshold).f1
    calibrator = fit_calibrator(p_te, y[te]).to_dict()

    reference = _reference_sample(frame, y, schema.target, seed)
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


def refit(
    frame: pd.DataFrame,
    y: np.ndarray,
    schema: FeatureSchema,
    *,
    judged: TrainResult,
    classifier: str = "hgb",
    seed: int = 0,
    sample_weight: np.ndarray | None = None,
    max_rate_gap: float = 0.15,
) -> TrainResult:
    """Refit a judged recipe on all of its rows, the holdout included, for registration.

    `frame` is time-ordered (oldest first). The holdout metrics stay those of `judged`
    (the candidate the gates saw: honest, out of sample); the refit model gets its own
    threshold, cross-validated F1 and calibrator from out-of-fold scores (10 folds up to
    2,000 rows, 5 above): the threshold on the newest quarter of its rows (the distribution
    it will meet next), cross-validated F1 and calibrator on the newest `baseline_rows`; its
    drift reference is its newest `REFERENCE_ROWS` rows with their
    out-of-fold scores, so drift is measured against what it learned rather than against
    history it was told to forget.

    Raises
    ------
    DataError
        If a class has fewer than 5 rows (3-fold out-of-fold scores need both classes).
    """
    y = np.asarray(y, dtype=np.int64)
    n = len(frame)
    counts = np.bincount(y, minlength=2)
    if counts.min() < 5:
        raise DataError(
            f"each class needs at least 5 rows to refit; the rows have {int(counts[0])} "
            f"negatives and {int(counts[1])} positives",
            code="invalid_target",
        )
    X = schema.frame_to_matrix(frame)
    all_idx = np.arange(n)
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
    # More folds than `train` uses: the reference scores stand in for the refit model's own
    # out-of-sample scores, and fold models trained on 2/3 of a few hundred rows score far
    # less confidently than the refit model does (normed W1 0.35 between 3-fold scores and
    # live scores on a 300-row window, 0.10 with 10 folds), which the monitor then reads as
    # score drift and retrains on, again and again.
    folds = 10 if n <= 2000 else 5
    oof = out_of_fold_scores(
        X, y, all_idx, schema, classifier=classifier, seed=seed, weights=weights, folds=folds
    )
    newest = slice(n * 3 // 4, None)
    base = slice(n - baseline_rows(n), None)
    threshold = judged.threshold
    cv_f1 = judged.metrics.get("cv_f1")
    if oof is not None and len(np.unique(y[newest])) == 2:
        threshold = best_f1_threshold(y[newest], oof[newest], max_rate_gap)
        cv_f1 = labeled_metrics(y[base], oof[base], threshold=threshold).f1
    pipe = build_pipeline(schema, classifier, seed)
    fit_kw = {} if weights is None else {"clf__sample_weight": weights}
    t0 = time.monotonic()
    pipe.fit(X, y, **fit_kw)
    fit_seconds = time.monotonic() - t0
    ref_idx = all_idx[-REFERENCE_ROWS:]
    if oof is not None and len(np.unique(y[newest])) == 2:
        ref_scores = oof[ref_idx]
        calibrator = fit_calibrator(oof[base], y[base]).to_dict()
    else:  # too few rows for folds: the judged candidate's holdout scores stand in
        ref_scores = judged.reference_scores
        calibrator = judged.calibrator
    reference = frame.iloc[ref_idx].reset_index(drop=True).copy()
    reference[schema.target] = y[ref_idx]
    return TrainResult(
        pipeline=pipe,
        metrics={**judged.metrics, "cv_f1": cv_f1},
        threshold=float(threshold),
        calibrator=calibrator,
        reference=reference,
        reference_scores=np.asarray(ref_scores, dtype=np.float64),
        params={
            **judged.params,
            "estimator": repr(pipe.named_steps["clf"]),
            "fit_seconds": round(fit_seconds, 3),
            "refit": True,
        },
        data={
            "rows": n,
            "train_rows": n,
            "holdout_rows": 0,
            "positive_rate": float(y.mean()),
            "fingerprint": fingerprint(frame, y),
            "weighted": sample_weight is not None,
        },
        holdout_index=np.empty(0, dtype=np.int64),
    )
