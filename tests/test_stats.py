"""Tests of selfheal.stats, with SciPy as the oracle."""

from __future__ import annotations

import math
import pickle
import subprocess
import sys
import time
import warnings
from typing import Any

import numpy as np
import pytest
import scipy.stats as ss
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import jensenshannon

from selfheal import stats as S

SIZES = [(5, 5), (5, 7), (37, 37), (37, 50), (200, 200), (200, 333), (1000, 1000), (1000, 999)]
UNEQUAL = [(1000, 3), (17, 1000), (500, 1000), (600, 900), (1, 1), (1, 40), (64, 48)]


def _scipy_ks(a: Any, b: Any, method: str = "auto") -> Any:
    """SciPy's ks_2samp without its warnings.

    At h = 1 SciPy's n == m closed form can round to 1 + 2e-16, which it rejects with a
    RuntimeWarning before falling back to its asymptotic ``kstwo`` p-value. That fallback is
    only close to 1 for large n (0.99996 at n = 7), while the exact P(D >= 1/n) is 1: the
    exact value is restored in that case.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        res = ss.ks_2samp(a, b, method=method)
    n, m = np.size(a), np.size(b)
    fell_back = any("Exact calculation unsuccessful" in str(w.message) for w in caught)
    if fell_back and n == m and round(float(res.statistic) * n) == 1:
        return type(res)(
            res.statistic,
            1.0,
            statistic_location=res.statistic_location,
            statistic_sign=res.statistic_sign,
        )
    return res


def _samples(n: int, m: int, seed: int, ties: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.normal(0.0, 1.0, n)
    b = rng.normal(0.25, 1.2, m)
    if ties:
        # Integer-valued data: many ties within and across samples.
        a, b = np.round(a * 2), np.round(b * 2)
    return a, b


# --------------------------------------------------------------------------------------
# KS
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("n,m", SIZES + UNEQUAL)
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_ks_exact_matches_scipy(n: int, m: int, ties: bool, seed: int) -> None:
    a, b = _samples(n, m, seed, ties)
    d, p = S.ks_2samp(a, b, method="exact")
    ref = _scipy_ks(a, b, method="exact")
    assert d == ref.statistic
    assert abs(p - ref.pvalue) <= 1e-6


@pytest.mark.parametrize("n,m", [(20, 20), (30, 45), (300, 300), (120, 1000)])
def test_ks_exact_small_pvalues_match_scipy(n: int, m: int) -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 1, n), rng.normal(1.5, 1, m)
    p = S.ks_2samp(a, b, method="exact").pvalue
    p_ref = _scipy_ks(a, b, method="exact").pvalue
    assert abs(p - p_ref) <= 1e-6
    assert p == pytest.approx(p_ref, rel=1e-6, abs=1e-300)


@pytest.mark.parametrize("n,m", SIZES + [(1500, 1500), (2000, 3000), (10**4, 3 * 10**4)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ks_asymp_is_kolmogorov_limit(n: int, m: int, seed: int) -> None:
    a, b = _samples(n, m, seed, ties=False)
    d, p = S.ks_2samp(a, b, method="asymp")
    assert d == _scipy_ks(a, b, method="asymp").statistic
    expected = ss.kstwobign.sf(d * math.sqrt(n * m / (n + m)))
    assert abs(p - expected) <= 1e-9


@pytest.mark.parametrize("n,m", [(1500, 1500), (2000, 3000), (3000, 3000), (5000, 10000)])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_ks_auto_above_exact_max_close_to_scipy(n: int, m: int, seed: int) -> None:
    a, b = _samples(n, m, seed, ties=False)
    res = S.ks_2samp(a, b)
    assert res.method == "asymp"
    assert abs(res.pvalue - _scipy_ks(a, b).pvalue) <= 0.01


# Sizes beyond the exact range where SciPy's "auto" is still exact (max <= 10_000):
# very unequal ratios, near-equal sizes (lattice effects), tiny minorities (one-sample law).
AUTO_LARGE = [
    (1001, 4000),
    (1200, 2500),
    (1001, 10000),
    (2000, 3000),
    (1500, 1500),
    (3000, 3000),
    (1001, 1001),
    (1001, 1002),
    (1001, 1500),
    (5000, 10000),
    (3, 5000),
    (20, 10000),
    (100, 1001),
    (101, 3000),
]


def _ks_auto_gap(n: int, m: int, seed: int, shift: float, ties: bool) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    a = rng.normal(0.0, 1.0, n)
    b = rng.normal(shift, 1.0, m)
    if ties:
        a, b = np.round(a * 3), np.round(b * 3)
    res = S.ks_2samp(a, b)
    assert res.method == "asymp"
    ref = _scipy_ks(a, b)
    return abs(res.pvalue - ref.pvalue), ref.pvalue


@pytest.mark.parametrize("n,m", AUTO_LARGE)
@pytest.mark.parametrize("ties", [False, True])
def test_ks_auto_large_matches_scipy_auto(n: int, m: int, ties: bool) -> None:
    """Over seeds and shifts (p spread over [0, 1]) "auto" stays within 0.01 of SciPy."""
    scale = 1.0 / math.sqrt(n * m / (n + m))
    pvals = []
    for seed in range(3):
        for k, shift in enumerate([0.0, 0.6 * scale, 1.2 * scale, 2.5 * scale]):
            gap, p_ref = _ks_auto_gap(n, m, 10 * seed + k, shift, ties)
            assert gap <= 0.01, (n, m, seed, shift, p_ref)
            pvals.append(p_ref)
    assert min(pvals) < 0.05 and max(pvals) > 0.3


@pytest.mark.parametrize(
    "n,m", [(1001, 4000), (1200, 2500), (1001, 1002), (2000, 3000), (20, 1001)]
)
def test_ks_auto_large_lattice_sweep_matches_scipy_exact(n: int, m: int) -> None:
    """Every D on a grid of lattice points h/lcm(n, m) covering p in (0, 1), not just samples.

    SciPy's "auto" is its exact P(D >= h/lcm) here; the worst gap of the old plain
    Kolmogorov limit at these sizes was 0.012-0.021.
    """
    from scipy.stats._stats_py import _attempt_exact_2kssamp

    g = math.gcd(n, m)
    lcm = n // g * m
    hmax = int(3.0 * lcm / math.sqrt(n * m / (n + m)))
    worst = 0.0
    for h in np.unique(np.linspace(1, hmax, 120).round().astype(int)).tolist():
        ok, d, p_ref = _attempt_exact_2kssamp(n, m, g, h / lcm, "two-sided")
        assert ok
        worst = max(worst, abs(S._ks_pvalue_large(h / lcm, n, m) - p_ref))
    assert worst <= 0.005


@pytest.mark.slow
@pytest.mark.parametrize(
    "n,m", [(9999, 10000), (10000, 10000), (4096, 10000), (1, 1001), (7, 2000)]
)
def test_ks_auto_large_extremes_slow(n: int, m: int) -> None:
    for seed in range(4):
        for shift in (0.0, 1.0 / math.sqrt(n * m / (n + m))):
            gap, _ = _ks_auto_gap(n, m, seed, shift, ties=seed % 2 == 1)
            assert gap <= 0.01


@pytest.mark.parametrize("n", [1, 2, 5, 17, 60, 100])
def test_kolmogorov_one_sample_sf_matches_scipy_kstwo(n: int) -> None:
    ds = np.concatenate([np.linspace(0.0, 1.0, 61), [0.5 / n, 1.0 - 1e-9, 1.5]])
    got = np.array([S._kolmogorov_one_sample_sf(n, float(d)) for d in ds])
    expected = ss.kstwo.sf(ds, n)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    tail = expected < 1e-6
    np.testing.assert_allclose(got[tail], expected[tail], rtol=1e-6, atol=1e-300)


def test_ks_auto_large_keeps_asymp_and_drift_helpers_unchanged() -> None:
    """``method="asymp"`` and the private helpers used by drift keep the plain limit."""
    a, b = _samples(1200, 2500, 0, ties=False)
    d = S.ks_2samp(a, b).statistic
    z = d * math.sqrt(1200 * 2500 / 3700)
    assert S.ks_2samp(a, b, method="asymp").pvalue == pytest.approx(ss.kstwobign.sf(z), abs=1e-12)
    assert S._resolve_method("auto", 1200, 2500, S.KS_EXACT_MAX) == "asymp"
    assert S._ks_pvalue(d, 1200, 2500, "asymp")[1] == pytest.approx(ss.kstwobign.sf(z), abs=1e-12)
    # Beyond SciPy's exact range the correction vanishes into the limit law.
    big = S._ks_pvalue_large(0.004, 200_000, 300_000)
    assert big == pytest.approx(ss.kstwobign.sf(0.004 * math.sqrt(120_000)), abs=2e-3)


@pytest.mark.parametrize("n,m", [(5, 9), (1000, 1000), (999, 1000)])
def test_ks_auto_uses_exact_up_to_1000(n: int, m: int) -> None:
    a, b = _samples(n, m, 4, ties=True)
    res = S.ks_2samp(a, b)
    assert res.method == "exact"
    assert tuple(res) == tuple(S.ks_2samp(a, b, method="exact"))


def test_kolmogorov_sf_matches_scipy() -> None:
    z = np.concatenate([np.linspace(0.0, 5.0, 1001), [0.81, 0.82, 0.83, 7.0, 40.0]])
    got = S.kolmogorov_sf(z)
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, ss.kstwobign.sf(z), rtol=1e-9, atol=1e-12)
    assert S.kolmogorov_sf(-1.0) == 1.0
    assert isinstance(S.kolmogorov_sf(1.0), float)


def test_ks_result_unpacks_and_carries_nan_counts() -> None:
    a = np.array([1.0, 2.0, np.nan, 3.0, np.inf])
    b = np.array([np.nan, 2.5, 3.5, 4.5])
    res = S.ks_2samp(a, b)
    d, p = res
    assert len(res) == 2
    assert (d, p) == (res.statistic, res.pvalue)
    assert (res.n_nan_a, res.n_nan_b, res.n_nan) == (2, 1, 3)
    assert (res.n_a, res.n_b) == (3, 3)
    ref = _scipy_ks(a[np.isfinite(a)], b[np.isfinite(b)], method="exact")
    assert d == ref.statistic and abs(p - ref.pvalue) <= 1e-6
    assert "n_nan=3" in repr(res)
    again = pickle.loads(pickle.dumps(res))
    assert tuple(again) == tuple(res) and again.n_nan == 3


@pytest.mark.parametrize("method", ["auto", "exact", "asymp"])
def test_ks_identical_constants(method: str) -> None:
    d, p = S.ks_2samp(np.full(50, 3.0), np.full(70, 3.0), method=method)  # type: ignore[arg-type]
    assert (d, p) == (0.0, 1.0)


def test_ks_disjoint_constants() -> None:
    d, p = S.ks_2samp(np.zeros(300), np.ones(300))
    assert d == 1.0
    assert 0.0 <= p < 1e-100
    assert not math.isnan(p)


@pytest.mark.parametrize("arg", ["a", "b"])
def test_ks_empty_raises_naming_argument(arg: str) -> None:
    good, bad = np.arange(5.0), np.array([np.nan, np.nan])
    args = (bad, good) if arg == "a" else (good, bad)
    with pytest.raises(ValueError, match=f"ks_2samp: argument '{arg}' is empty"):
        S.ks_2samp(*args)
    with pytest.raises(ValueError, match=f"argument '{arg}'"):
        empty = np.array([], dtype=np.float64)
        S.ks_2samp(*((empty, good) if arg == "a" else (good, empty)))


def test_ks_rejects_bad_method_and_non_numeric() -> None:
    with pytest.raises(ValueError, match="argument 'method'"):
        S.ks_2samp([1.0], [2.0], method="bogus")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="argument 'a' must be numeric"):
        S.ks_2samp(["x", "y"], [1.0])


def test_ks_exact_is_fast_at_1000() -> None:
    a, b = _samples(1000, 999, 0, ties=False)
    t0 = time.perf_counter()
    for _ in range(5):
        S.ks_2samp(a, b, method="exact")
    assert (time.perf_counter() - t0) / 5 < 0.25
    a, b = _samples(1000, 1000, 0, ties=False)
    t0 = time.perf_counter()
    for _ in range(20):
        S.ks_2samp(a, b, method="exact")
    assert (time.perf_counter() - t0) / 20 < 0.02


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float64, st.integers(1, 60), elements=st.integers(-5, 5).map(float)),
    arrays(np.float64, st.integers(1, 60), elements=st.integers(-5, 5).map(float)),
)
def test_ks_property_matches_scipy_and_is_symmetric(a: np.ndarray, b: np.ndarray) -> None:
    d, p = S.ks_2samp(a, b, method="exact")
    d2, p2 = S.ks_2samp(b, a, method="exact")
    assert 0.0 <= d <= 1.0 and 0.0 <= p <= 1.0
    assert d == d2 and abs(p - p2) <= 1e-12
    ref = _scipy_ks(a, b, method="exact")
    assert abs(d - ref.statistic) <= 1e-12
    assert abs(p - ref.pvalue) <= 1e-6


# --------------------------------------------------------------------------------------
# chi-square
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dof", [0.5, 1, 2, 3, 7.5, 10, 49, 100, 1000, 10000])
def test_chi2_sf_matches_scipy(dof: float) -> None:
    xs = np.concatenate([np.geomspace(1e-6, 1.0, 30), np.linspace(0.0, 6.0 * dof + 80.0, 400)[1:]])
    expected = ss.chi2.sf(xs, dof)
    keep = expected >= 1e-12
    got = S.chi2_sf(xs, dof)
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got[keep], expected[keep], rtol=1e-9, atol=0)
    assert np.all(got[~keep] <= 1e-11)


def test_chi2_sf_edges() -> None:
    assert S.chi2_sf(0.0, 3) == 1.0
    assert S.chi2_sf(-2.0, 3) == 1.0
    assert S.chi2_sf(math.inf, 3) == 0.0
    assert isinstance(S.chi2_sf(1.5, 2), float)
    for bad in (0, -1, math.nan, math.inf):
        with pytest.raises(ValueError, match="argument 'dof'"):
            S.chi2_sf(1.0, bad)
    with pytest.raises(ValueError, match="argument 'x'"):
        S.chi2_sf(math.nan, 2)


@pytest.mark.parametrize("k", [2, 3, 5, 10, 40])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_chi2_homogeneity_matches_scipy(k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    ref = rng.integers(1, 500, k)
    cur = rng.integers(1, 200, k)
    stat, p, dof = S.chi2_homogeneity(ref, cur)
    oracle = ss.chi2_contingency(np.vstack([ref, cur]), correction=False)
    assert stat == pytest.approx(oracle.statistic, rel=1e-12, abs=1e-12)
    assert p == pytest.approx(oracle.pvalue, rel=1e-9, abs=1e-300)
    assert dof == oracle.dof


def test_chi2_homogeneity_drops_double_zero_categories() -> None:
    ref = np.array([10, 0, 30, 0, 5])
    cur = np.array([12, 0, 20, 3, 0])
    res = S.chi2_homogeneity(ref, cur)
    keep = (ref + cur) > 0
    oracle = ss.chi2_contingency(np.vstack([ref[keep], cur[keep]]), correction=False)
    assert res.statistic == pytest.approx(oracle.statistic, rel=1e-12)
    assert res.pvalue == pytest.approx(oracle.pvalue, rel=1e-9)
    assert res.dof == oracle.dof == 3
    assert res.n_dropped == 1
    assert "n_dropped=1" in repr(res)
    assert tuple(pickle.loads(pickle.dumps(res))) == tuple(res)


def test_chi2_homogeneity_single_category_is_defined() -> None:
    assert tuple(S.chi2_homogeneity([10], [4])) == (0.0, 1.0, 0)
    assert tuple(S.chi2_homogeneity([10, 0], [4, 0])) == (0.0, 1.0, 0)


def test_chi2_homogeneity_identical_proportions() -> None:
    stat, p, dof = S.chi2_homogeneity([10, 20, 30], [20, 40, 60])
    assert stat == pytest.approx(0.0, abs=1e-12) and p == pytest.approx(1.0) and dof == 2


def test_chi2_homogeneity_errors() -> None:
    with pytest.raises(ValueError, match="argument 'ref_counts' is empty"):
        S.chi2_homogeneity([], [1])
    with pytest.raises(ValueError, match="argument 'cur_counts' sums to zero"):
        S.chi2_homogeneity([1, 2], [0, 0])
    with pytest.raises(ValueError, match="argument 'ref_counts' contains negative"):
        S.chi2_homogeneity([-1, 2], [1, 1])
    with pytest.raises(ValueError, match="argument 'cur_counts' contains NaN"):
        S.chi2_homogeneity([1, 2], [1, np.nan])
    with pytest.raises(ValueError, match="same length"):
        S.chi2_homogeneity([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="both be mappings"):
        S.chi2_homogeneity({"a": 1}, [1])


def test_chi2_homogeneity_with_mappings_and_unseen_category() -> None:
    ref = {"a": 50, "b": 30, "c": 20}
    cur = {"b": 25, "a": 40, "zz": 9, "new": 6}
    levels, r, c = S.align_counts(ref, cur)
    assert levels == ["a", "b", "c", "new", "zz"]
    np.testing.assert_array_equal(r, [50, 30, 20, 0, 0])
    np.testing.assert_array_equal(c, [40, 25, 0, 6, 9])
    res = S.chi2_homogeneity(ref, cur)
    oracle = ss.chi2_contingency(np.vstack([r, c]), correction=False)
    assert res.statistic == pytest.approx(oracle.statistic, rel=1e-12)
    assert res.pvalue == pytest.approx(oracle.pvalue, rel=1e-9, abs=1e-300)
    assert res.dof == 4


def test_align_counts_errors() -> None:
    with pytest.raises(ValueError, match="argument 'ref'"):
        S.align_counts([1, 2], {"a": 1})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="argument 'cur'"):
        S.align_counts({"a": 1}, {"a": -1})


# --------------------------------------------------------------------------------------
# PSI
# --------------------------------------------------------------------------------------


def _psi_reference(ref: np.ndarray, cur: np.ndarray, bins: int = 10) -> float:
    """Independent PSI: quantile edges, right-closed bins via np.histogram semantics."""
    edges = np.unique(np.quantile(ref, np.arange(1, bins) / bins))
    full = np.concatenate([[-np.inf], edges, [np.inf]])
    r = np.array(
        [np.sum((ref > lo) & (ref <= hi)) for lo, hi in zip(full[:-1], full[1:], strict=True)]
    )
    c = np.array(
        [np.sum((cur > lo) & (cur <= hi)) for lo, hi in zip(full[:-1], full[1:], strict=True)]
    )
    rp, cp = r / r.sum(), c / c.sum()
    rp = np.where(rp == 0, 1e-4, rp)
    cp = np.where(cp == 0, 1e-4, cp)
    return float(np.sum((cp - rp) * np.log(cp / rp)))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("ties", [False, True])
def test_psi_matches_definition(seed: int, ties: bool) -> None:
    a, b = _samples(1000, 700, seed, ties)
    assert S.psi(a, b) == pytest.approx(_psi_reference(a, b), rel=1e-12, abs=1e-15)
    assert S.psi(a, b, bins=4) == pytest.approx(_psi_reference(a, b, 4), rel=1e-12, abs=1e-15)


def test_psi_same_sample_is_zero_and_shift_is_large() -> None:
    a, _ = _samples(5000, 1, 0, ties=False)
    assert S.psi(a, a) == pytest.approx(0.0, abs=1e-12)
    assert S.psi(a, a + 1.0) > 0.5


def test_psi_explicit_edges_and_counts_helper() -> None:
    ref = np.array([0.0, 1, 2, 3, 4, 5, 6, 7])
    cur = np.array([0.0, 0, 1, 7, 7, 7])
    edges = [1.5, 4.5]
    rc = S.bin_counts(ref, edges)
    cc = S.bin_counts(cur, edges)
    np.testing.assert_array_equal(rc, [2, 3, 3])
    np.testing.assert_array_equal(cc, [3, 0, 3])
    expected = S.psi_from_counts(rc, cc)
    assert S.psi(ref, cur, edges=edges) == pytest.approx(expected)
    rp, cp = rc / rc.sum(), np.array([0.5, 1e-4, 0.5])
    assert expected == pytest.approx(float(np.sum((cp - rp) * np.log(cp / rp))))
    with pytest.raises(ValueError, match="argument 'edges'"):
        S.psi(ref, cur, edges=[3.0, 1.0])


def test_psi_constant_column_defined() -> None:
    value = S.psi(np.full(100, 2.0), np.full(80, 2.0))
    assert value == 0.0
    shifted = S.psi(np.full(100, 2.0), np.full(80, 3.0))
    assert math.isfinite(shifted) and shifted > 1.0
    assert S.quantile_edges(np.full(10, 2.0)).tolist() == [2.0]


def test_psi_nan_dropped_and_counted() -> None:
    ref = np.array([1.0, 2, 3, np.nan, 4, 5])
    cur = np.array([np.nan, np.nan, 2.0, 3.0])
    value = S.psi(ref, cur, bins=2)
    assert (value.n_nan_a, value.n_nan_b, value.n_nan) == (1, 2, 3)
    assert float(value) == pytest.approx(S.psi(ref[~np.isnan(ref)], [2.0, 3.0], bins=2))
    assert float(pickle.loads(pickle.dumps(value))) == float(value)


def test_psi_errors() -> None:
    with pytest.raises(ValueError, match="psi: argument 'ref' is empty"):
        S.psi([np.nan], [1.0])
    with pytest.raises(ValueError, match="psi: argument 'cur' is empty"):
        S.psi([1.0], [])
    with pytest.raises(ValueError, match="argument 'bins'"):
        S.psi([1.0, 2.0], [1.0], bins=0)
    with pytest.raises(ValueError, match="psi_from_counts: argument 'ref_counts' is empty"):
        S.psi_from_counts([], [])
    with pytest.raises(ValueError, match="same length"):
        S.psi_from_counts([1, 2], [1])


def test_psi_from_counts_with_mappings() -> None:
    value = S.psi_from_counts({"a": 5, "b": 5}, {"a": 5, "b": 4, "c": 1})
    expected = S.psi_from_counts([5, 5, 0], [5, 4, 1])
    assert value == pytest.approx(expected)


# --------------------------------------------------------------------------------------
# Wasserstein
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("n,m", SIZES + UNEQUAL)
@pytest.mark.parametrize("ties", [False, True])
def test_wasserstein_matches_scipy(n: int, m: int, ties: bool) -> None:
    a, b = _samples(n, m, 7, ties)
    expected = ss.wasserstein_distance(a, b)
    assert S.wasserstein(a, b) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_normed_wasserstein() -> None:
    a, b = _samples(500, 400, 1, ties=False)
    expected = ss.wasserstein_distance(a, b) / max(np.std(a), 1e-3)
    assert S.normed_wasserstein(a, b) == pytest.approx(expected, rel=1e-9)
    # A constant reference uses the 1e-3 floor, never NaN or inf.
    value = S.normed_wasserstein(np.full(20, 5.0), np.full(10, 5.5))
    assert value == pytest.approx(0.5 / 1e-3)
    assert S.normed_wasserstein(np.full(20, 5.0), np.full(10, 5.0)) == 0.0


def test_wasserstein_nan_and_errors() -> None:
    value = S.wasserstein([0.0, np.nan, 1.0], [np.nan, 1.0])
    assert float(value) == pytest.approx(ss.wasserstein_distance([0.0, 1.0], [1.0]))
    assert (value.n_nan_a, value.n_nan_b) == (1, 1)
    with pytest.raises(ValueError, match="wasserstein: argument 'b' is empty"):
        S.wasserstein([1.0], [np.nan])
    with pytest.raises(ValueError, match="normed_wasserstein: argument 'ref' is empty"):
        S.normed_wasserstein([], [1.0])


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float64, st.integers(1, 40), elements=st.floats(-1e3, 1e3)),
    arrays(np.float64, st.integers(1, 40), elements=st.floats(-1e3, 1e3)),
)
def test_wasserstein_property(a: np.ndarray, b: np.ndarray) -> None:
    w = S.wasserstein(a, b)
    assert w >= 0
    assert w == pytest.approx(S.wasserstein(b, a), rel=1e-9, abs=1e-9)
    assert w == pytest.approx(ss.wasserstein_distance(a, b), rel=1e-9, abs=1e-9)


# --------------------------------------------------------------------------------------
# Jensen-Shannon
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 5, 30])
@pytest.mark.parametrize("seed", [0, 1])
def test_jensen_shannon_matches_scipy(k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = rng.integers(0, 50, k).astype(float)
    q = rng.integers(0, 50, k).astype(float)
    p[0] += 1
    q[-1] += 1
    expected = jensenshannon(p, q, base=2)
    assert S.jensen_shannon(p, q) == pytest.approx(expected, abs=1e-9)


def test_jensen_shannon_edges() -> None:
    assert S.jensen_shannon([1, 0], [0, 1]) == pytest.approx(1.0)
    assert S.jensen_shannon([3, 3], [1, 1]) == 0.0
    assert S.jensen_shannon({"a": 1}, {"a": 1, "new": 1}) == pytest.approx(
        jensenshannon([1, 0], [1, 1], base=2)
    )
    with pytest.raises(ValueError, match="jensen_shannon: argument 'p' is empty"):
        S.jensen_shannon([], [1])
    with pytest.raises(ValueError, match="argument 'q' sums to zero"):
        S.jensen_shannon([1], [0])
    with pytest.raises(ValueError, match="same length"):
        S.jensen_shannon([1, 2], [1])


@settings(max_examples=80, deadline=None)
@given(
    st.integers(1, 12).flatmap(
        lambda k: st.tuples(
            arrays(np.float64, k, elements=st.floats(0, 100, allow_subnormal=False)),
            arrays(np.float64, k, elements=st.floats(0, 100, allow_subnormal=False)),
        )
    )
)
def test_jensen_shannon_property(pq: tuple[np.ndarray, np.ndarray]) -> None:
    p, q = pq
    p = p.copy()
    q = q.copy()
    p[0] += 1.0
    q[0] += 1.0
    d = S.jensen_shannon(p, q)
    assert 0.0 <= d <= 1.0
    assert d == pytest.approx(S.jensen_shannon(q, p), abs=1e-12)
    assert d == pytest.approx(jensenshannon(p, q, base=2), abs=1e-7)


# --------------------------------------------------------------------------------------
# Benjamini-Hochberg
# --------------------------------------------------------------------------------------


def test_jensen_shannon_ignores_subnormal_shares() -> None:
    # Found by Hypothesis: SciPy's answer is inf here; the distributions are equal.
    assert S.jensen_shannon([1.0, 0.0], [1.0, 5e-324]) == 0.0


@pytest.mark.parametrize("m", [1, 2, 7, 100])
@pytest.mark.parametrize("seed", [0, 1])
def test_benjamini_hochberg_matches_scipy(m: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    ps = rng.random(m) ** 3
    np.testing.assert_allclose(
        S.benjamini_hochberg(ps), ss.false_discovery_control(ps), rtol=0, atol=1e-12
    )


def test_benjamini_hochberg_ties_shape_and_errors() -> None:
    ps = np.array([[0.01, 0.01], [0.04, 1.0]])
    out = S.benjamini_hochberg(ps)
    assert out.shape == (2, 2)
    np.testing.assert_allclose(out.ravel(), ss.false_discovery_control(ps.ravel()), atol=1e-12)
    with pytest.raises(ValueError, match="argument 'pvalues' is empty"):
        S.benjamini_hochberg([])
    with pytest.raises(ValueError, match="argument 'pvalues' must lie in"):
        S.benjamini_hochberg([0.1, np.nan])
    with pytest.raises(ValueError, match="argument 'pvalues' must lie in"):
        S.benjamini_hochberg([1.5])


@settings(max_examples=80, deadline=None)
@given(arrays(np.float64, st.integers(1, 50), elements=st.floats(0, 1)))
def test_benjamini_hochberg_property(ps: np.ndarray) -> None:
    adj = S.benjamini_hochberg(ps)
    assert np.all(adj >= ps - 1e-15)
    assert np.all(adj <= 1.0)
    order = np.argsort(ps, kind="stable")
    assert np.all(np.diff(adj[order]) >= -1e-15)


# --------------------------------------------------------------------------------------
# scale and hygiene
# --------------------------------------------------------------------------------------


def test_one_million_rows_is_fast() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 1.0, 1_000_000)
    b = rng.normal(0.01, 1.0, 1_000_000)
    t0 = time.perf_counter()
    d, p = S.ks_2samp(a, b)
    w = S.wasserstein(a, b)
    value = S.psi(a, b)
    elapsed = time.perf_counter() - t0
    assert 0 < d < 0.05 and 0.0 <= p <= 1.0
    assert 0 < w < 0.05 and 0 <= value < 0.01
    # Three full passes over 2e6 values (sort-dominated); generous for a shared 2-core box.
    assert elapsed < 5.0


def test_stats_module_does_not_import_scipy() -> None:
    code = (
        "import sys; import selfheal.stats, selfheal.drift; "
        "sys.exit(1 if any(m == 'scipy' or m.startswith('scipy.') for m in sys.modules) else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.parametrize("ties", [False, True])
def test_bin_counts_sorted_path_agrees(ties: bool) -> None:
    a, _ = _samples(3000, 1, 9, ties)
    edges = S.quantile_edges(np.sort(a), 10)
    expected = S.bin_counts(a, edges)
    np.testing.assert_array_equal(S.bin_counts(np.sort(a), edges, assume_sorted=True), expected)
    assert expected.sum() == a.size


# -- missing share -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("k_ref", "n_ref", "k_cur", "n_cur"),
    [(250, 5000, 300, 300), (250, 5000, 45, 300), (0, 5000, 7, 300), (40, 800, 35, 700)],
)
def test_missing_share_test_matches_the_uncorrected_chi_square(
    k_ref: int, n_ref: int, k_cur: int, n_cur: int
) -> None:
    table = np.array([[k_ref, n_ref - k_ref], [k_cur, n_cur - k_cur]])
    oracle = ss.chi2_contingency(table, correction=False)
    p, h = S.missing_share_test(k_ref, n_ref, k_cur, n_cur)
    assert p == pytest.approx(oracle.pvalue, rel=1e-9, abs=1e-300)
    expected_h = abs(2 * np.arcsin(np.sqrt(k_cur / n_cur)) - 2 * np.arcsin(np.sqrt(k_ref / n_ref)))
    assert h == pytest.approx(expected_h, rel=1e-12)


def test_missing_share_test_edges_and_errors() -> None:
    assert S.missing_share_test(0, 100, 0, 50) == (1.0, 0.0)  # nothing missing anywhere
    p, h = S.missing_share_test(100, 100, 50, 50)  # everything missing on both sides
    assert (p, h) == (1.0, 0.0)
    with pytest.raises(ValueError, match="k_cur"):
        S.missing_share_test(0, 10, 11, 10)
    with pytest.raises(ValueError, match="n_ref"):
        S.missing_share_test(0, 0, 1, 10)
