"""The retrain recipe: which rows train the challengers, which rows judge them.

A retrain sees a time-ordered history: the champion's reference sample (the oldest data)
followed by the labeled live rows, oldest first. From it `plan()` cuts

* a **holdout** of the newest live rows, ``min(holdout_fraction * n_live,
  holdout_max_rows)`` of them and never more than half of the rows since a detected change,
  so the new concept reaches training too (a holdout of the newest 30% once took every
  post-change row away and the challenger could not win);
* a few **candidate windows** of the rows before the holdout, each a different guess at
  what still describes the present:

  - ``weighted``: everything, with recency weights halving every
    ``retrain_half_life_rows`` rows back (the reference sample counts as the oldest data);
  - ``recent``: the newest ``retrain_recent_rows`` live rows, unweighted;
  - ``since_change``: the live rows after the change point that `change_point` finds in the
    champion's per-row loss, unweighted (only when there is one).

All candidates are judged on the same holdout; the best (holdout F1, then AUC) goes
through the four gates and, once accepted, is refit on its window extended by the holdout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_LIVE_HOLDOUT = 100  # fewer labeled live rows: hold out a stratified split instead
MIN_HOLDOUT_ROWS = 50
MIN_WINDOW_ROWS = 50  # a candidate window needs this many rows, with 5 of each class


@dataclass(frozen=True)
class ChangePoint:
    """A single change in the mean of a per-row loss.

    ``index`` is the first row of the new regime; ``statistic`` the standardised CUSUM
    maximum (compare with the Brownian-bridge supremum: 1.36 at 5%, 1.63 at 1%);
    ``before``/``after`` the mean loss on either side.
    """

    index: int
    statistic: float
    before: float
    after: float


@dataclass(frozen=True)
class Window:
    """A candidate: rows (indices into the history) and weights to judge it by, and the
    same recipe extended by the holdout for the refit."""

    name: str
    train: np.ndarray
    weights: np.ndarray | None
    refit: np.ndarray
    refit_weights: np.ndarray | None

    def describe(self, n_reference: int) -> dict[str, object]:
        live = self.train[self.train >= n_reference]
        return {
            "window": self.name,
            "rows": int(len(self.train)),
            "live_rows": int(len(live)),
            "reference_rows": int(len(self.train) - len(live)),
            "weighted": self.weights is not None,
            "refit_rows": int(len(self.refit)),
        }


@dataclass(frozen=True)
class Plan:
    holdout: np.ndarray | None  # None: too few live rows, a stratified split instead
    windows: list[Window]
    change: ChangePoint | None


def change_point(
    loss: np.ndarray, *, min_size: int = 50, critical: float = 1.52
) -> ChangePoint | None:
    r"""The most likely point where the mean of `loss` rose (the champion started failing).

    Parameters
    ----------
    loss : ndarray of shape (n,)
        A per-row loss in time order, e.g. the champion's squared error ``(p - y)^2``.
    min_size : int
        Rows each side of the change must have.
    critical : float
        Critical value of the standardised one-sided CUSUM (1.52: the 1% point of the
        supremum of a Brownian bridge, the statistic's limit under "no change",
        P(sup > c) = exp(-2c^2)).

    Returns
    -------
    ChangePoint or None
        None when there are fewer than ``2 * min_size`` rows or the statistic stays below
        `critical` (no rise beyond noise: a fall means the model got better, nothing to
        forget).

    Notes
    -----
    The at-most-one-change CUSUM estimator, one-sided for a rise: with
    :math:`S_k = \sum_{i<k} (x_i - \bar x)` (negative when the rows after k are worse), the
    change is at :math:`\hat k = \arg\max_k (-S_k)` and the statistic is
    :math:`-S_{\hat k} / (\hat\sigma \sqrt n)`, with :math:`\hat\sigma` the pooled
    standard deviation of the two segments, so a large shift does not inflate its own
    yardstick. One-sided, it finds the latest rise even when the loss fell before it (a
    recurring concept: bad, good after a promotion, bad again), where the two-sided maximum
    picks the earlier fall and reports nothing. O(n).

    References
    ----------
    .. [1] Page, E. S. (1954). Continuous inspection schemes. Biometrika 41(1/2), 100-115.
    .. [2] Csorgo, M. and Horvath, L. (1997). Limit Theorems in Change-Point Analysis.
       Wiley, section 1.4.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = np.r_[rng.normal(0.1, 0.05, 400), rng.normal(0.3, 0.05, 200)]
    >>> change_point(x).index
    400
    >>> change_point(rng.normal(0.1, 0.05, 600)) is None
    True
    """
    x = np.asarray(loss, dtype=np.float64)
    n = len(x)
    if n < 2 * min_size:
        return None
    s = np.cumsum(x - x.mean())[:-1]  # s[k-1] = S_k, the sum of rows before k
    ks = np.arange(1, n)
    ok = (ks >= min_size) & (ks <= n - min_size)
    if not ok.any():
        return None
    k = int(ks[ok][np.argmax(-s[ok])])
    before, after = x[:k], x[k:]
    pooled = np.sqrt(
        (np.sum((before - before.mean()) ** 2) + np.sum((after - after.mean()) ** 2)) / (n - 2)
    )
    if pooled <= 0:
        pooled = 1e-12
    stat = float(-s[k - 1] / (pooled * np.sqrt(n)))
    if stat < critical or after.mean() <= before.mean():
        return None
    return ChangePoint(
        index=k, statistic=stat, before=float(before.mean()), after=float(after.mean())
    )


def recency_weights(rank: np.ndarray, half_life: float) -> np.ndarray:
    """0.5 ** (rank / half_life): rank 0 is the newest row."""
    return np.asarray(0.5 ** (rank / half_life), dtype=np.float64)


def plan(
    y: np.ndarray,
    n_reference: int,
    *,
    change: ChangePoint | None,
    holdout_fraction: float,
    holdout_max_rows: int,
    recent_rows: int,
    half_life: float,
) -> Plan:
    """Cut the history (reference rows first, then live rows, oldest first) into a holdout
    and candidate windows (see the module docstring).

    `change.index` counts live rows (0 is the oldest live row). Windows whose rows lack 5 of
    either class, or that repeat another window's rows, are left out; ``weighted`` is always
    there.
    """
    y = np.asarray(y, dtype=np.int64)
    n = len(y)
    n_live = n - n_reference
    live_start = n_reference
    if n_live < MIN_LIVE_HOLDOUT:
        everything = np.arange(n)
        rank = (n - 1) - everything
        w = recency_weights(rank, half_life)
        return Plan(None, [Window("weighted", everything, w, everything, w)], change)
    n_hold = min(int(round(n_live * holdout_fraction)), holdout_max_rows)
    if change is not None:
        n_hold = min(n_hold, (n_live - change.index) // 2)
    n_hold = max(n_hold, MIN_HOLDOUT_ROWS)
    hold_start = n - n_hold
    holdout = np.arange(hold_start, n)
    before = np.arange(hold_start)
    windows: list[Window] = []

    def weighted(idx: np.ndarray) -> np.ndarray:
        return recency_weights((idx[-1] - idx).astype(np.float64), half_life)

    windows.append(
        Window("weighted", before, weighted(before), np.arange(n), weighted(np.arange(n)))
    )
    recent_from = max(live_start, hold_start - recent_rows)
    recent = np.arange(recent_from, hold_start)
    windows.append(
        Window("recent", recent, None, np.arange(max(live_start, n - recent_rows), n), None)
    )
    if change is not None:
        start = live_start + change.index
        since = np.arange(start, hold_start)
        windows.append(Window("since_change", since, None, np.arange(start, n), None))
    kept: list[Window] = []
    seen: set[tuple[int, int, bool]] = set()
    for cand in windows:
        rows = cand.train
        counts = np.bincount(y[rows], minlength=2) if len(rows) else np.zeros(2)
        key = (int(rows[0]) if len(rows) else -1, len(rows), cand.weights is None)
        if cand.name != "weighted" and (len(rows) < MIN_WINDOW_ROWS or counts.min() < 5):
            continue
        if key in seen:
            continue
        seen.add(key)
        kept.append(cand)
    return Plan(holdout, kept, change)
