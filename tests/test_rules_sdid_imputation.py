"""Rules of synthetic difference-in-differences, synthetic control and the imputation estimator
that decide a published number (issue 14).

Companion of test_rules_impact.py: each test names the rule it guards, on a panel small enough
to check by hand or by an independent computation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def _panel(Y: np.ndarray, starts: dict[int, int]) -> pd.DataFrame:
    """Long panel of the (N, T) outcome matrix ``Y``; ``starts`` maps a row to the index of its
    first treated month (rows not in it are never treated)."""
    N, T = Y.shape
    periods = pd.period_range("2020-01", periods=T, freq="M")
    p = pd.MultiIndex.from_product([[f"U{i:02d}" for i in range(N)], periods],
                                   names=["unit", "period"]).to_frame(index=False)
    p["y"] = Y.ravel()
    p["treat_start"] = pd.Series([periods[starts[i]] if i in starts else pd.NaT for i in range(N) for _ in range(T)],
                                 dtype="period[M]")
    return p


def _noisy_staggered(seed: int = 3) -> tuple[np.ndarray, dict[int, int]]:
    """Ten sectors, twelve months, count-like noise around different levels; rows 8 and 9 start
    in months 6 and 8 (two cohorts of one sector each)."""
    rng = np.random.default_rng(seed)
    Y = rng.poisson(8.0, (10, 12)).astype(float) + np.linspace(0, 20, 10)[:, None]
    return Y, {8: 6, 9: 8}


def _gap_by_rel(res, starts: dict[int, int]) -> pd.Series:
    """Independent event study: mean over treated units of observed minus counterfactual, by
    months since each unit's start, from the result's own counterfactual table."""
    cf = res.counterfactual.copy()
    periods = sorted(cf.period.unique())
    pos = {p: k for k, p in enumerate(periods)}
    start_of = {f"U{i:02d}": k for i, k in starts.items()}
    cf["rel"] = [pos[p] - start_of[u] for u, p in zip(cf.unit, cf.period)]
    return (cf.observed - cf.counterfactual).groupby(cf.rel).mean()


# -- SDID and SC: weights, scale ---------------------------------------------------------------
#: small counts with ties: rows 0 and 1 share their first month, and so do rows 2, 3 and 4;
#: rows 5 and 6 start in the second month, so their cohort has a single pre-program month
_SMALL_COUNTS = np.array([[1, 2, 3, 2, 4, 3, 1, 2, 2], [1, 0, 1, 2, 0, 1, 2, 3, 1], [0, 1, 1, 0, 2, 1, 0, 1, 1],
                          [0, 0, 1, 1, 0, 1, 2, 0, 1], [0, 2, 0, 1, 1, 0, 1, 1, 2], [1, 1, 2, 1, 1, 2, 1, 0, 0],
                          [1, 3, 0, 1, 0, 2, 1, 1, 0]], dtype=float)


@pytest.mark.parametrize("method", ["sdid", "sc"])
@pytest.mark.parametrize("case", ["staggered", "one month before"])
def test_rule_sdid_and_sc_estimates_do_not_depend_on_the_outcome_unit(method, case):
    """The regularisation and the solver's stopping rule are set in units of the noise (the s.d.
    of the controls' monthly changes), as in R's synthdid: measuring the outcome in other units
    (counts, rates per 100,000, per inhabitant) rescales the estimate and changes nothing else.
    With one pre-program month the noise is 0 and so is the regularisation, in any unit."""
    from analysis import impact

    Y, starts = _noisy_staggered() if case == "staggered" else (_SMALL_COUNTS, {5: 1, 6: 1})
    base = impact.estimate(_panel(Y, starts), outcome="y", method=method, n_placebo=3)
    for c in (1e-5, 1e3):
        r = impact.estimate(_panel(Y * c, starts), outcome="y", method=method, n_placebo=3)
        assert r.att / c == pytest.approx(base.att, rel=1e-9, abs=1e-12)
        assert np.allclose(r.counterfactual.counterfactual / c, base.counterfactual.counterfactual, rtol=1e-9)


@pytest.mark.parametrize("first_start", [1, 4])
def test_rule_noise_free_parallel_panel_gives_the_exact_effect_even_with_one_month_before(first_start):
    """Comparison sectors a_i + g_t, a treated sector c + g_t (c inside the range of the a_i)
    whose level rises by 5 from its start: SDID (like DID) and SC (a convex combination of the
    comparisons reproduces c) both recover 5 exactly. A cohort that starts in the panel's second
    month has one pre-program month: the noise of its monthly changes is then 0, not undefined."""
    from analysis import impact

    g = np.array([3.0, 5.0, 4.0, 6.0, 7.0, 9.0, 8.0, 10.0])
    a = np.array([0.0, 4.0, 10.0, 15.0, 22.0, 31.0])
    Y = np.vstack([a[:, None] + g[None, :], (12.3 + g)[None, :]])
    Y[6, first_start:] += 5.0
    p = _panel(Y, {6: first_start})
    for method in ("sdid", "sc"):
        r = impact.estimate(p, outcome="y", method=method, n_placebo=2)
        assert r.att == pytest.approx(5.0, abs=1e-9), method
        # before the start the synthetic comparison sits on the treated sector's path
        pre = r.counterfactual[~r.counterfactual.treated]
        assert np.allclose(pre.observed, pre.counterfactual, atol=1e-9), method


def test_rule_with_one_month_before_sdid_is_did():
    """With a single pre-program month the only time weight is 1 and, the intercept absorbing
    levels, every set of unit weights fits it equally well: SDID keeps uniform weights and is the
    plain difference in differences, computed here by hand."""
    from analysis import impact

    Y, _ = _noisy_staggered(seed=11)
    r = impact.estimate(_panel(Y, {9: 1}), outcome="y", method="sdid", n_placebo=2)
    did = (Y[9, 1:].mean() - Y[9, 0]) - (Y[:9, 1:].mean() - Y[:9, 0].mean())
    assert r.att == pytest.approx(did, abs=1e-9)


# -- event studies: which relative months, and what they average --------------------------------
@pytest.mark.parametrize("method", ["sdid", "sc", "imputation"])
def test_rule_event_study_averages_treated_gaps_at_every_month_some_treated_unit_reaches(method):
    """Each event-study point is the mean, over the treated sectors observed that many months
    from their start, of observed minus counterfactual. A month reached by a single sector is
    kept; a month of the window no sector reaches has no point (not a zero)."""
    from analysis import impact

    Y, starts = _noisy_staggered()
    opts = {"n_perm": 19} if method == "imputation" else {"n_placebo": 3}
    r = impact.estimate(_panel(Y, starts), outcome="y", method=method, **opts)  # window (-12, 24)
    want = _gap_by_rel(r, starts)
    # row 9 starts at month 8 of 12: -8 is reached by it alone, 5 by row 8 alone
    assert list(r.event_study.rel_period) == list(range(-8, 6)) == list(want.index)
    assert np.allclose(r.event_study.estimate, want.to_numpy(), atol=1e-9)
    assert np.isfinite(r.event_study.se).all()


def test_rule_imputation_event_study_never_includes_untreated_sectors_however_long_the_window():
    """Untreated sectors have no months since a start: a window reaching far past the panel's end
    adds no point (the relative months are those of the treated sectors only)."""
    from analysis import impact

    Y, starts = _noisy_staggered()
    r = impact.estimate(_panel(Y, starts), outcome="y", method="imputation", n_perm=19, event_window=(-3, 80))
    assert list(r.event_study.rel_period) == list(range(-3, 6))
    assert np.allclose(r.event_study.estimate, _gap_by_rel(r, starts).loc[-3:].to_numpy(), atol=1e-9)


# -- placebo inference: refusals, labels, defaults -----------------------------------------------
def test_rule_sdid_placebo_needs_more_never_treated_than_treated_sectors():
    """Placebo stand-ins are drawn without replacement from the never-treated sectors; with as
    many never-treated as treated there is only one set of stand-ins, so it refuses."""
    from analysis import impact

    Y, _ = _noisy_staggered()
    with pytest.raises(ValueError, match="more never-treated units"):
        impact.estimate(_panel(Y[:6], {3: 6, 4: 6, 5: 8}), outcome="y", method="sdid", n_placebo=2)
    r = impact.estimate(_panel(Y[:7], {4: 6, 5: 6, 6: 8}), outcome="y", method="sdid", n_placebo=2)
    assert (r.n_treated, r.n_control) == (3, 4)


def test_rule_a_placebo_pool_holding_every_never_treated_sector_is_labelled_unrestricted():
    """``placebo_pool=k`` restricts stand-ins to the k nearest never-treated sectors; the
    inference label says so only when k is smaller than their number (the label is printed in
    the report next to the interval)."""
    from analysis import impact

    Y, starts = _noisy_staggered()
    p = _panel(Y, starts)
    full = impact.estimate(p, outcome="y", method="sdid", n_placebo=2, placebo_pool=8)
    assert full.inference.label == "placebo (2 draws of never-treated stand-ins)"
    part = impact.estimate(p, outcome="y", method="sdid", n_placebo=2, placebo_pool=7)
    assert "among the 7 never-treated units nearest" in part.inference.label


def test_rule_only_synthetic_control_carries_the_no_intercept_warning():
    """SC has no intercept, so a treated sector outside the comparisons' range is biased: its
    results say so; SDID (which has an intercept) does not carry that warning."""
    from analysis import impact

    Y, starts = _noisy_staggered()
    p = _panel(Y, starts)
    sc = impact.estimate(p, outcome="y", method="sc", n_placebo=2)
    sdid = impact.estimate(p, outcome="y", method="sdid", n_placebo=2)
    assert any("no intercept" in n for n in sc.notes)
    assert not any("no intercept" in n for n in sdid.notes)


def test_rule_default_number_of_draws_is_200_placebos_for_sdid_and_499_reassignments_for_imputation():
    """The defaults of ``estimate`` (the docstring's example calls it without them): 200 placebo
    draws for SDID and SC, 499 calendar reassignments for the imputation estimator (the smallest
    p-value is then 1/500, or one over the distinct reassignments when there are fewer: 1/6 for
    one treated unit among 6)."""
    from analysis import impact

    Y = np.random.default_rng(5).poisson(4.0, (6, 5)).astype(float)
    p = _panel(Y, {5: 3})
    r = impact.estimate(p, outcome="y", method="sdid")
    assert r.inference.n_draws == 200 and r.inference.label.startswith("placebo (200 draws")
    r = impact.estimate(p, outcome="y", method="imputation")
    assert r.inference.n_draws == 499 and r.inference.min_p_value == pytest.approx(1 / 6)
    big = impact.estimate(_panel(np.random.default_rng(5).poisson(4.0, (40, 5)).astype(float), dict.fromkeys(range(5), 3)), outcome="y",
                          method="imputation")
    assert big.inference.min_p_value == pytest.approx(1 / 500)


# -- imputation: the untreated fit ---------------------------------------------------------------
def test_rule_imputation_is_unchanged_by_adding_sector_and_month_constants():
    """The untreated outcome is a sector effect plus a month effect fitted on the untreated cells,
    so adding any a_i + b_t to the outcome leaves the effect and the imputed gaps unchanged; in
    particular centring each sector on its own untreated months (a common pre-processing)."""
    from analysis.impact.imputation import imputation_att

    Y, starts = _noisy_staggered()
    start = np.array([starts.get(i, -1) for i in range(10)])
    att, Y0 = imputation_att(Y, start)
    # independent least squares on the untreated cells
    D = (np.arange(12)[None, :] >= start[:, None]) & (start[:, None] >= 0)
    rows, cols = np.nonzero(~D)
    X = np.zeros((len(rows), 10 + 12))
    X[np.arange(len(rows)), rows] = 1.0
    X[np.arange(len(rows)), 10 + cols] = 1.0
    coef = np.linalg.lstsq(X, Y[rows, cols], rcond=None)[0]
    Y0_ls = coef[:10, None] + coef[None, 10:]
    assert att == pytest.approx(float((Y - Y0_ls)[D].mean()), abs=1e-7)
    rng = np.random.default_rng(0)
    n_i = (~D).sum(1)
    row_mean = np.where(~D, Y, 0.0).sum(1) / n_i
    # month 0 is untreated everywhere: beta added to it, then each sector centred, so that every
    # sector's untreated mean and month 0's mean are both zero (a fit's first pass sees zeros)
    beta = -np.mean(Y[:, 0] - row_mean) / (1 - np.mean(1 / n_i))
    month0 = np.zeros((10, 12))
    month0[:, 0] = beta
    shifts = [rng.normal(0, 5, 10)[:, None] + rng.normal(0, 5, 12)[None, :],
              -row_mean[:, None],
              month0 - (row_mean + beta / n_i)[:, None]]
    for s in shifts:
        att2, Y02 = imputation_att(Y + s, start)
        assert att2 == pytest.approx(att, abs=1e-7)
        assert np.allclose((Y + s - Y02)[D], (Y - Y0)[D], atol=1e-7)


@pytest.mark.parametrize("p", [1, 4, 9])
def test_rule_imputation_att_many_is_the_one_calendar_estimate_for_each(p):
    """``imputation.att_many`` (every reassignment at once, the untreated units carried as one
    number; the power simulations) gives ``imputation_att`` of each calendar, to rounding: with
    a unit and a month without events, starts in the second and the last month, and p of 12
    units treated. Calendars treating different numbers of units are done one by one; a start in
    the first month is refused as the one-calendar fit refuses it."""
    from analysis.impact.imputation import att_many, imputation_att

    rng = np.random.default_rng(p)
    N, T = 12, 16
    Y = rng.poisson(2.5, (N, T)).astype(float) / 1.7
    Y[3] = 0
    Y[:, 6] = 0
    start = np.full(N, -1)
    start[:p] = rng.choice([1, 5, 9, 15], p)
    cals = np.stack([start] + [rng.permutation(start) for _ in range(30)])
    want = np.array([imputation_att(Y, s)[0] for s in cals])
    np.testing.assert_allclose(att_many(Y, cals), want, rtol=1e-9, atol=1e-12)
    mixed = cals[:4].copy()
    mixed[0, np.flatnonzero(mixed[0] < 0)[0]] = 5
    np.testing.assert_allclose(att_many(Y, mixed), [imputation_att(Y, s)[0] for s in mixed], rtol=1e-12)
    with pytest.raises(ValueError, match="untreated cell in every unit"):
        att_many(Y, np.where(cals >= 0, 0, -1))
