"""Estimators: published numbers, an independent implementation, known simulated effects, honest size."""

import numpy as np
import pandas as pd
import pytest

from analysis import impact
from analysis.data import demo
from analysis.impact.design import make_design
from analysis.impact.twfe import twfe_coefficient

from conftest import ROOT
from simulate import _dynamic_panel, _sim_panel  # noqa: F401


@pytest.fixture(scope="module")
def prop99():
    df = pd.read_csv(ROOT / "tests" / "fixtures" / "california_prop99.csv")
    df["treat_start"] = np.where(df.State == "California", 1989, np.nan)
    return df


def test_prop99_published_numbers(prop99):
    """Arkhangelsky et al. (2021), Table 1: SDID -15.60 and DID -27.35 on Proposition 99."""
    kw = dict(outcome="PacksPerCapita", unit="State", time="Year")
    sdid = impact.estimate(prop99, method="sdid", n_placebo=30, **kw)
    twfe = impact.estimate(prop99, method="twfe", inference="cluster", **kw)
    sc = impact.estimate(prop99, method="sc", n_placebo=10, **kw)
    assert sdid.att == pytest.approx(-15.60, abs=0.005)
    assert twfe.att == pytest.approx(-27.35, abs=0.005)
    assert sc.att == pytest.approx(-19.62, abs=0.005)
    assert (sdid.n_treated, sdid.n_control, sdid.n_pre, sdid.n_post) == (1, 38, 19, 12)
    assert sdid.ci_low < sdid.att < sdid.ci_high


def test_sdid_matches_synthdid_py_staggered(demo_panel):
    """Our cohort aggregation and synthdid-py's own staggered estimator agree."""
    import synthdid

    p = demo_panel.copy()
    p["d"] = (p.treat_start.notna() & (p.period >= p.treat_start.fillna(pd.Period("2200-01", "M")))).astype(int)
    p["t"] = p.period.dt.year * 12 + p.period.dt.month
    ref = synthdid.staggered_synthdid_estimate(p[["unit", "t", "shootings", "d"]], unit="unit", time="t",
                                               outcome="shootings", treatment="d")
    ours = impact.estimate(demo_panel, method="sdid", n_placebo=2)
    assert ours.att == pytest.approx(ref.att, abs=1e-9)


def test_fast_twfe_equals_panelols(demo_panel):
    """The TWFE average and its error clustered by sector, in closed form, are PanelOLS's (unit
    and period effects, ``cov_type='clustered', cluster_entity=True``): on the demo city and on
    small random panels, where the small-sample factor n / (n - N - T) matters most."""
    from linearmodels import PanelOLS

    from analysis.impact.design import Design, treatment_matrix
    from analysis.impact.twfe import clustered_se

    def panelols(Y, D):
        N, T = Y.shape
        idx = pd.MultiIndex.from_product([np.arange(N), np.arange(T)], names=["unit", "time"])
        f = PanelOLS(pd.Series(Y.ravel(), index=idx), pd.DataFrame({"d": D.ravel()}, index=idx),
                     entity_effects=True, time_effects=True).fit(cov_type="clustered", cluster_entity=True)
        return f.params["d"], f.std_errors["d"]

    d = make_design(demo_panel, "shootings")
    res = impact.estimate(demo_panel, method="twfe", inference="cluster")
    beta, se = panelols(d.Y, d.D)
    assert twfe_coefficient(d.Y, d.D) == pytest.approx(beta, rel=1e-10)
    assert res.att == pytest.approx(beta, rel=1e-10) and res.se == pytest.approx(se, rel=1e-10)
    rng = np.random.default_rng(7)
    for N, T, starts in [(12, 9, [3, 5]), (30, 20, [5, 5, 12]), (8, 30, [1, 29])]:
        Y = rng.negative_binomial(2, 0.4, (N, T)).astype(float)
        start = np.full(N, -1)
        start[: len(starts)] = starts
        D = treatment_matrix(start, T)
        beta, se = panelols(Y, D)
        assert twfe_coefficient(Y, D) == pytest.approx(beta, rel=1e-10)
        assert clustered_se(Y, D) == pytest.approx(se, rel=1e-10)
    design = Design(Y=Y, start=start, units=pd.Index(range(N)), times=pd.Index(range(T)))
    assert impact.get_method("twfe").fit(design, event_window=None).cluster_se == pytest.approx(se, rel=1e-10)


@pytest.mark.parametrize("method,opts", [("sdid", {"n_placebo": 20}), ("twfe", {"n_perm": 199}),
                                         ("imputation", {"n_perm": 99})])
def test_additive_methods_overstate_the_fall_on_the_proportional_demo(demo_panel, demo_truth, method, opts):
    """The demo city's city-wide trend multiplies every sector's rate, as in the real city
    (issue 13). Methods that compare numbers of victims then overstate the program's fall in its
    (more violent) sectors: the reason the headline is the Poisson imputation. If this test
    fails, either the demo lost its proportional structure or the additive methods changed."""
    truth = demo.true_effect(demo_truth, "shootings")
    r = impact.estimate(demo_panel, outcome="shootings", method=method, **opts)
    head = impact.estimate(demo_panel, outcome="shootings", method="ppml", n_perm=19, ci=False)
    assert r.att_percent < truth["percent"] - 5, (r.summary(), truth)
    assert abs(head.att_percent - truth["percent"]) < abs(r.att_percent - truth["percent"]) / 2
    assert r.event_study.set_index("rel_period").loc[0:12, "estimate"].mean() < 0


def test_same_seed_same_numbers(demo_panel):
    a = impact.estimate(demo_panel, method="sdid", n_placebo=5, seed=3).to_frame()
    b = impact.estimate(demo_panel, method="sdid", n_placebo=5, seed=3).to_frame()
    pd.testing.assert_frame_equal(a, b)
    # the seed drives the reassignments: same seed, same interval and p-value; another seed, other draws
    c = impact.estimate(demo_panel, method="imputation", n_perm=99, seed=4)
    c2 = impact.estimate(demo_panel, method="imputation", n_perm=99, seed=4)
    d = impact.estimate(demo_panel, method="imputation", n_perm=99, seed=5)
    assert (c.ci_low, c.ci_high, c.p_value, c.se) == (c2.ci_low, c2.ci_high, c2.p_value, c2.se)
    assert c.att == d.att and (c.ci_low, c.ci_high, c.se) != (d.ci_low, d.ci_high, d.se)


def test_result_frame_and_summary(demo_panel):
    r = impact.estimate(demo_panel, method="twfe", n_perm=99)
    f = impact.stack([r, r])
    assert len(f) == 2 and {"att", "att_percent", "ci_low", "ci_high", "p_value", "inference", "n_treated"} <= set(f)
    assert "TWFE is biased" in r.summary()
    assert set(r.event_study.columns) >= {"rel_period", "estimate", "ci_low", "ci_high"}
    assert r.event_study.set_index("rel_period").loc[-1, "estimate"] == 0


def test_bad_panels_are_refused(demo_panel):
    with pytest.raises(ValueError, match="unknown method"):
        impact.estimate(demo_panel, method="magic")
    with pytest.raises(ValueError, match="not balanced"):
        impact.estimate(demo_panel.iloc[1:], method="twfe")
    with pytest.raises(ValueError, match="no column 'nope'"):
        impact.estimate(demo_panel, outcome="nope")
    never = demo_panel.assign(treat_start=pd.Series(pd.NaT, index=demo_panel.index, dtype="period[M]"))
    with pytest.raises(ValueError, match="no unit is treated"):
        impact.estimate(never, method="twfe")
    with pytest.raises(ValueError, match="not in the panel"):
        impact.for_unit(demo_panel, "NOPE")


def test_imputation_is_exact_where_twfe_is_biased():
    """Borusyak et al. (2024): with effects that grow over time and staggered starts, TWFE's
    already-treated comparisons bias it; the imputation estimator recovers the average exactly."""
    panel, truth = _dynamic_panel()
    imp = impact.estimate(panel, outcome="y", method="imputation", n_perm=19)
    twfe = impact.estimate(panel, outcome="y", method="twfe", inference="cluster")
    assert imp.att == pytest.approx(truth, abs=1e-6)
    assert abs(twfe.att - truth) > 0.1 * truth
    es = imp.event_study.set_index("rel_period").estimate
    assert es.loc[0] == pytest.approx(0.5, abs=1e-6) and es.loc[5] == pytest.approx(3.0, abs=1e-6)
    assert es.loc[-5:-1].abs().max() < 1e-6


def test_imputation_equals_did_on_a_block_design(prop99):
    r = impact.estimate(prop99, outcome="PacksPerCapita", unit="State", time="Year", method="imputation", n_perm=19)
    assert r.att == pytest.approx(-27.35, abs=0.005)


@pytest.fixture(scope="module")
def demo_adjacency(demo_dir):
    from analysis.data.geography import read_geography

    return read_geography(demo_dir / "geography" / "sectores_demo.geojson").adjacency()


def test_spillover_finds_injected_displacement(demo_panel, demo_truth, demo_adjacency):
    from analysis.evaluation.spillover import exposure, spillover

    exp = exposure(demo_panel, demo_adjacency)
    assert len(exp) >= 8 and not set(exp.index) & set(demo_panel[demo_panel.treat_start.notna()].unit)
    p = demo_panel.copy()
    hit = p.unit.isin(exp.index) & (p.period >= p.unit.map(exp))
    p["shootings"] = np.where(hit, p.shootings * 1.3, p.shootings)  # 30 % displacement next door
    s = spillover(p, demo_adjacency, outcome="shootings", n_perm=199)
    lo, hi = s.exposed.ci_percent
    assert lo < 30 < hi and abs(s.exposed.att_percent - 30) < 10, s.exposed.summary()
    truth = demo.true_effect(demo_truth, "shootings")["percent"]
    assert abs(s.main.att_percent - truth) < 0.25 * abs(truth)
    assert s.main.n_control == 64 - len(exp)
    assert len(s.to_frame()) == 2


def test_no_spillover_in_the_demo(demo_panel, demo_adjacency):
    from analysis.evaluation.spillover import spillover

    s = spillover(demo_panel, demo_adjacency, outcome="shootings", n_perm=199)
    lo, hi = s.exposed.ci_percent
    assert lo < 0 < hi, s.exposed.summary()


def test_power_curve_and_mde(demo_panel):
    from analysis.evaluation.power import power_curve

    never = demo_panel[demo_panel.treat_start.isna()]
    small = power_curve(never, outcome="shootings", n_treated=3, follow_up=12, n_sims=60, n_perm=99, seed=1)
    large = power_curve(never, outcome="shootings", n_treated=10, follow_up=24, n_sims=60, n_perm=99, seed=1)
    for r in (small, large):
        pw = r.curve.sort_values("effect", ascending=False).power.to_numpy()
        assert pw[0] <= 0.15  # no effect: rejections at about the test's size
        assert np.all(np.diff(pw) >= -0.05)  # power grows with the effect (up to simulation noise)
    # more sectors and longer follow-up detect smaller reductions (an MDE closer to zero)
    assert (np.isnan(small.mde) or small.mde < large.mde) and -0.6 < large.mde < 0
    assert large.curve.set_index("effect").power[-0.5] > 0.9
    with pytest.raises(ValueError, match="follow_up"):
        power_curve(never, outcome="shootings", n_treated=3, follow_up=500)


@pytest.fixture(scope="module")
def mpdta():
    df = pd.read_csv(ROOT / "tests" / "fixtures" / "mpdta.csv")
    df["treat_start"] = df.first_treat.replace(0, np.nan)
    return df


#: R package `did`, att_gt(yname="lemp", tname="year", idname="countyreal", gname="first.treat",
#: xformla=~1, data=mpdta): the group-time effects its documentation prints
PUBLISHED_MPDTA = {(2004, 2004): -0.0105, (2004, 2005): -0.0704, (2004, 2006): -0.1373, (2004, 2007): -0.1008,
                   (2006, 2004): 0.0065, (2006, 2005): -0.0028, (2006, 2006): -0.0046, (2006, 2007): -0.0412,
                   (2007, 2004): 0.0305, (2007, 2005): -0.0027, (2007, 2006): -0.0311, (2007, 2007): -0.0261}


def test_cs_reproduces_the_did_package_on_mpdta(mpdta):
    from analysis.impact.cs import aggregate, group_time

    d = make_design(mpdta, "lemp", unit="countyreal", time="year")
    gt = group_time(d.Y, d.start)
    got = {(int(d.times[g]), int(d.times[t])): a for g, t, a in gt[["g", "t", "att"]].itertuples(index=False)}
    assert set(got) == set(PUBLISHED_MPDTA)
    for k, v in PUBLISHED_MPDTA.items():
        assert got[k] == pytest.approx(v, abs=5e-5), k
    assert aggregate(gt, "simple")[0] == pytest.approx(-0.0400, abs=5e-5)
    assert aggregate(gt, "group")[0] == pytest.approx(-0.0310, abs=5e-5)
    assert aggregate(gt, "dynamic")[0] == pytest.approx(-0.0772, abs=5e-5)
    r = impact.estimate(mpdta, outcome="lemp", unit="countyreal", time="year", method="cs", n_perm=99)
    assert r.att == pytest.approx(-0.0400, abs=5e-5) and r.ci_low < r.att < r.ci_high


@pytest.mark.parametrize("control,dd_control", [("never", "never_treated"), ("notyettreated", "not_yet_treated")])
def test_cs_matches_diff_diff(mpdta, control, dd_control):
    import warnings

    from diff_diff import CallawaySantAnna

    from analysis.impact.cs import aggregate, group_time

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = CallawaySantAnna(control_group=dd_control).fit(mpdta, "lemp", "countyreal", "year", "first_treat")
    d = make_design(mpdta, "lemp", unit="countyreal", time="year")
    gt = group_time(d.Y, d.start, control)
    for g, t, a in gt[["g", "t", "att"]].itertuples(index=False):
        assert a == pytest.approx(ref.group_time_effects[(d.times[g], d.times[t])]["effect"], abs=1e-10)
    assert aggregate(gt, "simple")[0] == pytest.approx(ref.overall_att, abs=1e-10)


def test_imputation_matches_diff_diff(mpdta):
    import warnings

    from diff_diff import ImputationDiD

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = ImputationDiD().fit(mpdta, "lemp", "countyreal", "year", "first_treat")
    ours = impact.estimate(mpdta, outcome="lemp", unit="countyreal", time="year", method="imputation", n_perm=19)
    assert ours.att == pytest.approx(ref.overall_att, abs=1e-8)


def test_cs_covers_the_demo_truth(demo_panel, demo_truth):
    """CS compares each post month with the single month before the start, so with noisy
    monthly counts one draw can land far from the truth; its interval must still cover it."""
    truth = demo.true_effect(demo_truth, "shootings")
    r = impact.estimate(demo_panel, outcome="shootings", method="cs", n_perm=99)
    assert r.ci_low < truth["att"] < r.ci_high


def test_wild_bootstrap_equals_brute_force_refits():
    """Every Rademacher weight vector of an 8-cluster panel: the projection's bootstrap
    t-statistics equal those of PanelOLS refitted on each bootstrap sample."""
    import itertools

    from linearmodels import PanelOLS

    from analysis.impact.design import demean2, treatment_matrix
    from analysis.impact.inference.wild import _Projection, wild_bootstrap

    rng = np.random.default_rng(0)
    N, T = 8, 10
    Y = rng.poisson(3, (N, T)).astype(float)
    start = np.array([4, 6, -1, -1, -1, -1, -1, -1])
    D = treatment_matrix(start, T)
    idx = pd.MultiIndex.from_product([range(N), range(T)])

    def t_of(y):
        return PanelOLS(pd.Series(y.ravel(), index=idx), pd.DataFrame({"d": D.ravel()}, index=idx),
                        entity_effects=True, time_effects=True).fit(cov_type="clustered", cluster_entity=True).tstats["d"]

    pr = _Projection(Y, D)
    W = np.array(list(itertools.product([-1.0, 1.0], repeat=N)))
    u = demean2(Y)
    brute = np.array([t_of(Y - u + w[:, None] * u) for w in W])
    fast = pr.boot_t(W)
    # the same statistics up to the small-sample constant (CR1 here, linearmodels' own default there)
    ratio = fast / brute
    assert np.std(ratio) < 1e-10 and abs(ratio.mean() - 1) < 0.01
    assert pr.t_stat(0.0) / t_of(Y) == pytest.approx(ratio.mean(), rel=1e-10)
    # so the bootstrap p-value over all 256 weight vectors is the same either way (ties at 1e-9)
    p_fast = np.mean(np.abs(fast) >= abs(pr.t_stat(0.0)) - 1e-9)
    p_brute = np.mean(np.abs(brute) >= abs(t_of(Y)) - 1e-9)
    assert p_fast == p_brute
    res = wild_bootstrap(Y, start, B=2000, weights="rademacher", seed=1)
    assert res["ci"][0] < res["estimate"] < res["ci"][1]


def test_twfe_with_wild_inference(demo_panel):
    r = impact.estimate(demo_panel, method="twfe", inference="wild", n_boot=999)
    assert "wild cluster bootstrap" in r.inference.label and r.ci_low < r.att < r.ci_high and r.p_value < 0.05


def test_sa_matches_diff_diff_regression(mpdta):
    """Sun-Abraham computed as group-time comparisons with a universal base equals diff-diff's
    interaction-weighted regression: the overall effect and every event-study coefficient."""
    import warnings

    from diff_diff import SunAbraham

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = SunAbraham().fit(mpdta, "lemp", "countyreal", "year", "first_treat")
    r = impact.estimate(mpdta, outcome="lemp", unit="countyreal", time="year", method="sa", n_perm=99)
    assert r.att == pytest.approx(ref.overall_att, abs=1e-10)
    es = r.event_study.set_index("rel_period").estimate
    for e, v in ref.event_study_effects.items():
        assert es[int(e)] == pytest.approx(v["effect"], abs=1e-10), e


def test_sa_is_exact_on_the_dynamic_design():
    panel, truth = _dynamic_panel()
    r = impact.estimate(panel, outcome="y", method="sa", n_perm=19)
    assert r.att == pytest.approx(truth, abs=1e-9)


def test_ppml_effects_equal_a_poisson_glm():
    """The Poisson unit and period effects fitted on untreated cells equal statsmodels' GLM
    with unit and period indicators."""
    import statsmodels.api as sm

    from analysis.impact.ppml import fit_poisson_untreated

    rng = np.random.default_rng(0)
    N, T = 12, 10
    Y = rng.poisson(np.exp(rng.normal(1, 0.5, N))[:, None] * np.exp(rng.normal(0, 0.2, T))[None, :]).astype(float)
    start = np.array([5, 5, 7] + [-1] * 9)
    D = (np.arange(T)[None, :] >= start[:, None]) & (start[:, None] >= 0)
    a, b = fit_poisson_untreated(Y, ~D)
    ii, tt = np.nonzero(~D)
    X = np.zeros((len(ii), N + T - 1))
    X[np.arange(len(ii)), ii] = 1
    m = tt > 0
    X[np.arange(len(ii))[m], N + tt[m] - 1] = 1
    g = sm.GLM(Y[ii, tt], X, family=sm.families.Poisson()).fit(tol=1e-12).params
    ref = np.exp(g[:N][:, None] + np.r_[0.0, g[N:]][None, :])
    assert np.allclose(np.exp(a[:, None] + b[None, :]), ref, rtol=1e-8)


def test_ppml_is_exact_for_a_multiplicative_effect():
    rng = np.random.default_rng(3)
    N, T = 30, 24
    mu = np.exp(rng.normal(1, 0.5, N))[:, None] * np.exp(rng.normal(0, 0.2, T))[None, :]
    start = np.full(N, -1)
    start[:4] = 12
    D = (np.arange(T)[None, :] >= start[:, None]) & (start[:, None] >= 0)
    Y = np.where(D, 0.7 * mu, mu)
    p = pd.DataFrame({"unit": np.repeat(np.arange(N), T), "period": np.tile(np.arange(T), N), "y": Y.ravel()})
    p["treat_start"] = p.unit.map({i: (s if s >= 0 else np.nan) for i, s in enumerate(start)})
    r = impact.estimate(p, outcome="y", method="ppml", n_perm=19, ci=False)
    assert r.att_percent == pytest.approx(-30.0, abs=1e-6)
    assert r.details["cohort_period"].effect_percent.to_numpy() == pytest.approx(-30.0, abs=1e-6)


def test_ppml_event_study_is_exact_on_its_scale_and_keeps_its_draws():
    """On a multiplicative design whose effect grows with time since the start, each event-study
    point is that month's percent effect; before the start, zero. The reassignment draws are on
    the log scale, one row per reassignment, for the sensitivity analysis."""
    rng = np.random.default_rng(4)
    N, T = 30, 30
    mu = np.exp(rng.normal(1, 0.5, N))[:, None] * np.exp(rng.normal(0, 0.2, T))[None, :]
    start = np.full(N, -1)
    start[:5] = 15
    rel = np.arange(T)[None, :] - np.where(start >= 0, start, 10**6)[:, None]
    effect = np.where(rel >= 0, 1 - 0.02 * np.maximum(rel, 0), 1.0)
    Y = mu * effect
    p = pd.DataFrame({"unit": np.repeat(np.arange(N), T), "period": np.tile(np.arange(T), N), "y": Y.ravel()})
    p["treat_start"] = p.unit.map({i: (s if s >= 0 else np.nan) for i, s in enumerate(start)})
    r = impact.estimate(p, outcome="y", method="ppml", n_perm=19, ci=False, event_window=(-6, 10))
    es = r.event_study.set_index("rel_period")
    for k in range(0, 11):
        assert es.estimate[k] == pytest.approx(-2.0 * k, abs=1e-6)
    for k in range(-6, 0):
        assert es.estimate[k] == pytest.approx(0.0, abs=1e-6)
    assert r.event_draws.shape == (19, 17) and r.event_scale == "log"
    assert (es.ci_low <= es.estimate).all() and (es.estimate <= es.ci_high).all()


def test_ppml_recovers_the_demo_truth(demo_panel, demo_truth):
    truth = demo.true_effect(demo_truth, "shootings")
    r = impact.estimate(demo_panel, outcome="shootings", method="ppml", n_perm=99)
    lo, hi = r.ci_percent
    assert lo < truth["percent"] < hi and abs(r.att_percent - truth["percent"]) < 0.2 * abs(truth["percent"])
    assert r.p_value <= 0.05


def test_sdid_jackknife(demo_panel):
    two = demo_panel[~demo_panel.unit.isin(["D36"])]  # drop the one-sector 2019 cohort
    r = impact.estimate(two, method="sdid", inference="jackknife")
    assert r.se > 0 and r.ci_low < r.att < r.ci_high
    assert r.att == pytest.approx(r.details["att_synthdid_py"], abs=1e-9)
    with pytest.raises(ValueError, match="at least two treated units in every adoption cohort"):
        impact.estimate(demo_panel, method="sdid", inference="jackknife")


def test_relative_magnitudes_sensitivity(demo_panel):
    from analysis.evaluation.sensitivity import relative_magnitudes

    r = impact.estimate(demo_panel, method="imputation", n_perm=199)
    t = relative_magnitudes(r, mbar=(0.0, 0.25, 0.5, 1.0), post_quarters=4)
    # M = 0 is plain parallel trends: the identified set is the point estimate
    assert t.set_low[0] == t.set_high[0] == t.estimate[0]
    assert t.ci_low[0] < t.estimate[0] < t.ci_high[0]
    # more room for violations, wider sets
    assert np.all(np.diff(t.ci_high) > 0) and np.all(np.diff(t.ci_low) < 0)
    assert np.all(np.diff(t.set_high - t.set_low) > 0)
    # the confidence set contains the identified set
    assert np.all(t.ci_low <= t.set_low) and np.all(t.set_high <= t.ci_high)
    # just below the breakdown value the confidence set excludes zero, just above it reaches it
    b = t.attrs["breakdown"]
    assert 0 < b < 1
    below, above = (relative_magnitudes(r, mbar=(m,), post_quarters=4) for m in (b - 0.01, b + 0.01))
    edge = "ci_high" if t.estimate[0] < 0 else "ci_low"
    assert np.sign(below[edge][0]) == np.sign(t.estimate[0]) != np.sign(above[edge][0])
    with pytest.raises(ValueError, match="no event-study draws"):
        relative_magnitudes(impact.estimate(demo_panel, method="twfe", inference="cluster"))


def test_relative_magnitudes_on_the_ppml_scale(demo_panel):
    """The sensitivity analysis runs on the Poisson estimator's own scale (log of recorded over
    expected): its plain-parallel-trends point is the average of the quarterly log ratios after
    the start less the last quarter before it."""
    from analysis.evaluation.sensitivity import quarterly_event_study, relative_magnitudes

    r = impact.estimate(demo_panel, method="ppml", n_perm=99, ci=False)
    t = relative_magnitudes(r, mbar=(0.0, 0.5), post_quarters=4)
    beta, cov, qs = quarterly_event_study(r, 4, 4)
    lr = r.event_study.set_index("rel_period").log_ratio
    quarter = {q: lr[[3 * q, 3 * q + 1, 3 * q + 2]].mean() for q in range(-4, 4)}
    assert t.estimate[0] == pytest.approx(np.mean([quarter[q] - quarter[-1] for q in range(4)]), abs=1e-12)
    assert t.attrs["scale"] == "log" and -0.6 < t.estimate[0] < -0.2  # the demo's -30 % is -0.36 in logs
    assert t.ci_low[0] < t.estimate[0] < t.ci_high[0] and t.ci_high[1] > t.ci_high[0]


def test_relative_magnitudes_without_pre_trends():
    """Noise-free parallel trends: no pre-start change, so the identified set stays a point."""
    from analysis.evaluation.sensitivity import relative_magnitudes

    panel, truth = _dynamic_panel(n=40, T=36)  # additive: parallel in levels, not in proportions
    r = impact.estimate(panel, outcome="y", method="imputation", n_perm=19)
    t = relative_magnitudes(r, mbar=(0.0, 1.0, 2.0), pre_quarters=2, post_quarters=3)
    assert np.allclose(t.set_low, t.estimate) and np.allclose(t.set_high, t.estimate)
    assert t.attrs["largest_pre_change"] < 1e-9


def test_randomization_interval_is_unbounded_when_the_test_cannot_bound_it():
    """12 units, one treated, 99 reassignments: only 12 distinct assignments exist, so the test
    cannot reject far-away effects; the interval must say so rather than stop at its grid."""
    rng = np.random.default_rng(0)
    N, T = 12, 20
    Y = rng.poisson(3, (N, T)).astype(float)
    p = pd.DataFrame({"unit": np.repeat(np.arange(N), T), "period": np.tile(np.arange(T), N), "y": Y.ravel()})
    p["treat_start"] = np.where(p.unit == 0, 10, np.nan)
    r = impact.estimate(p, outcome="y", method="imputation", n_perm=99)
    assert r.ci_low == -np.inf and r.ci_high == np.inf  # reassignments to unit 0 itself always tie
    assert r.p_value > 0.05
    from analysis.impact.inference.randomization import invert

    # every reassignment behaves like the observed one (b = 1, same estimate): nothing is rejected
    a = np.full(100, 0.1)
    assert invert(0.1, a, np.ones_like(a), 0.05)["ci"] == (-np.inf, np.inf)
    # when b = 0 the observed statistic grows with tau while the reassigned ones do not: bounded
    lo, hi = invert(0.1, np.array([1.0, -1.0] * 50), np.zeros(100), 0.05)["ci"]
    assert np.isfinite(lo) and np.isfinite(hi) and lo < 0.1 < hi


def test_ppml_interval_is_not_cut_at_its_search_limits():
    rng = np.random.default_rng(4)
    N, T = 40, 24
    mu = np.exp(rng.normal(1, 0.5, N))[:, None] * np.ones((1, T))
    start = np.full(N, -1)
    start[:3] = 12
    D = (np.arange(T)[None, :] >= start[:, None]) & (start[:, None] >= 0)
    Y = rng.poisson(np.where(D, 4 * mu, mu)).astype(float)
    p = pd.DataFrame({"unit": np.repeat(np.arange(N), T), "period": np.tile(np.arange(T), N), "y": Y.ravel()})
    p["treat_start"] = p.unit.map({i: (s if s >= 0 else np.nan) for i, s in enumerate(start)})
    r = impact.estimate(p, outcome="y", method="ppml", n_perm=99)
    lo, hi = r.details["ratio_ci"]
    assert lo < r.details["effect_ratio"] < hi
    assert hi != pytest.approx(r.details["effect_ratio"] + 2.0) and lo != pytest.approx(r.details["effect_ratio"] - 1.0)


def test_ppml_ignores_reassignments_it_cannot_impute_and_refuses_an_unimputable_unit():
    rng = np.random.default_rng(6)
    N, T = 12, 20
    Y = rng.poisson(3, (N, T)).astype(float)
    Y[7:] = 0  # five units without any event
    p = pd.DataFrame({"unit": np.repeat(np.arange(N), T), "period": np.tile(np.arange(T), N), "y": Y.ravel()})
    p["treat_start"] = np.where(p.unit == 0, 10, np.nan)
    r = impact.estimate(p, outcome="y", method="ppml", n_perm=99, ci=False)
    assert 0 < r.p_value <= 1
    q = p.copy()
    q.loc[(q.unit == 0) & (q.period < 10), "y"] = 0  # the treated unit has no event before its start
    with pytest.raises(ValueError, match="no recorded events before the start"):
        impact.estimate(q, outcome="y", method="ppml", n_perm=19)


def test_reassignment_pool_holds_the_sectors_that_could_have_been_chosen():
    """Rule: PPML reassigns the calendar only among units at least as violent before the first
    start as the least violent treated unit, filled up to max(2 x treated, MIN_POOL) with the most
    violent others; units outside the pool are never treated in a reassignment."""
    from analysis.impact.inference.randomization import MIN_POOL, comparable_pool, permuted_starts

    N, T = 60, 24
    level = np.linspace(10, 0.5, N)  # unit 0 most violent
    Y = np.repeat(level[:, None], T, axis=1)
    start = np.full(N, -1)
    start[[3, 7, 30]] = [12, 12, 18]  # least violent treated: unit 30
    pool = comparable_pool(Y, start)
    assert pool.sum() == 31 and pool[:31].all() and not pool[31:].any()
    # a unit exactly as violent as the least violent treated one is comparable
    Y2 = Y.copy()
    Y2[40] = Y[30]
    assert comparable_pool(Y2, start)[40]
    # the level is the mean before the *first* start: later months (here a surge in unit 50 from
    # month 12, when the program is under way) do not make a unit comparable
    Y3 = Y.copy()
    Y3[50, 12:] = 100.0
    assert not comparable_pool(Y3, start)[50]
    Y4 = Y.copy()
    Y4[50, 1:12] = 100.0  # violent before the first start, though not in its very first month
    assert comparable_pool(Y4, start)[50]
    # many treated: the pool is at least twice their number
    many = np.full(N, -1)
    many[:12] = 12
    assert comparable_pool(Y, many).sum() == 24
    # a single very violent treated unit: the pool is filled up with the next most violent
    one = np.full(N, -1)
    one[0] = 12
    p1 = comparable_pool(Y, one)
    assert p1.sum() == MIN_POOL and p1[:MIN_POOL].all()
    perms = permuted_starts(start, 200, 1, pool)
    assert (perms[:, ~pool] == -1).all()
    assert (np.sort(perms, axis=1) == np.sort(start)).all()  # the same calendar, reassigned
    assert len({tuple(np.flatnonzero(p >= 0)) for p in perms}) > 100
    with pytest.raises(ValueError, match="every treated unit"):
        permuted_starts(start, 5, 1, ~pool)
    missing_one = pool.copy()
    missing_one[30] = False
    with pytest.raises(ValueError, match="every treated unit"):
        permuted_starts(start, 5, 1, missing_one)
    assert MIN_POOL == 20  # one sector among 20 reaches p = 0.05 (the documented floor)


def test_ppml_smallest_p_value_counts_distinct_reassignments():
    """Rule: one treated unit among a pool of 20 can never give p below 1/20, however many draws."""
    from analysis.impact.inference.placebo import distinct_placebos

    assert distinct_placebos(np.r_[5, np.full(25, -1)], 19) == pytest.approx(19)
    assert distinct_placebos(np.r_[5, 5, 7, np.full(25, -1)], 10) == pytest.approx(10 * 9 * 8 / 2)
    from analysis.impact.inference.randomization import distinct_reassignments

    assert distinct_reassignments(np.r_[5, np.full(19, -1)]) == pytest.approx(20)
    assert distinct_reassignments(np.r_[5, 5, 7, np.full(7, -1)]) == pytest.approx(10 * 9 * 8 / 2)
    rng = np.random.default_rng(0)
    N, T = 30, 30
    Y = rng.poisson(np.linspace(8, 1, N)[:, None] * np.ones(T))
    p = pd.DataFrame({"unit": np.repeat(np.arange(N), T), "period": np.tile(np.arange(T), N), "y": Y.ravel(),
                      "treat_start": np.repeat(np.where(np.arange(N) == 0, 15, np.nan), T)})
    r = impact.estimate(p, outcome="y", method="ppml", n_perm=199, ci=False)
    # the placebo: 19 comparable never-treated sectors, each taken once (not 199 resamples of them)
    assert r.inference.n_draws == 19 and r.inference.min_p_value == pytest.approx(1 / 20)
    assert len(r.inference.pool) == 20 and r.p_value >= 1 / 20
    r = impact.estimate(p, outcome="y", method="ppml", inference="randomization", n_perm=199, ci=False)
    assert r.inference.min_p_value == pytest.approx(1 / 20) and r.p_value >= 1 / 20
