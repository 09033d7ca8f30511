"""Exact behaviour of selfheal.stats (issue 16): messages, edges, dtypes and branch cut-overs.

SciPy is the oracle for the numbers; the tolerances are tight on purpose, because several
rules choose between two formulas that agree only to a few digits in the wrong region (the
Kolmogorov series, the chi-square series and continued fraction, the exact one-sample law and
its one-sided shortcut).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
import scipy.special as sp
import scipy.stats as ss

from selfheal import stats as S

# ---------------------------------------------------------------------------------------------
# Messages: each names the function and the argument
# ---------------------------------------------------------------------------------------------

_EMPTY = "is empty after dropping NaN; pass at least one finite value"


@pytest.mark.parametrize(
    ("func", "args", "message"),
    [
        (S.wasserstein, ([], [1.0]), f"wasserstein: argument 'a' {_EMPTY}"),
        (S.wasserstein, ([1.0], [np.nan]), f"wasserstein: argument 'b' {_EMPTY}"),
        (S.normed_wasserstein, ([np.inf], [1.0]), f"normed_wasserstein: argument 'ref' {_EMPTY}"),
        (S.normed_wasserstein, ([1.0], [np.nan]), f"normed_wasserstein: argument 'cur' {_EMPTY}"),
        (S.psi, ([np.nan], [1.0]), f"psi: argument 'ref' {_EMPTY}"),
        (S.psi, ([1.0], [-np.inf]), f"psi: argument 'cur' {_EMPTY}"),
        (S.ks_2samp, ([np.nan], [1.0]), f"ks_2samp: argument 'a' {_EMPTY}"),
        (
            S.psi_from_counts,
            (["a"], [1]),
            "psi_from_counts: argument 'ref_counts' must be a numeric vector of counts",
        ),
        (
            S.psi_from_counts,
            ([1], [[1, 2], [3]]),
            "psi_from_counts: argument 'cur_counts' must be a numeric vector of counts",
        ),
        (
            S.psi_from_counts,
            ([1], [0]),
            "psi_from_counts: argument 'cur_counts' sums to zero; pass at least one count",
        ),
        (
            S.psi_from_counts,
            ({"a": 1}, [1]),
            "psi_from_counts: arguments 'ref_counts' and 'cur_counts' must both be mappings "
            "(level -> count) or both be arrays",
        ),
        (
            S.psi_from_counts,
            ([1], {"a": 1}),
            "psi_from_counts: arguments 'ref_counts' and 'cur_counts' must both be mappings "
            "(level -> count) or both be arrays",
        ),
        (
            S.psi_from_counts,
            ([1, 2], [1]),
            "psi_from_counts: arguments 'ref_counts' and 'cur_counts' must have the same "
            "length (got 2 and 1)",
        ),
        (
            S.chi2_homogeneity,
            ([1], {"a": 1}),
            "chi2_homogeneity: arguments 'ref_counts' and 'cur_counts' must both be mappings "
            "(level -> count) or both be arrays",
        ),
        (
            S.chi2_homogeneity,
            ([-1], [1]),
            "chi2_homogeneity: argument 'ref_counts' contains negative counts",
        ),
        (
            S.chi2_homogeneity,
            ([1], [np.nan]),
            "chi2_homogeneity: argument 'cur_counts' contains NaN or infinite counts",
        ),
        (
            S.chi2_homogeneity,
            ([1], ["x"]),
            "chi2_homogeneity: argument 'cur_counts' must be a numeric vector of counts",
        ),
        (
            S.chi2_homogeneity,
            ([], [1]),
            "chi2_homogeneity: argument 'ref_counts' is empty; pass at least one count",
        ),
        (
            S.jensen_shannon,
            ({"a": 1}, [1]),
            "jensen_shannon: arguments 'p' and 'q' must both be mappings (level -> count) or "
            "both be arrays",
        ),
        (
            S.jensen_shannon,
            ([1], []),
            "jensen_shannon: argument 'q' is empty; pass at least one count",
        ),
        (
            S.jensen_shannon,
            (["p"], [1]),
            "jensen_shannon: argument 'p' must be a numeric vector of counts",
        ),
        (
            S.jensen_shannon,
            ([1], [1, 2]),
            "jensen_shannon: arguments 'p' and 'q' must have the same length (got 1 and 2)",
        ),
        (
            S.psi,
            ([1.0], [1.0], [1.0, 0.0]),
            "psi: argument 'edges' must be finite and sorted ascending",
        ),
        (
            S.psi,
            ([1.0], [1.0], [0.0, np.inf]),
            "psi: argument 'edges' must be finite and sorted ascending",
        ),
        (S.quantile_edges, (np.array([]),), "quantile_edges: argument 'sorted_ref' is empty"),
        (
            S.quantile_edges,
            (np.array([1.0]), 0),
            "quantile_edges: argument 'bins' must be >= 1, got 0",
        ),
        (S.chi2_sf, (np.nan, 1), "chi2_sf: argument 'x' is NaN"),
        (S.chi2_sf, ([1.0, np.nan], 1), "chi2_sf: argument 'x' is NaN"),
        (S.chi2_sf, (1.0, "x"), "chi2_sf: argument 'dof' must be a number, got 'x'"),
        (S.chi2_sf, (1.0, None), "chi2_sf: argument 'dof' must be a number, got None"),
        (S.chi2_sf, (1.0, 0), "chi2_sf: argument 'dof' must be finite and > 0, got 0"),
        (
            S.benjamini_hochberg,
            ([],),
            "benjamini_hochberg: argument 'pvalues' is empty; pass at least one p-value",
        ),
        (S.benjamini_hochberg, (["x"],), "benjamini_hochberg: argument 'pvalues' must be numeric"),
        (
            S.benjamini_hochberg,
            ([0.5, np.nan],),
            "benjamini_hochberg: argument 'pvalues' must lie in [0, 1] (no NaN)",
        ),
        (
            S.benjamini_hochberg,
            ([1.5],),
            "benjamini_hochberg: argument 'pvalues' must lie in [0, 1] (no NaN)",
        ),
        (
            S.align_counts,
            ([1], {}),
            "align_counts: argument 'ref' must be a mapping level -> count",
        ),
        (
            S.align_counts,
            ({}, [1]),
            "align_counts: argument 'cur' must be a mapping level -> count",
        ),
        (
            S.align_counts,
            ({"a": -1}, {}),
            "align_counts: argument 'ref' has a negative or non-finite count",
        ),
        (
            S.align_counts,
            ({"a": 1}, {"b": np.inf}),
            "align_counts: argument 'cur' has a negative or non-finite count",
        ),
        (
            S.missing_share_test,
            (0, 0, 0, 1),
            "missing_share_test: arguments 'k_ref', 'n_ref' must satisfy 0 <= k <= n and n >= 1 "
            "(got 0, 0)",
        ),
        (
            S.missing_share_test,
            (0, 1, 2, 1),
            "missing_share_test: arguments 'k_cur', 'n_cur' must satisfy 0 <= k <= n and n >= 1 "
            "(got 2, 1)",
        ),
        (
            S.ks_2samp_sorted,
            (np.array([1.0]), np.array([2.0]), "fast"),
            "ks_2samp: argument 'method' must be 'auto', 'exact' or 'asymp', got 'fast'",
        ),
    ],
)
def test_error_messages(func: Any, args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ValueError) as err:
        func(*args)
    assert str(err.value) == message


# ---------------------------------------------------------------------------------------------
# Result types
# ---------------------------------------------------------------------------------------------


def test_result_reprs() -> None:
    r = S.Chi2Result(1.5, 0.25, 3, 2)
    assert repr(r) == "Chi2Result(statistic=1.5, pvalue=0.25, dof=3, n_dropped=2)"
    k = S.KSResult(0.5, 0.125, method="asymp", n_a=3, n_b=4, n_nan_a=1, n_nan_b=2)
    assert repr(k) == "KSResult(statistic=0.5, pvalue=0.125, method='asymp', n_a=3, n_b=4, n_nan=3)"


# ---------------------------------------------------------------------------------------------
# Counts: align_counts, chi2_homogeneity, psi_from_counts, bin_counts, quantile_edges
# ---------------------------------------------------------------------------------------------


def test_align_counts_orders_unseen_levels_by_their_text_and_returns_floats() -> None:
    levels, r, c = S.align_counts({"x": 2, 3: 1}, {9: 1, "b": 4, 10: 2, "x": 5})
    assert levels == ["x", 3, 10, 9, "b"]  # "10" < "9" < "b" as text
    assert r.tolist() == [2.0, 1.0, 0.0, 0.0, 0.0]
    assert c.tolist() == [5.0, 0.0, 2.0, 1.0, 4.0]
    assert r.dtype == np.float64 and c.dtype == np.float64
    levels, r, c = S.align_counts({}, {})
    assert levels == [] and r.size == 0 and c.size == 0


def test_chi2_homogeneity_keeps_a_category_with_a_single_count() -> None:
    res = S.chi2_homogeneity([1, 5, 5], [0, 5, 5])
    stat, p, dof, _ = ss.chi2_contingency(np.array([[1, 5, 5], [0, 5, 5]]), correction=False)
    assert res.n_dropped == 0 and res.dof == dof == 2
    assert res.statistic == pytest.approx(stat, rel=1e-12, abs=0)
    assert res.pvalue == pytest.approx(p, rel=1e-12, abs=0)
    half = S.chi2_homogeneity([0.5, 4, 0], [0, 4, 0])
    assert (half.dof, half.n_dropped) == (1, 1)


def test_chi2_homogeneity_single_remaining_category_counts_the_dropped_ones() -> None:
    res = S.chi2_homogeneity([5, 0, 0], [3, 0, 0])
    assert tuple(res) == (0.0, 1.0, 0)
    assert res.n_dropped == 2


def test_bin_counts_are_int64_on_both_paths() -> None:
    values = np.array([0.0, 1.0, 1.0, 2.5, 7.0])
    for assume_sorted in (False, True):
        out = S.bin_counts(values, [1.0, 2.5], assume_sorted=assume_sorted)
        assert out.tolist() == [3, 1, 1]
        assert out.dtype == np.int64
    # numeric text is cast to numbers (as text, "10" would sort before "2" and "5")
    assert S.bin_counts(["0", "1", "3"], ["1"]).tolist() == [2, 1]
    assert S.bin_counts(["2", "10"], [5]).tolist() == [1, 1]
    assert S.bin_counts(["2", "10"], [5], assume_sorted=True).tolist() == [1, 1]


def test_quantile_edges_defaults_and_small_bin_counts() -> None:
    x = np.arange(101.0)
    assert S.quantile_edges(x).tolist() == [10.0 * i for i in range(1, 10)]
    assert S.quantile_edges(x, 2).tolist() == [50.0]
    one = S.quantile_edges(x, 1)
    assert one.shape == (0,) and one.dtype == np.float64
    assert S.quantile_edges(np.array([4.0]), 3).tolist() == [4.0]


def test_psi_edges_may_repeat_and_have_small_gaps() -> None:
    ref, cur = [0.1, 0.2, 0.6, 0.9], [0.1, 0.55, 0.6, 0.95]
    expected = S.psi_from_counts([2, 1, 1], [1, 2, 1])
    assert S.psi(ref, cur, [0.5, 0.5, 0.7]) == expected
    assert S.psi(ref, cur, np.array([[0.5, 0.7]])) == expected
    assert S.psi(ref, cur, [0.5, 0.7]) == expected
    assert S.psi(ref, cur, ["0.5", "0.7"]) == expected


# ---------------------------------------------------------------------------------------------
# Wasserstein, Jensen-Shannon, missing share, Benjamini-Hochberg
# ---------------------------------------------------------------------------------------------


def test_normed_wasserstein_carries_both_nan_counts() -> None:
    out = S.normed_wasserstein([0.0, 2.0, np.nan], [1.0, np.inf, -np.inf, 3.0])
    assert float(out) == pytest.approx(ss.wasserstein_distance([0, 2], [1, 3]) / 1.0)
    assert (out.n_nan_a, out.n_nan_b, out.n_nan) == (1, 2, 3)


def test_jensen_shannon_flushes_subnormal_shares_only() -> None:
    tiny = np.finfo(np.float64).tiny
    # a share of exactly `tiny` is kept: a positive, if minute, distance
    kept = S.jensen_shannon([1.0, tiny], [1.0, 0.0])
    assert kept == pytest.approx(math.sqrt(tiny / 2.0), rel=1e-6, abs=0)
    assert S.jensen_shannon([1.0, 0.0], [1.0, tiny]) == kept
    # a subnormal share is dropped (halving it would underflow to 0 and give inf)
    assert S.jensen_shannon([1.0, 5e-324], [1.0, 0.0]) == 0.0
    assert S.jensen_shannon([1.0, 0.0], [1.0, 5e-324]) == 0.0


def test_jensen_shannon_is_at_most_one_after_rounding() -> None:
    p = [1, 9, 4, 5, 9, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    q = [0, 0, 0, 0, 0, 0, 8, 9, 1, 5, 2, 1, 2, 6, 2]
    assert S.jensen_shannon(p, q) == 1.0


def test_missing_share_test_accepts_single_row_totals() -> None:
    p, h = S.missing_share_test(0, 1, 1, 1)
    assert h == math.pi
    assert p == pytest.approx(ss.chi2_contingency([[0, 1], [1, 0]], correction=False)[1])
    assert S.missing_share_test(1, 1, 1, 1) == (1.0, 0.0)
    p, h = S.missing_share_test(0, 1, 1, 2)
    assert h == pytest.approx(math.pi / 2)
    assert p == pytest.approx(ss.chi2_contingency([[0, 1], [1, 1]], correction=False)[1])


def test_benjamini_hochberg_casts_array_likes_to_float() -> None:
    out = S.benjamini_hochberg(["0.5", "0.1"])
    assert out.tolist() == [0.5, 0.2]
    assert S.benjamini_hochberg([1, 0]).tolist() == [1.0, 0.0]


# ---------------------------------------------------------------------------------------------
# chi-square upper tail
# ---------------------------------------------------------------------------------------------


def test_chi2_sf_keeps_the_shape_and_casts_array_likes() -> None:
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    out = S.chi2_sf(x, 2)
    assert out.shape == (2, 2)
    np.testing.assert_allclose(out, ss.chi2.sf(x, 2), rtol=1e-13)
    assert S.chi2_sf(["3.0"], 1).tolist() == [S.chi2_sf(3.0, 1)]


@pytest.mark.parametrize(
    ("x", "dof"),
    [(2.02, 0.02), (2.5, 0.02), (3.9, 0.02), (3.0, 0.1), (3.0, 1.0), (12.0, 4.0)],
)
def test_chi2_sf_uses_the_continued_fraction_from_a_plus_one(x: float, dof: float) -> None:
    # 1 - P(a, x/2) by the series loses ~1e-13 relative there; the continued fraction does not
    assert S.chi2_sf(x, dof) == pytest.approx(sp.gammaincc(dof / 2, x / 2), rel=1e-14, abs=0)


# ---------------------------------------------------------------------------------------------
# Kolmogorov-Smirnov
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("z", [0.82, 1.0, 1.5, 1.81, 2.0, 2.5])
def test_kolmogorov_sf_uses_the_alternating_series_from_0_82(z: float) -> None:
    # the theta form is 1 - (a number near 1) there and loses up to 1e-11 relative
    assert S.kolmogorov_sf(z) == pytest.approx(ss.kstwobign.sf(z), rel=1e-15, abs=0)


def test_kolmogorov_sf_takes_integers_and_numeric_text() -> None:
    expected = ss.kstwobign.sf([0.0, 1.0, 2.0])
    np.testing.assert_allclose(S.kolmogorov_sf([0, 1, 2]), expected, rtol=1e-15, atol=0)
    assert S.kolmogorov_sf(1) == S.kolmogorov_sf(1.0)
    assert S.kolmogorov_sf("1.5") == S.kolmogorov_sf(1.5)


def test_ks_2samp_sorted_defaults_to_auto() -> None:
    a, b = np.arange(5.0), np.arange(3.0) + 0.5
    assert S.ks_2samp_sorted(a, b) == S.ks_2samp_sorted(a, b, "auto")
    assert S.ks_2samp_sorted(a, b).method == "exact"


def test_ks_methods_are_named() -> None:
    same = S.ks_2samp([1.0, 2.0, 3.0], [3.0, 2.0, 1.0], method="exact")
    assert tuple(same) == (0.0, 1.0) and same.method == "exact"
    asymp = S.ks_2samp([1.0, 2.0, 3.0], [1.5, 2.5], method="asymp")
    assert asymp.method == "asymp"
    assert asymp.pvalue == pytest.approx(ss.kstwobign.sf(asymp.statistic * math.sqrt(1.2)))


def test_ks_exact_path_stops_at_the_int32_lattice() -> None:
    # lcm(n, m) = 2**31 - 1 is already too large for the exact path (as in SciPy)
    assert S._ks_pvalue(0.0, 1, 2**31 - 1, "exact") == (0.0, 1.0, "asymp")
    assert S._ks_pvalue(0.0, 1, 2**31 - 2, "exact") == (0.0, 1.0, "exact")


def test_ks_band_probability_is_one_when_a_diagonal_has_no_inside_cell() -> None:
    assert S._ks_prob_outside_band(2, 1, 1, 1) == 1.0


def _band_exceedance(m: int, n: int, h: int) -> float:
    """P(D_{m,n} >= h / lcm(m, n)) by counting lattice paths exactly: a path to (m, n) stays
    inside while |x n/g - y m/g| < h; the probability is 1 - inside / C(m + n, n)."""
    g = math.gcd(m, n)
    inside = [[0] * (n + 1) for _ in range(m + 1)]
    for x in range(m + 1):
        for y in range(n + 1):
            if abs(x * (n // g) - y * (m // g)) >= h:
                continue
            if x == 0 and y == 0:
                inside[x][y] = 1
            else:
                inside[x][y] = (inside[x - 1][y] if x else 0) + (inside[x][y - 1] if y else 0)
    return float(1 - Fraction(inside[m][n], math.comb(m + n, n)))


@pytest.mark.parametrize(("m", "n"), [(2, 1), (3, 2), (5, 3), (7, 4), (9, 6), (12, 5), (4, 11)])
def test_ks_band_probability_matches_path_counting_at_every_lattice_point(m: int, n: int) -> None:
    g = math.gcd(m, n)
    lcm = m // g * n
    for h in range(1, lcm + 1):
        expected = _band_exceedance(m, n, h)
        assert S._ks_prob_outside_band(m, n, g, h) == pytest.approx(expected, rel=1e-12, abs=0), h


@pytest.mark.parametrize(
    ("n", "d"),
    [
        (50, 0.4),  # n d^2 = 8 > 7.24: the one-sided shortcut (the matrix loses 1e-7 there)
        (100, math.sqrt(8.2 / 100)),
        (30, math.sqrt(7.5 / 30)),
        (50, 0.5),  # d = 1/2: the shortcut is exact there
        (5, 0.5),
        (30, 0.3),
        (100, 0.05),
    ],
)
def test_kolmogorov_one_sample_sf_matches_scipy_kstwo(n: int, d: float) -> None:
    assert S._kolmogorov_one_sample_sf(n, d) == pytest.approx(ss.kstwo.sf(d, n), rel=1e-9, abs=0)


def test_kolmogorov_one_sample_sf_edges() -> None:
    assert S._kolmogorov_one_sample_sf(10, 1.0) == 0.0
    assert S._kolmogorov_one_sample_sf(10, 0.05) == 1.0
    assert S._kolmogorov_one_sample_sf(10, 0.5) == min(2 * S._smirnov_one_sided_sf(10, 0.5), 1.0)


@pytest.mark.parametrize(("n", "m"), [(100, 1500), (101, 1500), (150, 1200), (1001, 1003)])
def test_ks_auto_large_formula(n: int, m: int) -> None:
    """p = P(D_n >= sqrt(m/(n+m)) (d + delta) - 1/(6n)) for n <= 100, else
    Q_KS(sqrt(nm/(n+m)) (d + delta)), with delta = (m/g + 2n/g - 3) / (6 lcm)."""
    a = np.linspace(0.0, 1.0, n)
    b = np.linspace(0.02, 1.05, m)
    res = S.ks_2samp(a, b)
    assert res.method == "asymp"
    g = math.gcd(n, m)
    lcm = n // g * m
    delta = (m // g + 2 * (n // g) - 3) / (6.0 * lcm)
    d = res.statistic
    if n <= 100:
        expected = ss.kstwo.sf(math.sqrt(m / (n + m)) * (d + delta) - 1.0 / (6.0 * n), n)
    else:
        expected = ss.kstwobign.sf(math.sqrt(n * m / (n + m)) * (d + delta))
    assert res.pvalue == pytest.approx(expected, rel=1e-9, abs=0)
