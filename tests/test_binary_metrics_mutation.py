"""Exact behaviour of selfheal.binary_metrics (issue 16): values, edges, dtypes and bootstraps.

scikit-learn and SciPy are the oracles for the statistics; the bootstraps are checked against
explicit re-computations from the same generator and pinned to their values for fixed seeds.
Written against the mutants that tests/test_binary_metrics.py, test_gates.py and
test_performance.py left alive: fractional counts whose F1 denominator is at most 1, float32
counts, the type of F1 of scalar counts, the row order of ranks that no `==` ties (NaN), and a
paired bootstrap whose rows miss the last of the 8 cells.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as ss
from sklearn.metrics import brier_score_loss, f1_score, roc_auc_score

from selfheal.binary_metrics import (
    average_ranks,
    brier,
    confusion_counts,
    f1,
    f1_from_counts,
    f1_interval,
    multinomial_replicates,
    paired_f1_gain_interval,
    percentile_interval,
    roc_auc,
)

# 12 rows: TP 4, FP 2, FN 2, TN 4 (F1 2/3)
Y = np.array([1, 1, 1, 0, 0, 0, 1, 0, 1, 0, 0, 1], dtype=np.int64)
PRED = np.array([1, 1, 0, 0, 1, 0, 1, 0, 0, 0, 1, 1], dtype=bool)
# two models on Y whose rows fill the cells (label, new, old) = [2, 3, 1, 0, 1, 1, 4, 0]:
# no row has label 1 with both models predicting 1 (cell 7)
NEW = np.array([1, 0, 1, 0, 0, 1, 1, 0, 1, 0, 0, 0], dtype=bool)
OLD = np.array([0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0], dtype=bool)


# ---------------------------------------------------------------------------------------------
# Confusion counts and F1
# ---------------------------------------------------------------------------------------------


def test_confusion_counts_are_python_ints_in_the_order_tp_fp_fn_tn() -> None:
    counts = confusion_counts(Y, PRED)
    assert counts == (4, 2, 2, 4)
    assert all(type(c) is int for c in counts)
    # bool labels count like 0/1
    assert confusion_counts(Y.astype(bool), PRED) == (4, 2, 2, 4)
    assert confusion_counts(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)) == (0, 0, 0, 0)


@pytest.mark.parametrize(
    ("y", "pred"),
    [
        ([1, 1, 0, 0], [1, 1, 1, 1]),  # all predicted positive
        ([1, 1, 0, 0], [0, 0, 0, 0]),  # none predicted positive: 0, not NaN
        ([1, 1, 1, 1], [1, 0, 1, 1]),  # all labels positive
        ([0, 0, 0, 0], [1, 0, 0, 0]),  # no positive label
        ([1, 0, 1, 0, 1], [1, 0, 1, 0, 1]),  # perfect
        ([1, 0, 1, 0, 1], [0, 1, 0, 1, 0]),  # all wrong
    ],
)
def test_f1_matches_scikit_learn_on_the_edges(y: list[int], pred: list[int]) -> None:
    y_arr, pred_arr = np.array(y, dtype=np.int64), np.array(pred, dtype=bool)
    value = f1(y_arr, pred_arr)
    assert type(value) is float
    assert value == f1_score(y_arr, pred_arr, zero_division=0)


def test_f1_of_no_rows_is_zero() -> None:
    assert f1(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)) == 0.0


def test_f1_from_counts_accepts_lists_and_returns_float64() -> None:
    out = f1_from_counts([3, 0, 1], [1, 0, 0], [1, 0, 2])
    assert out.dtype == np.float64
    assert out.tolist() == [0.75, 0.0, 0.5]


@pytest.mark.parametrize(
    ("tp", "fp", "fn", "expected"),
    [
        # expected (fractional) counts, as CBPE passes them: a denominator 2TP + FP + FN
        # below or equal to 1 is not a zero division
        (0.5, 0.0, 0.0, 1.0),  # denominator exactly 1
        (0.25, 0.25, 0.25, 0.5),  # denominator exactly 1
        (0.1, 0.0, 0.0, 1.0),  # denominator 0.2
        (0.0, 0.5, 0.0, 0.0),
        (1e-300, 0.0, 0.0, 1.0),  # the smallest counts still divide
        (0.0, 0.0, 0.0, 0.0),  # zero division scores 0
    ],
)
def test_f1_from_counts_of_fractional_counts(
    tp: float, fp: float, fn: float, expected: float
) -> None:
    assert f1_from_counts(np.array([tp]), np.array([fp]), np.array([fn])).tolist() == [expected]


def test_f1_from_counts_computes_in_float64_from_float32_counts() -> None:
    tp = np.array([0.1, 3.0, 1.0 / 3.0], dtype=np.float32)
    fp = np.array([0.7, 1.0, 0.2], dtype=np.float32)
    fn = np.array([0.3, 1.0, 0.9], dtype=np.float32)
    out = f1_from_counts(tp, fp, fn)
    assert out.dtype == np.float64
    t, p, n = (a.astype(np.float64) for a in (tp, fp, fn))
    np.testing.assert_array_equal(out, 2.0 * t / (2.0 * t + p + n))
    # in float32 the first value would be 0.2 / 1.2 rounded to float32
    assert out[0] != float(np.float32(2 * tp[0]) / np.float32(2 * tp[0] + fp[0] + fn[0]))


def test_f1_from_counts_of_scalars_is_a_zero_dimensional_float64_array() -> None:
    for counts, expected in (((1.5, 0.5, 0.5), 0.75), ((0, 0, 0), 0.0), ((2, 0, 0), 1.0)):
        out = f1_from_counts(*counts)
        assert isinstance(out, np.ndarray)  # FloatArray, not a NumPy scalar
        assert out.shape == () and out.dtype == np.float64
        assert float(out) == expected


def test_f1_from_counts_writes_zero_in_every_zero_division_cell() -> None:
    # The zero-division cells are the ones np.divide skips (where=False): they must come from
    # the zero-filled output, never from whatever the allocator hands back. Freed float64
    # buffers of the output's size, full of 7.0, make reused memory visible.
    for n in (8, 64, 1000):
        fn = np.arange(n, dtype=np.float64)  # fn = 0 only in cell 0
        for _ in range(3):
            junk = [np.full(n, 7.0) for _ in range(6)]
            del junk
            out = f1_from_counts(0.0, 0.0, fn)
            assert out.tolist() == [0.0] * n
            junk = [np.full(n, 7.0) for _ in range(6)]
            del junk
            out = f1_from_counts(np.zeros(n), np.zeros(n), fn)
            assert out.tolist() == [0.0] * n


# ---------------------------------------------------------------------------------------------
# Brier
# ---------------------------------------------------------------------------------------------


def test_brier_exact_values() -> None:
    y = np.array([1, 0, 1, 0], dtype=np.int64)
    p = np.array([0.75, 0.25, 0.5, 1.0])
    # (0.0625 + 0.0625 + 0.25 + 1) / 4
    assert brier(y, p) == 0.34375
    assert brier(y, p) == pytest.approx(brier_score_loss(y, p), rel=1e-15, abs=0)
    assert type(brier(y, p)) is float
    assert brier(np.array([1, 0]), np.array([1.0, 0.0])) == 0.0
    assert brier(np.array([1, 0]), np.array([0.0, 1.0])) == 1.0
    assert brier(np.zeros(0, dtype=np.int64), np.zeros(0)) == 0.0


# ---------------------------------------------------------------------------------------------
# Ranks and AUC
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        [0.3, 0.1, 0.3],
        [5.0],
        [2.0, 2.0, 2.0, 2.0],
        [0.4, 0.1, 0.4, 0.2, 0.1, 0.9, 0.4, 0.0, 0.9],
        [1, 3, 2, 3, 1],
        [-0.0, 0.0, -1.0],  # -0.0 == 0.0: one tie group
    ],
)
def test_average_ranks_match_scipy(values: list[float]) -> None:
    arr = np.array(values)
    ranks = average_ranks(arr)
    assert ranks.dtype == np.float64
    np.testing.assert_array_equal(ranks, ss.rankdata(arr, method="average"))


def test_average_ranks_of_no_values_is_empty_float64() -> None:
    ranks = average_ranks(np.zeros(0))
    assert ranks.shape == (0,) and ranks.dtype == np.float64


def test_average_ranks_keep_row_order_among_values_that_never_tie() -> None:
    # NaN (callers reject it) never compares equal, so each NaN is a tie group of its own,
    # ranked after every number. The sort is stable: the NaNs take their ranks in row order,
    # whatever the platform's quicksort would do with them.
    rng = np.random.default_rng(3)
    values = np.round(rng.random(200), 1)
    nan_rows = rng.random(200) < 0.4
    values[nan_rows] = np.nan
    ranks = average_ranks(values)
    finite = ~nan_rows
    n_finite = int(finite.sum())
    np.testing.assert_array_equal(ranks[finite], ss.rankdata(values[finite], method="average"))
    np.testing.assert_array_equal(
        ranks[nan_rows], np.arange(n_finite + 1, values.size + 1, dtype=np.float64)
    )


@pytest.mark.parametrize(
    ("y", "score"),
    [
        ([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]),
        ([0, 0, 1, 0], [0.1, 0.3, 0.2, 0.3]),  # exactly one positive
        ([1, 1, 0, 1], [0.1, 0.3, 0.2, 0.3]),  # exactly one negative
        ([0, 1], [0.5, 0.5]),  # one of each, tied: 1/2
        ([0, 1], [0.9, 0.1]),  # one of each, reversed: 0
        ([1, 0, 1, 0, 1, 0, 0], [0.2, 0.2, 0.7, 0.1, 0.2, 0.9, 0.7]),
    ],
)
def test_roc_auc_matches_scikit_learn(y: list[int], score: list[float]) -> None:
    y_arr, s_arr = np.array(y, dtype=np.int64), np.array(score)
    value = roc_auc(y_arr, s_arr)
    assert type(value) is float
    assert value == pytest.approx(roc_auc_score(y_arr, s_arr), rel=1e-15, abs=0)


def test_roc_auc_exact_values_with_a_single_row_of_one_class() -> None:
    # one positive ranked 2nd of 4: it beats one negative of three
    assert roc_auc(np.array([0, 0, 1, 0]), np.array([0.1, 0.3, 0.2, 0.4])) == 1 / 3
    # one negative ranked 3rd of 4: one of the three positives outscores it
    assert roc_auc(np.array([1, 1, 0, 1]), np.array([0.1, 0.2, 0.3, 0.4])) == 1 / 3


def test_roc_auc_of_a_single_class_or_no_rows_is_none() -> None:
    assert roc_auc(np.array([1]), np.array([0.5])) is None
    assert roc_auc(np.array([0]), np.array([0.5])) is None
    assert roc_auc(np.zeros(0, dtype=np.int64), np.zeros(0)) is None


# ---------------------------------------------------------------------------------------------
# Bootstrap
# ---------------------------------------------------------------------------------------------


def test_percentile_interval_is_the_linear_quantiles_at_alpha_over_two() -> None:
    values = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0])
    for alpha in (0.05, 0.1, 0.3, 1.0):
        low, high = percentile_interval(values, alpha)
        assert type(low) is float and type(high) is float
        assert low == float(np.quantile(values, alpha / 2.0))
        assert high == float(np.quantile(values, 1.0 - alpha / 2.0))
    assert percentile_interval(list(range(11)), 0.2) == (1.0, 9.0)
    assert percentile_interval(values, 0.0) == (1.0, 9.0)
    assert percentile_interval(values, 1.0) == (3.5, 3.5)  # both ends at the median


def test_multinomial_replicates_are_default_rng_multinomial_draws() -> None:
    cells = np.array([4.0, 2.0, 2.0, 4.0])
    draws = multinomial_replicates(cells, 7, seed=5)
    expected = np.random.default_rng(5).multinomial(12, cells / 12, size=7)
    np.testing.assert_array_equal(draws, expected)
    assert draws.shape == (7, 4) and draws.dtype == np.int64
    assert (draws.sum(axis=1) == 12).all()
    # one row: n = 1
    one = multinomial_replicates([0, 1, 0], 4, seed=0)
    assert one.tolist() == [[0, 1, 0]] * 4
    # list input, int counts
    np.testing.assert_array_equal(multinomial_replicates([4, 2, 2, 4], 7, seed=5), expected)
    assert multinomial_replicates(cells, 1, seed=5).shape == (1, 4)


def _f1_replicates(y: np.ndarray, pred: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """F1 of each bootstrap replicate, written out: cells TP, FP, FN, TN."""
    cells = np.array(
        [
            np.sum((y == 1) & pred),
            np.sum((y == 0) & pred),
            np.sum((y == 1) & ~pred),
            np.sum((y == 0) & ~pred),
        ],
        dtype=float,
    )
    draws = np.random.default_rng(seed).multinomial(len(y), cells / len(y), size=n_boot)
    out = []
    for tp, fp, fn, _ in draws.tolist():
        d = 2 * tp + fp + fn
        out.append(2 * tp / d if d else 0.0)
    return np.array(out)


@pytest.mark.parametrize(
    ("seed", "alpha", "expected"),
    [
        (0, 0.1, (0.3333333333333333, 0.8756944444444438)),
        (1, 0.1, (0.3333333333333333, 0.8888888888888888)),
        (7, 0.1, (0.36212121212121223, 0.8756944444444438)),
    ],
)
def test_f1_interval_pinned_for_a_seed(
    seed: int, alpha: float, expected: tuple[float, float]
) -> None:
    got = f1_interval(Y, PRED, n_boot=400, seed=seed, alpha=alpha)
    assert got == pytest.approx(expected, rel=1e-12, abs=0)
    reps = _f1_replicates(Y, PRED, 400, seed)
    assert got == (
        float(np.quantile(reps, alpha / 2.0)),
        float(np.quantile(reps, 1.0 - alpha / 2.0)),
    )


def test_f1_interval_properties() -> None:
    point = f1(Y, PRED)
    low, high = f1_interval(Y, PRED, n_boot=400, seed=0, alpha=0.1)
    assert type(low) is float and type(high) is float
    assert low < point < high
    assert f1_interval(Y, PRED, n_boot=400, seed=0, alpha=0.1) == (low, high)  # seeded
    wide = f1_interval(Y, PRED, n_boot=400, seed=0, alpha=0.01)
    assert wide[0] <= low and high <= wide[1]
    # alpha = 1: both ends are the median replicate
    mid = f1_interval(Y, PRED, n_boot=400, seed=0, alpha=1.0)
    assert mid[0] == mid[1] == float(np.median(_f1_replicates(Y, PRED, 400, 0)))
    # a single replicate: the interval is that replicate's F1
    one = f1_interval(Y, PRED, n_boot=1, seed=2, alpha=0.1)
    assert one[0] == one[1] == float(_f1_replicates(Y, PRED, 1, 2)[0])
    # a perfect model, and one that never predicts positive, have no spread
    assert f1_interval(Y, Y == 1, n_boot=50, seed=0, alpha=0.1) == (1.0, 1.0)
    assert f1_interval(Y, np.zeros_like(PRED), n_boot=50, seed=0, alpha=0.1) == (0.0, 0.0)


def _gain_replicates(
    y: np.ndarray, new: np.ndarray, old: np.ndarray, n_boot: int, seed: int
) -> np.ndarray:
    """F1(new) - F1(old) of each paired replicate, written out cell by cell."""
    cells = [(lab, a, b) for lab in (0, 1) for a in (False, True) for b in (False, True)]
    counts = np.array([np.sum((y == lab) & (new == a) & (old == b)) for lab, a, b in cells])
    draws = np.random.default_rng(seed).multinomial(len(y), counts / len(y), size=n_boot)

    def score(row: list[int], model: int) -> float:
        tp = fp = fn = 0
        for (lab, *calls), k in zip(cells, row, strict=True):
            if calls[model] and lab:
                tp += k
            elif calls[model]:
                fp += k
            elif lab:
                fn += k
        d = 2 * tp + fp + fn
        return 2 * tp / d if d else 0.0

    return np.array([score(row, 0) - score(row, 1) for row in draws.tolist()])


def test_paired_gain_interval_pinned_when_a_cell_is_empty() -> None:
    counts = np.bincount(Y * 4 + NEW * 2 + OLD, minlength=8)
    assert counts.tolist() == [2, 3, 1, 0, 1, 1, 4, 0]
    got = paired_f1_gain_interval(Y, NEW, OLD, n_boot=400, seed=3, alpha=0.2)
    assert got == pytest.approx((0.15136363636363637, 0.8888888888888888), rel=1e-12, abs=0)
    gains = _gain_replicates(Y, NEW, OLD, 400, 3)
    assert got == (float(np.quantile(gains, 0.1)), float(np.quantile(gains, 0.9)))
    assert type(got[0]) is float and type(got[1]) is float


def test_paired_gain_interval_matches_the_written_out_bootstrap() -> None:
    rng = np.random.default_rng(9)
    y = (rng.random(60) < 0.4).astype(np.int64)
    new, old = rng.random(60) < 0.5, rng.random(60) < 0.3
    for seed, alpha in ((0, 0.1), (4, 0.05), (11, 0.5)):
        gains = _gain_replicates(y, new, old, 300, seed)
        got = paired_f1_gain_interval(y, new, old, n_boot=300, seed=seed, alpha=alpha)
        assert got == (
            float(np.quantile(gains, alpha / 2.0)),
            float(np.quantile(gains, 1.0 - alpha / 2.0)),
        )
    # seeded: the same call gives the same interval, another seed another one
    first = paired_f1_gain_interval(y, new, old, n_boot=300, seed=0, alpha=0.1)
    assert paired_f1_gain_interval(y, new, old, n_boot=300, seed=0, alpha=0.1) == first
    assert paired_f1_gain_interval(y, new, old, n_boot=300, seed=1, alpha=0.1) != first


@pytest.mark.parametrize(
    ("y", "new", "old"),
    [
        ([0, 0, 0, 0, 0], [1, 0, 1, 0, 0], [0, 1, 0, 0, 1]),  # no positive label: F1 0 for both
        ([0, 0, 0], [0, 0, 0], [0, 0, 0]),  # only cell 0
        ([1, 1, 0], [1, 1, 0], [1, 1, 0]),  # identical models
    ],
)
def test_paired_gain_interval_without_a_gain_is_zero(
    y: list[int], new: list[int], old: list[int]
) -> None:
    y_arr = np.array(y, dtype=np.int64)
    new_arr, old_arr = np.array(new, dtype=bool), np.array(old, dtype=bool)
    assert paired_f1_gain_interval(y_arr, new_arr, old_arr, n_boot=50, seed=0, alpha=0.1) == (
        0.0,
        0.0,
    )


def test_paired_gain_interval_of_a_perfect_against_a_silent_model_is_one() -> None:
    y = np.array([1, 0] * 15, dtype=np.int64)
    silent = np.zeros(30, dtype=bool)
    # new is perfect (F1 1), old never predicts positive (F1 0): each replicate with a
    # positive row (all 50 here; none lacks one with probability 50 * 2**-30) gains 1
    got = paired_f1_gain_interval(y, y == 1, silent, n_boot=50, seed=0, alpha=0.1)
    assert got == (1.0, 1.0)
    got = paired_f1_gain_interval(y, silent, y == 1, n_boot=50, seed=0, alpha=0.1)
    assert got == (-1.0, -1.0)
