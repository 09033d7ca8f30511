"""The slices of a holdout that the stability gate judges one by one.

A numeric feature is cut into quartile bins by its own 25/50/75% quantiles (tied edges are
merged, so a heavily tied or constant column has fewer bins; missing or non-finite values form
a "missing" slice). A categorical feature gives one slice per level, sorted by their text,
then a "missing" slice for missing values.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["Groups", "holdout_slices"]

#: (feature, [(slice label, row mask), ...]) per feature, numeric features first.
Groups = list[tuple[str, list[tuple[str, np.ndarray]]]]


def holdout_slices(
    holdout: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str], *, func: str
) -> Groups:
    """The slices of every named column of `holdout`.

    Raises
    ------
    ValueError
        If a name is not a column, is named twice or in both lists, or a numeric column has a
        non-numeric dtype.
    """
    num_cols = _columns(numeric, "numeric", holdout, func)
    cat_cols = _columns(categorical, "categorical", holdout, func)
    overlap = sorted(set(num_cols) & set(cat_cols))
    if overlap:
        raise ValueError(f"{func}: numeric and categorical both name column(s) {overlap}")
    for column in num_cols:
        series = holdout[column]
        if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
            raise ValueError(
                f"{func}: numeric column {column!r} has non-numeric dtype {series.dtype}"
            )
    groups: Groups = [(c, _numeric_slices(holdout[c])) for c in num_cols]
    groups += [(c, _categorical_slices(holdout[c])) for c in cat_cols]
    return groups


def _columns(names: Sequence[str], arg: str, frame: pd.DataFrame, func: str) -> list[str]:
    if isinstance(names, str):
        raise ValueError(f"{func}: {arg} must be a sequence of column names, not a single string")
    out = list(names)
    missing = [c for c in out if c not in frame.columns]
    if missing:
        raise ValueError(f"{func}: {arg} names column(s) not in holdout: {missing}")
    if len(set(out)) != len(out):
        raise ValueError(f"{func}: {arg} names a column more than once: {out}")
    return out


def _numeric_slices(series: pd.Series) -> list[tuple[str, np.ndarray]]:
    """Quartile bins by the column's own quantiles; tied edges merge bins."""
    x = series.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = np.isfinite(x)
    parts: list[tuple[str, np.ndarray]] = []
    if finite.any():
        xf = x[finite]
        lo, hi = float(xf.min()), float(xf.max())
        edges = np.unique(np.quantile(xf, [0.25, 0.5, 0.75]))
        # bin b holds edges[b-1] < x <= edges[b]; the last bin holds x > edges[-1]
        bins = np.full(len(x), -1, dtype=np.int64)
        bins[finite] = np.searchsorted(edges, xf, side="left")
        for b in range(len(edges) + 1):
            mask = bins == b
            if not mask.any():
                continue
            lower = lo if b == 0 else float(edges[b - 1])
            upper = float(edges[b]) if b < len(edges) else hi
            if b == 0 and lower == upper:
                label = f"= {lower:.4g}"
            elif b == 0:
                label = f"[{lower:.4g}, {upper:.4g}]"
            else:
                label = f"({lower:.4g}, {upper:.4g}]"
            parts.append((label, mask))
    if not finite.all():
        parts.append(("missing", ~finite))
    return parts


def _categorical_slices(series: pd.Series) -> list[tuple[str, np.ndarray]]:
    codes, uniques = pd.factorize(series, sort=False)
    order = sorted(range(len(uniques)), key=lambda i: str(uniques[i]))
    parts = [(str(uniques[i]), codes == i) for i in order]
    missing = codes < 0
    if missing.any():
        parts.append(("missing", missing))
    return parts
