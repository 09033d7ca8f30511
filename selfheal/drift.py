"""Drift detection of a window of live rows against a stored reference sketch.

The reference is summarised once by :func:`build_sketch` into a :class:`ReferenceSketch`
(sorted numeric samples, PSI bin edges and counts, category counts, sorted prediction
scores) that is saved as one pickle-free ``.npz`` file. :func:`detect` then costs
O(window log window) per feature: the reference is never recomputed.

Decision rule (per feature, and for the prediction score):

* numeric: two-sample Kolmogorov-Smirnov p-value, effect size = normed Wasserstein
  distance (W1 / max(std_ref, 1e-3)), PSI reported;
* categorical: chi-square homogeneity p-value, effect size = Jensen-Shannon distance
  (base 2), PSI over the levels reported; unseen categories get their own bin;
* the p-values of all tested features and the score are adjusted together with
  Benjamini-Hochberg; a feature has drifted when ``p_adjusted < alpha`` AND its effect
  size is ``>= threshold``;
* the dataset has drifted when the share of drifted features (score excluded) is
  ``>= dataset_drift_share`` OR the score has drifted.

Significance alone is not enough at large windows (tiny, harmless shifts become
significant) and effect size alone is noisy at small windows; requiring both keeps the
false-alarm rate low at every window size.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from selfheal import stats
from selfheal.validation import check_fields, constraint

__all__ = [
    "SCORE_NAME",
    "SKETCH_FORMAT",
    "NumericSketch",
    "CategoricalSketch",
    "ReferenceSketch",
    "build_sketch",
    "DriftConfig",
    "FeatureDrift",
    "DriftReport",
    "Histogram",
    "detect",
    "histogram",
]

#: Name under which the prediction score is sketched and reported.
SCORE_NAME = "__score__"
#: Version tag written into saved sketches.
SKETCH_FORMAT = "selfheal.drift.sketch/1"

Status = Literal["ok", "drift", "insufficient_data"]
FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


# --------------------------------------------------------------------------------------
# reference sketch
# --------------------------------------------------------------------------------------


@dataclass
class NumericSketch:
    """Reference summary of one numeric column (or the prediction score).

    Attributes
    ----------
    sorted_values : ndarray of float64
        The finite reference values, sorted ascending.
    edges : ndarray of float64
        Inner PSI bin edges (reference quantiles, deduplicated; outer bins open).
    counts : ndarray of int64
        Reference counts in the ``len(edges) + 1`` bins.
    mean, std : float
        Mean and population (ddof = 0) standard deviation of the finite values.
    n_nan : int
        Non-finite reference values dropped.
    """

    sorted_values: FloatArray
    edges: FloatArray
    counts: IntArray
    mean: float
    std: float
    n_nan: int = 0

    @property
    def n(self) -> int:
        return int(self.sorted_values.size)


@dataclass
class CategoricalSketch:
    """Reference summary of one categorical column: level strings and their counts."""

    levels: list[str]
    counts: IntArray
    n_nan: int = 0

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def as_mapping(self) -> dict[str, int]:
        return dict(zip(self.levels, self.counts.tolist(), strict=True))


@dataclass
class ReferenceSketch:
    """Everything :func:`detect` needs about the reference data.

    Attributes
    ----------
    numeric : dict[str, NumericSketch]
        Per numeric feature, in the order given to :func:`build_sketch`.
    categorical : dict[str, CategoricalSketch]
        Per categorical feature.
    score : NumericSketch or None
        The reference prediction scores (sketched like a numeric feature), if given.
    n_reference : int
        Rows in the reference frame.
    bins : int
        Number of PSI quantile bins requested.
    """

    numeric: dict[str, NumericSketch]
    categorical: dict[str, CategoricalSketch]
    score: NumericSketch | None
    n_reference: int
    bins: int = 10

    @property
    def features(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the sketch to ONE ``.npz`` file, without pickle.

        Arrays are stored under index-based keys (feature names can hold any character);
        names, scalars and the format tag live in a JSON string under ``meta``; level
        names are numpy unicode arrays. :meth:`load` reads it with ``allow_pickle=False``.
        """
        arrays: dict[str, NDArray[Any]] = {}
        meta: dict[str, Any] = {
            "format": SKETCH_FORMAT,
            "n_reference": self.n_reference,
            "bins": self.bins,
            "numeric": [],
            "categorical": [],
            "score": None,
        }

        def put_numeric(key: str, sk: NumericSketch) -> dict[str, Any]:
            arrays[f"{key}_sorted"] = np.asarray(sk.sorted_values, dtype=np.float64)
            arrays[f"{key}_edges"] = np.asarray(sk.edges, dtype=np.float64)
            arrays[f"{key}_counts"] = np.asarray(sk.counts, dtype=np.int64)
            return {"key": key, "mean": sk.mean, "std": sk.std, "n_nan": sk.n_nan}

        for i, (name, sk) in enumerate(self.numeric.items()):
            meta["numeric"].append({"name": name, **put_numeric(f"num{i}", sk)})
        for i, (name, cs) in enumerate(self.categorical.items()):
            key = f"cat{i}"
            arrays[f"{key}_levels"] = np.array(cs.levels, dtype=np.str_)
            arrays[f"{key}_counts"] = np.asarray(cs.counts, dtype=np.int64)
            meta["categorical"].append({"name": name, "key": key, "n_nan": cs.n_nan})
        if self.score is not None:
            meta["score"] = put_numeric("score", self.score)
        arrays["meta"] = np.array(json.dumps(meta), dtype=np.str_)
        # Write through an open handle so numpy does not append a second ".npz".
        with open(os.fspath(path), "wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ReferenceSketch:
        """Read a sketch written by :meth:`save` (``allow_pickle=False``).

        Raises
        ------
        ValueError
            If the file is not a sketch of a known format.
        """
        with np.load(os.fspath(path), allow_pickle=False) as data:
            if "meta" not in data.files:
                raise ValueError(f"ReferenceSketch.load: {os.fspath(path)!r} is not a sketch")
            meta = json.loads(str(data["meta"]))
            if meta.get("format") != SKETCH_FORMAT:
                raise ValueError(
                    f"ReferenceSketch.load: unknown sketch format {meta.get('format')!r}; "
                    f"expected {SKETCH_FORMAT!r}"
                )

            def get_numeric(m: Mapping[str, Any]) -> NumericSketch:
                key = m["key"]
                return NumericSketch(
                    sorted_values=np.asarray(data[f"{key}_sorted"], dtype=np.float64),
                    edges=np.asarray(data[f"{key}_edges"], dtype=np.float64),
                    counts=np.asarray(data[f"{key}_counts"], dtype=np.int64),
                    mean=float(m["mean"]),
                    std=float(m["std"]),
                    n_nan=int(m["n_nan"]),
                )

            numeric = {m["name"]: get_numeric(m) for m in meta["numeric"]}
            categorical = {
                m["name"]: CategoricalSketch(
                    levels=[str(x) for x in data[f"{m['key']}_levels"].tolist()],
                    counts=np.asarray(data[f"{m['key']}_counts"], dtype=np.int64),
                    n_nan=int(m["n_nan"]),
                )
                for m in meta["categorical"]
            }
            score = get_numeric(meta["score"]) if meta["score"] is not None else None
        return cls(
            numeric=numeric,
            categorical=categorical,
            score=score,
            n_reference=int(meta["n_reference"]),
            bins=int(meta["bins"]),
        )


def _numeric_values(values: Any, where: str) -> tuple[FloatArray, int]:
    """Finite float64 values of a column and the number of non-finite ones dropped."""
    arr: FloatArray | None = None
    if isinstance(values, pd.Series) and pd.api.types.is_numeric_dtype(values.dtype):
        if not pd.api.types.is_bool_dtype(values.dtype):
            # Fast path: no per-element parsing; nullable dtypes map pd.NA to NaN.
            arr = values.to_numpy(dtype=np.float64, na_value=np.nan)
    elif isinstance(values, np.ndarray) and values.dtype.kind in "fiu":
        arr = values.astype(np.float64, copy=False).ravel()
    if arr is None:
        try:
            arr = np.asarray(pd.to_numeric(pd.Series(values), errors="raise"), dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{where} must be numeric") from None
    finite = np.isfinite(arr)
    n_bad = int(arr.size - np.count_nonzero(finite))
    return (arr[finite] if n_bad else arr), n_bad


def _level_key(value: Any) -> str:
    # Integral floats are written as integers ("3", not "3.0"): an integer column turns
    # float as soon as a window holds a NaN, and its levels must still match the reference.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _level_counts(values: Any) -> tuple[dict[str, int], int]:
    """Counts per level string of a categorical column, and the missing values dropped.

    Counting runs on the raw values (vectorised in pandas); only the distinct levels are
    turned into strings, and levels that map to the same string are merged.
    """
    s = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values).ravel())
    vc = s.value_counts(dropna=True, sort=False)
    # A pandas categorical column also counts the levels its dtype declares but no row
    # holds: those are no levels of the data (a reference level needs a row).
    vc = vc[vc > 0]
    n_nan = int(len(s) - int(vc.sum()))
    out: dict[str, int] = {}
    for key, count in zip(vc.index.tolist(), vc.to_numpy().tolist(), strict=True):
        k = _level_key(key)
        out[k] = out.get(k, 0) + int(count)
    return out, n_nan


def _sketch_numeric(values: Any, bins: int, where: str) -> NumericSketch:
    arr, n_nan = _numeric_values(values, where)
    if arr.size == 0:
        raise ValueError(f"{where} has no finite value; a reference needs at least one")
    srt = np.sort(arr)
    edges = stats.quantile_edges(srt, bins)
    counts = stats.bin_counts(srt, edges, assume_sorted=True)
    return NumericSketch(
        sorted_values=srt,
        edges=edges,
        counts=counts,
        mean=float(np.mean(srt)),
        std=float(np.std(srt)),
        n_nan=n_nan,
    )


def build_sketch(
    frame: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    scores: NDArray[Any] | None = None,
    bins: int = 10,
) -> ReferenceSketch:
    """Summarise reference data for :func:`detect`.

    Parameters
    ----------
    frame : pandas.DataFrame
        The reference rows.
    numeric, categorical : list of str
        Columns to sketch as numeric / categorical features.
    scores : ndarray, optional
        Reference prediction scores (one per row is typical, any length is accepted).
    bins : int
        Number of reference-quantile PSI bins per numeric feature (default 10).

    Returns
    -------
    ReferenceSketch

    Raises
    ------
    ValueError
        If a column is missing, named twice, a numeric column is not numeric or has no
        finite value, a categorical column has no non-missing value, ``frame`` is empty,
        or ``bins < 1``.

    Notes
    -----
    Numeric columns keep their sorted finite values (float64), inner PSI edges at the
    reference quantiles 1/bins, ..., (bins-1)/bins, deduplicated (constant or
    low-cardinality columns get fewer bins), the counts in those open-ended bins, and
    mean / population std. Categorical levels are stored as strings.
    """
    if not isinstance(frame, pd.DataFrame):
        raise ValueError("build_sketch: argument 'frame' must be a pandas DataFrame")
    if len(frame) == 0:
        raise ValueError("build_sketch: argument 'frame' is empty; pass at least one row")
    if bins < 1:
        raise ValueError(f"build_sketch: argument 'bins' must be >= 1, got {bins}")
    names = [*numeric, *categorical]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"build_sketch: columns named more than once: {dupes}")
    if SCORE_NAME in names:
        raise ValueError(f"build_sketch: {SCORE_NAME!r} is reserved for the prediction score")
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise ValueError(f"build_sketch: argument 'frame' lacks column(s) {missing}")
    num = {
        c: _sketch_numeric(frame[c], bins, f"build_sketch: numeric column {c!r}") for c in numeric
    }
    cat: dict[str, CategoricalSketch] = {}
    for c in categorical:
        counts, n_nan = _level_counts(frame[c])
        if not counts:
            raise ValueError(f"build_sketch: categorical column {c!r} has no non-missing value")
        levels = sorted(counts)
        cat[c] = CategoricalSketch(
            levels=levels,
            counts=np.array([counts[k] for k in levels], dtype=np.int64),
            n_nan=n_nan,
        )
    score = None
    if scores is not None:
        score = _sketch_numeric(np.asarray(scores).ravel(), bins, "build_sketch: argument 'scores'")
    return ReferenceSketch(
        numeric=num, categorical=cat, score=score, n_reference=len(frame), bins=bins
    )


# --------------------------------------------------------------------------------------
# config and report
# --------------------------------------------------------------------------------------


@dataclass
class DriftConfig:
    """Thresholds of the drift decision.

    Attributes
    ----------
    alpha : float
        Level for the Benjamini-Hochberg-adjusted p-values (default 0.05).
    wasserstein_threshold : float
        Minimal normed Wasserstein distance for a numeric feature (default 0.1).
    js_threshold : float
        Minimal Jensen-Shannon distance for a categorical feature (default 0.1).
    psi_threshold : float
        PSI level reported as notable (``FeatureDrift.psi >= psi_threshold``); PSI is
        reported, not used in the verdict (default 0.2).
    min_window : int
        Fewer rows than this gives status ``insufficient_data`` (default 200); a feature
        with fewer finite values than this gets no verdict.
    dataset_drift_share : float
        Share of drifted features that makes the dataset drifted (default 0.5).
    ks_exact_max : int
        The exact KS distribution is used up to this max(n_reference, n_window)
        (default 1000), the Kolmogorov limit above.
    missing_threshold : float
        Minimal Cohen's h between the reference's and the window's share of missing values
        of a feature (default 0.3, between Cohen's "small" 0.2 and "medium" 0.5: 0% -> 2.3%,
        5% -> 14%, 20% -> 34%, 50% -> 65%).

    Notes
    -----
    The allowed values are declared on the fields and checked on construction
    (:func:`selfheal.validation.check_fields`): ``alpha`` in (0, 1), the four thresholds
    finite and >= 0, ``min_window`` an integer >= 1, ``dataset_drift_share`` in (0, 1] and
    ``ks_exact_max`` an integer >= 0. A violation raises :class:`ValueError` naming the field.
    """

    alpha: float = constraint(0.05, "number", low=0.0, high=1.0, low_open=True, high_open=True)
    wasserstein_threshold: float = constraint(0.1, "number", low=0.0)
    js_threshold: float = constraint(0.1, "number", low=0.0)
    psi_threshold: float = constraint(0.2, "number", low=0.0)
    min_window: int = constraint(200, "int", low=1)
    dataset_drift_share: float = constraint(0.5, "number", low=0.0, high=1.0, low_open=True)
    ks_exact_max: int = constraint(1000, "int", low=0)
    missing_threshold: float = constraint(0.3, "number", low=0.0)

    def __post_init__(self) -> None:
        # e.g. "DriftConfig: argument 'alpha' must be in (0, 1), got 0"
        check_fields(self)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def _opt_float(x: Any) -> float | None:
    """A plain float, or None for None / NaN / inf (JSON has no NaN)."""
    if x is None:
        return None
    v = float(x)
    return v if math.isfinite(v) else None


@dataclass
class FeatureDrift:
    """Drift result of one feature (or of the prediction score).

    ``statistic`` is the KS D (numeric) or the chi-square statistic (categorical).
    ``p_value`` is raw, ``p_adjusted`` Benjamini-Hochberg adjusted over every tested
    feature and the score. ``drifted`` is None when no verdict is given (window below
    ``min_window`` rows, or fewer finite values than that in this feature); statistics
    are then still reported when the feature has at least one finite value, else None.
    ``n_nan`` counts the window values dropped as missing / non-finite, ``n_window`` the
    values used.

    The share of missing values is tested on its own (:func:`selfheal.stats.missing_share_test`,
    a second Benjamini-Hochberg family over the features with a missing value on either
    side): ``missing_share_reference`` and ``missing_share`` are the shares, and
    ``missing_drifted`` holds when the adjusted p-value is below alpha and Cohen's h
    (``missing_effect``) reaches ``missing_threshold``. A feature whose missing share
    drifted is drifted, whatever its distribution test says (it may have no values left
    to test at all).
    """

    name: str
    kind: Literal["numeric", "categorical"]
    test: Literal["ks", "chi2"]
    statistic: float | None
    p_value: float | None
    p_adjusted: float | None
    effect_name: Literal["normed_wasserstein", "jensen_shannon"]
    effect_size: float | None
    threshold: float
    psi: float | None
    n_nan: int
    n_window: int
    drifted: bool | None
    unseen_levels: list[str] = field(default_factory=list)
    missing_share_reference: float | None = None
    missing_share: float | None = None
    missing_p_value: float | None = None
    missing_p_adjusted: float | None = None
    missing_effect: float | None = None
    missing_drifted: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "test": self.test,
            "statistic": _opt_float(self.statistic),
            "p_value": _opt_float(self.p_value),
            "p_adjusted": _opt_float(self.p_adjusted),
            "effect_name": self.effect_name,
            "effect_size": _opt_float(self.effect_size),
            "threshold": float(self.threshold),
            "psi": _opt_float(self.psi),
            "n_nan": int(self.n_nan),
            "n_window": int(self.n_window),
            "drifted": None if self.drifted is None else bool(self.drifted),
            "unseen_levels": [str(x) for x in self.unseen_levels],
            "missing_share_reference": _opt_float(self.missing_share_reference),
            "missing_share": _opt_float(self.missing_share),
            "missing_p_value": _opt_float(self.missing_p_value),
            "missing_p_adjusted": _opt_float(self.missing_p_adjusted),
            "missing_effect": _opt_float(self.missing_effect),
            "missing_drifted": None if self.missing_drifted is None else bool(self.missing_drifted),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureDrift:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def histogram(
        self,
        sketch: ReferenceSketch,
        window: pd.DataFrame | None,
        bins: int = 20,
        scores: NDArray[Any] | None = None,
    ) -> Histogram:
        """Histogram data of this feature; see :func:`histogram`."""
        return histogram(sketch, window, self.name, bins=bins, scores=scores)


@dataclass
class DriftReport:
    """Outcome of :func:`detect`.

    ``status`` is ``"insufficient_data"`` when the window has fewer than ``min_window``
    rows (then ``dataset_drift`` is False, ``drift_share`` None and every ``drifted``
    None), else ``"drift"`` when ``dataset_drift`` holds, else ``"ok"``.
    ``drift_share`` is the share of drifted features among those given a verdict (the
    score is not counted).
    """

    status: Status
    dataset_drift: bool
    drift_share: float | None
    n_reference: int
    n_window: int
    features: list[FeatureDrift]
    score: FeatureDrift | None
    config: DriftConfig

    @property
    def drifted_features(self) -> list[str]:
        return [f.name for f in self.features if f.drifted]

    def feature(self, name: str) -> FeatureDrift:
        if name == SCORE_NAME and self.score is not None:
            return self.score
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "dataset_drift": bool(self.dataset_drift),
            "drift_share": _opt_float(self.drift_share),
            "n_reference": int(self.n_reference),
            "n_window": int(self.n_window),
            "drifted_features": self.drifted_features,
            "features": [f.to_dict() for f in self.features],
            "score": None if self.score is None else self.score.to_dict(),
            "config": self.config.to_dict(),
        }

    def to_json(self, **kwargs: Any) -> str:
        """JSON text of :meth:`to_dict` (strict: NaN would raise, and none is produced)."""
        return json.dumps(self.to_dict(), allow_nan=False, **kwargs)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftReport:
        return cls(
            status=data["status"],
            dataset_drift=bool(data["dataset_drift"]),
            drift_share=_opt_float(data.get("drift_share")),
            n_reference=int(data["n_reference"]),
            n_window=int(data["n_window"]),
            features=[FeatureDrift.from_dict(f) for f in data["features"]],
            score=None if data.get("score") is None else FeatureDrift.from_dict(data["score"]),
            config=DriftConfig.from_dict(data.get("config") or {}),
        )

    @classmethod
    def from_json(cls, text: str) -> DriftReport:
        return cls.from_dict(json.loads(text))


# --------------------------------------------------------------------------------------
# detection
# --------------------------------------------------------------------------------------


def _numeric_drift(
    name: str, ref: NumericSketch, values: Any, cfg: DriftConfig, where: str
) -> FeatureDrift:
    cur, n_nan = _numeric_values(values, where)
    fd = FeatureDrift(
        name=name,
        kind="numeric",
        test="ks",
        statistic=None,
        p_value=None,
        p_adjusted=None,
        effect_name="normed_wasserstein",
        effect_size=None,
        threshold=cfg.wasserstein_threshold,
        psi=None,
        n_nan=n_nan,
        n_window=int(cur.size),
        drifted=None,
    )
    if cur.size == 0:
        return fd
    a = ref.sorted_values
    b = np.sort(cur)
    n, m = a.size, b.size
    # One merge of the two sorted samples serves both KS and Wasserstein.
    d, merged, diff = stats._ks_statistic_sorted(a, b)
    method = stats._resolve_method("auto", n, m, cfg.ks_exact_max)
    d, p, _ = stats._ks_pvalue(d, n, m, method)
    w = stats._wasserstein_from_merge(merged, diff)
    fd.statistic = d
    fd.p_value = p
    fd.effect_size = w / max(ref.std, stats.WASSERSTEIN_STD_FLOOR)
    fd.psi = stats.psi_from_counts(ref.counts, stats.bin_counts(b, ref.edges, assume_sorted=True))
    return fd


def _categorical_drift(
    name: str, ref: CategoricalSketch, values: Any, cfg: DriftConfig
) -> FeatureDrift:
    cur_map, n_nan = _level_counts(values)
    fd = FeatureDrift(
        name=name,
        kind="categorical",
        test="chi2",
        statistic=None,
        p_value=None,
        p_adjusted=None,
        effect_name="jensen_shannon",
        effect_size=None,
        threshold=cfg.js_threshold,
        psi=None,
        n_nan=n_nan,
        n_window=int(sum(cur_map.values())),
        drifted=None,
    )
    if not cur_map:
        return fd
    ref_map = ref.as_mapping()
    levels, r, c = stats.align_counts(ref_map, cur_map)
    fd.unseen_levels = [str(x) for x in levels[len(ref.levels) :]]
    stat, p, _ = stats.chi2_homogeneity(r, c)
    fd.statistic = stat
    fd.p_value = p
    fd.effect_size = stats.jensen_shannon(r, c)
    fd.psi = stats.psi_from_counts(r, c)
    return fd


def detect(
    sketch: ReferenceSketch,
    window: pd.DataFrame,
    scores: NDArray[Any] | None = None,
    config: DriftConfig | None = None,
) -> DriftReport:
    """Test a window of rows (and prediction scores) for drift against the reference.

    Parameters
    ----------
    sketch : ReferenceSketch
        From :func:`build_sketch` or :meth:`ReferenceSketch.load`.
    window : pandas.DataFrame
        The current rows; must hold every sketched column (extra columns are ignored).
    scores : ndarray, optional
        Current prediction scores; tested only when the sketch has reference scores.
    config : DriftConfig, optional
        Thresholds; the defaults when None.

    Returns
    -------
    DriftReport

    Raises
    ------
    ValueError
        If a sketched column is missing from ``window`` (the message names it), a numeric
        column is not numeric, or ``scores`` is given but the sketch has none.

    Notes
    -----
    Per numeric feature: KS p-value of the stored sorted reference against the window
    (exact distribution when max(n_ref, n_window) <= ``ks_exact_max``, else the Kolmogorov
    limit), effect :math:`W_1 / \\max(\\sigma_{ref}, 10^{-3})`, PSI on the stored bins.
    Per categorical feature: chi-square homogeneity p-value, Jensen-Shannon distance
    (base 2), PSI over the levels; unseen window levels get their own bin. Let
    :math:`\\tilde p` be the Benjamini-Hochberg adjustment over all features with a verdict
    plus the score. Then

    .. math:: \\text{drifted} = (\\tilde p < \\alpha) \\wedge (\\text{effect} \\ge \\tau),
    .. math:: \\text{dataset drift} = \\frac{\\#\\text{drifted}}{\\#\\text{judged}}
              \\ge s \\;\\vee\\; \\text{score drifted}.

    Missing / non-finite window values are dropped per feature and counted in
    ``n_nan``. Their share is tested against the reference's share of missing values
    (two-proportion z-test, Benjamini-Hochberg over the features with a missing value on
    either side, effect Cohen's h >= ``missing_threshold``): a feature whose missing share
    moved is drifted, even with no value left to test. Otherwise a feature with fewer
    finite window values than ``min_window`` gets no verdict (``drifted`` None) and does
    not count in the share. Cost is O(window log window) per feature; the reference is
    never recomputed.

    References
    ----------
    .. [1] Benjamini, Y., Hochberg, Y. (1995). Controlling the false discovery rate.
       JRSS B, 57(1), 289-300.
    .. [2] Rabanser, S., Guennemann, S., Lipton, Z. (2019). Failing loudly: an empirical
       study of methods for detecting dataset shift. NeurIPS.
    """
    cfg = config if config is not None else DriftConfig()
    if not isinstance(window, pd.DataFrame):
        raise ValueError("detect: argument 'window' must be a pandas DataFrame")
    missing = [c for c in sketch.features if c not in window.columns]
    if missing:
        raise ValueError(
            f"detect: argument 'window' lacks column(s) {missing} present in the reference"
        )
    if scores is not None and sketch.score is None:
        raise ValueError(
            "detect: argument 'scores' was given but the sketch has no reference scores; "
            "build the sketch with scores=..."
        )
    n_window = len(window)
    results: list[FeatureDrift] = []
    for name, nsk in sketch.numeric.items():
        results.append(
            _numeric_drift(name, nsk, window[name], cfg, f"detect: window column {name!r}")
        )
    for name, csk in sketch.categorical.items():
        results.append(_categorical_drift(name, csk, window[name], cfg))
    score_fd: FeatureDrift | None = None
    if scores is not None and sketch.score is not None:
        score_fd = _numeric_drift(
            SCORE_NAME,
            sketch.score,
            np.asarray(scores).ravel(),
            cfg,
            "detect: argument 'scores'",
        )

    sufficient = n_window >= cfg.min_window
    judged = [
        f
        for f in [*results, *([score_fd] if score_fd is not None else [])]
        if sufficient and f.p_value is not None and f.n_window >= cfg.min_window
    ]
    if judged:
        adjusted = stats.benjamini_hochberg([float(f.p_value or 0.0) for f in judged])
        for f, pa in zip(judged, adjusted.tolist(), strict=True):
            f.p_adjusted = pa
            assert f.effect_size is not None  # set together with p_value
            f.drifted = bool(pa < cfg.alpha and f.effect_size >= f.threshold)

    _missing_shares(sketch, results, n_window, cfg, judge=sufficient)

    if not sufficient:
        return DriftReport(
            status="insufficient_data",
            dataset_drift=False,
            drift_share=None,
            n_reference=sketch.n_reference,
            n_window=n_window,
            features=results,
            score=score_fd,
            config=cfg,
        )
    verdicts = [f.drifted for f in results if f.drifted is not None]
    share = (sum(verdicts) / len(verdicts)) if verdicts else 0.0
    score_drift = bool(score_fd is not None and score_fd.drifted)
    dataset_drift = bool((verdicts and share >= cfg.dataset_drift_share) or score_drift)
    return DriftReport(
        status="drift" if dataset_drift else "ok",
        dataset_drift=dataset_drift,
        drift_share=float(share),
        n_reference=sketch.n_reference,
        n_window=n_window,
        features=results,
        score=score_fd,
        config=cfg,
    )


def _missing_shares(
    sketch: ReferenceSketch,
    results: list[FeatureDrift],
    n_window: int,
    cfg: DriftConfig,
    *,
    judge: bool,
) -> None:
    """Fill in the missing-share fields of each feature; with `judge`, test them as one
    Benjamini-Hochberg family and mark a feature whose missing share moved as drifted."""
    if n_window == 0 or sketch.n_reference == 0:
        return
    tested: list[FeatureDrift] = []
    for f in results:
        ref = sketch.numeric.get(f.name) or sketch.categorical[f.name]
        k_ref, k_cur = int(ref.n_nan), int(f.n_nan)
        f.missing_share_reference = k_ref / sketch.n_reference
        f.missing_share = k_cur / n_window
        if not judge:
            continue
        f.missing_drifted = False
        if k_ref or k_cur:
            f.missing_p_value, f.missing_effect = stats.missing_share_test(
                k_ref, sketch.n_reference, k_cur, n_window
            )
            tested.append(f)
    if not tested:
        return
    adjusted = stats.benjamini_hochberg([float(f.missing_p_value or 0.0) for f in tested])
    for f, pa in zip(tested, adjusted.tolist(), strict=True):
        f.missing_p_adjusted = pa
        f.missing_drifted = bool(
            pa < cfg.alpha and (f.missing_effect or 0.0) >= cfg.missing_threshold
        )
        if f.missing_drifted:
            f.drifted = True


# --------------------------------------------------------------------------------------
# histogram data (for the HTML report)
# --------------------------------------------------------------------------------------


@dataclass
class Histogram:
    """Reference and current proportions on shared bins (numeric) or levels (categorical).

    For a numeric feature ``edges`` has ``len(reference) + 1`` entries and ``levels`` is
    None; for a categorical one ``levels`` lists the reference levels then the unseen
    ones and ``edges`` is None. Proportions sum to 1 on each side (all zeros for a side
    without values).
    """

    feature: str
    kind: Literal["numeric", "categorical"]
    edges: list[float] | None
    levels: list[str] | None
    reference: list[float]
    current: list[float]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _proportions(counts: NDArray[Any]) -> list[float]:
    total = float(np.sum(counts))
    if total <= 0:
        return [0.0] * int(np.size(counts))
    return [float(x) for x in (np.asarray(counts, dtype=np.float64) / total).tolist()]


def histogram(
    sketch: ReferenceSketch,
    window: pd.DataFrame | None,
    feature: str,
    bins: int = 20,
    scores: NDArray[Any] | None = None,
) -> Histogram:
    """Shared-bin histogram data of one feature for plotting reference versus current.

    Parameters
    ----------
    sketch : ReferenceSketch
    window : pandas.DataFrame or None
        Current rows (may be None for ``feature == SCORE_NAME``).
    feature : str
        A sketched feature, or ``SCORE_NAME`` for the prediction score (then pass
        ``scores``).
    bins : int
        Equal-width bins over the pooled range for numeric features (default 20).
    scores : ndarray, optional
        Current scores, for ``feature == SCORE_NAME``.

    Returns
    -------
    Histogram

    Raises
    ------
    ValueError
        If the feature is unknown, its column is missing, ``bins < 1``, or the score is
        requested without ``scores``.

    Notes
    -----
    Numeric edges are ``bins + 1`` equal-width points from the pooled minimum to the
    pooled maximum (a constant range is widened by 0.5 on each side); reference counts
    come from binary searches in the stored sorted sample, O(bins log n).
    """
    if bins < 1:
        raise ValueError(f"histogram: argument 'bins' must be >= 1, got {bins}")
    if feature == SCORE_NAME:
        if sketch.score is None:
            raise ValueError("histogram: the sketch has no reference scores")
        if scores is None:
            raise ValueError("histogram: argument 'scores' is required for the score")
        nsk: NumericSketch | None = sketch.score
        raw: Any = np.asarray(scores).ravel()
    elif feature in sketch.numeric or feature in sketch.categorical:
        if window is None or feature not in window.columns:
            raise ValueError(f"histogram: argument 'window' lacks column {feature!r}")
        nsk = sketch.numeric.get(feature)
        raw = window[feature]
    else:
        raise ValueError(f"histogram: argument 'feature' {feature!r} is not in the sketch")
    if nsk is not None:
        cur, _ = _numeric_values(raw, f"histogram: column {feature!r}")
        ref = nsk.sorted_values
        lo = float(ref[0]) if cur.size == 0 else min(float(ref[0]), float(cur.min()))
        hi = float(ref[-1]) if cur.size == 0 else max(float(ref[-1]), float(cur.max()))
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        edges = np.linspace(lo, hi, bins + 1)
        # Bins are [e_i, e_{i+1}) except the last, which is closed (as numpy.histogram).
        pos = np.searchsorted(ref, edges[:-1], side="left")
        ref_counts = np.diff(np.append(pos, ref.size))
        cur_counts, _ = np.histogram(cur, bins=edges)
        return Histogram(
            feature=feature,
            kind="numeric",
            edges=[float(x) for x in edges.tolist()],
            levels=None,
            reference=_proportions(ref_counts),
            current=_proportions(cur_counts),
        )
    csk = sketch.categorical[feature]
    cur_map, _ = _level_counts(raw)
    levels, r, c = stats.align_counts(csk.as_mapping(), cur_map)
    return Histogram(
        feature=feature,
        kind="categorical",
        edges=None,
        levels=[str(x) for x in levels],
        reference=_proportions(r),
        current=_proportions(c),
    )
