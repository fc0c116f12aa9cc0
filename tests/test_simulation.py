"""Simulation studies: size of the tests under a true null and coverage of the intervals,
on simulated panels and on the real 2013-2015 sector counts."""

import numpy as np
import pandas as pd
import pytest

from analysis import impact
from analysis.impact.design import make_design
from analysis.impact.twfe import randomization_test

from conftest import SHARED, needs_shared
from simulate import _heterogeneous_panel, _sim_panel


def test_randomization_inference_holds_its_size():
    """With 3 treated units and no effect, the 5% test rejects about 5% of the time."""
    rng = np.random.default_rng(1)
    rej = []
    for _ in range(300):
        Y, start = _sim_panel(rng)
        rej.append(randomization_test(Y.astype(float), start, n_perm=199, seed=int(rng.integers(1e9)))["p_value"] <= 0.05)
    assert 0.02 <= np.mean(rej) <= 0.09, np.mean(rej)


def test_randomization_inference_has_power_and_covers():
    rng = np.random.default_rng(2)
    hits = []
    for _ in range(60):
        Y, start = _sim_panel(rng, n_treated=5, effect=-0.5)
        r = randomization_test(Y.astype(float), start, n_perm=199, seed=0)
        hits.append(r["p_value"] <= 0.05)
        assert r["ci"][0] <= r["estimate"] <= r["ci"][1]
    assert np.mean(hits) > 0.5


def test_imputation_randomization_holds_its_size():
    from analysis.impact.imputation import imputation_att  # noqa: F401  (the statistic under test)

    rng = np.random.default_rng(11)
    rej = []
    for _ in range(120):
        Y, start = _sim_panel(rng, n=30, T=24)
        p = pd.DataFrame({"unit": np.repeat(np.arange(30), 24), "period": np.tile(np.arange(24), 30), "y": Y.ravel().astype(float)})
        p["treat_start"] = p.unit.map({i: (s if s >= 0 else np.nan) for i, s in enumerate(start)})
        rej.append(impact.estimate(p, outcome="y", method="imputation", n_perm=99, seed=int(rng.integers(1e9))).p_value <= 0.05)
    assert 0.01 <= np.mean(rej) <= 0.10, np.mean(rej)  # neither over-rejecting nor a test that never rejects


def test_cs_is_unbiased_on_simulated_staggered_panels():
    """Average over simulated overdispersed panels with staggered starts and a -40% effect."""
    rng = np.random.default_rng(21)
    est, true = [], []
    for _ in range(60):
        Y0, start = _sim_panel(rng, n=40, T=30, n_treated=6)
        D = (np.arange(30)[None, :] >= start[:, None]) & (start[:, None] >= 0)
        Y = np.where(D, rng.binomial(Y0, 0.6), Y0).astype(float)  # each event kept with prob. 0.6
        p = pd.DataFrame({"unit": np.repeat(np.arange(40), 30), "period": np.tile(np.arange(30), 40), "y": Y.ravel()})
        p["treat_start"] = p.unit.map({i: (s if s >= 0 else np.nan) for i, s in enumerate(start)})
        from analysis.impact.cs import aggregate, group_time

        d = make_design(p, "y")
        est.append(aggregate(group_time(d.Y, d.start), "simple")[0])
        true.append(float((Y - Y0)[D].mean()))
    bias = np.mean(est) - np.mean(true)
    assert abs(bias) < 0.15 * abs(np.mean(true)), (np.mean(est), np.mean(true))


def _coverage(method: str, n_panels: int, **options) -> tuple[float, float]:
    """(coverage of the realised effect by the 95 % interval, bias relative to the mean effect)
    over simulated staggered, heterogeneous, overdispersed panels (seed 1)."""
    rng = np.random.default_rng(1)
    cover, est, true = [], [], []
    for _ in range(n_panels):
        p, truth = _heterogeneous_panel(rng)
        r = impact.estimate(p, outcome="y", method=method, seed=int(rng.integers(1e9)), **options)
        cover.append(r.ci_low <= truth <= r.ci_high)
        est.append(r.att)
        true.append(truth)
    return float(np.mean(cover)), float(abs(np.mean(est) - np.mean(true)) / abs(np.mean(true)))


def test_sdid_placebo_coverage():
    """SDID's placebo interval (the paper's method: stand-ins from all never-treated units)."""
    cover, bias = _coverage("sdid", 150, n_placebo=100)
    assert 0.92 <= cover <= 0.98, cover
    assert bias < 0.05


@pytest.mark.parametrize("method", ["imputation", "cs", "sa"])
def test_coverage_on_staggered_heterogeneous_overdispersed_panels(method):
    """The 95 % interval covers the realised effect in 92-98 % of 200 simulated panels, and the
    bias is small against the effect."""
    cover, bias = _coverage(method, 200, n_perm=199)
    assert 0.92 <= cover <= 0.98, cover
    assert bias < 0.05


def test_ppml_coverage_of_the_realised_ratio():
    """PPML's interval (on the ratio scale) covers the realised recorded/expected - 1 in 92-98 %
    of 150 simulated staggered, heterogeneous, overdispersed panels."""
    rng = np.random.default_rng(2)
    cover = []
    for _ in range(150):
        p, _ = _heterogeneous_panel(rng)
        r = impact.estimate(p, outcome="y", method="ppml", n_perm=99, seed=int(rng.integers(1e9)))
        lo, hi = r.details["ratio_ci"]
        cover.append(lo <= p.attrs["ratio"] <= hi)
    assert 0.92 <= np.mean(cover) <= 0.98, np.mean(cover)


def test_wild_bootstrap_does_not_over_reject_with_three_treated():
    from analysis.impact.inference.wild import wild_bootstrap

    rng = np.random.default_rng(5)
    rej = [wild_bootstrap(*_sim_panel(rng), B=399, seed=int(rng.integers(1e9)), ci=False)["p_value"] <= 0.05
           for _ in range(150)]
    # with three treated clusters the restricted wild bootstrap is known to be very conservative
    # (MacKinnon and Webb 2018): here it rejects about never, which is why it is not the default
    assert np.mean(rej) <= 0.08, np.mean(rej)


def test_wild_bootstrap_holds_its_size_with_many_treated():
    """Where its theory applies (half of 30 clusters treated) the wild bootstrap rejects a true
    null at about its level: a bug that made it never reject (or always) fails here."""
    from analysis.impact.inference.wild import wild_bootstrap

    rng = np.random.default_rng(6)
    rej = [wild_bootstrap(*_sim_panel(rng, n=30, n_treated=15), B=199, seed=int(rng.integers(1e9)), ci=False)["p_value"]
           <= 0.05 for _ in range(150)]
    assert 0.015 <= np.mean(rej) <= 0.10, np.mean(rej)


@needs_shared
def test_default_method_holds_its_size_on_real_sector_counts():
    """Reduced form of `make bench`'s 500-run check: the report's default method and inference
    on the real 2013-2015 sector counts, 3 placebo sectors at a random month."""
    from analysis.data.panel import build_panel
    from analysis.evaluation.calibration import placebo_size

    b = build_panel([SHARED / "incidents_gun_2013_2016.csv.gz"], SHARED / "sectores.geojson",
                    cuadrantes_path=SHARED / "cuadrantes.geojson", last_month="2015-12")
    p = b.panel.assign(shootings=b.panel.all_homicides + b.panel.gun_injuries)
    assert impact.DEFAULT_METHOD == "ppml"
    chk = placebo_size(p, outcome="shootings", method="ppml", n_runs=120, n_perm=99, ci=False, seed=5)
    assert 0.01 <= chk.rejection_rate <= 0.12, chk.to_frame()
    # the clustered regression over-rejects on the same data: the check can tell them apart
    bad = placebo_size(p, outcome="shootings", method="twfe", inference="cluster", n_runs=120, seed=5,
                       event_window=None)
    assert bad.rejection_rate > chk.rejection_rate


@needs_shared
def test_placebo_size_on_real_sector_counts():
    """Reduced form of issue 4's check: real 2013-2015 sector counts, 3 random sectors given a
    placebo start; the default TWFE inference (randomization) must not over-reject."""
    from analysis.data.panel import build_panel

    b = build_panel([SHARED / "incidents_gun_2013_2016.csv.gz"], SHARED / "sectores.geojson", last_month="2015-12")
    p = b.panel
    Y = p.pivot(index="unit", columns="period", values="gun_injuries").to_numpy(float)
    rng = np.random.default_rng(7)
    rej = []
    for _ in range(150):
        start = np.full(Y.shape[0], -1)
        start[rng.choice(Y.shape[0], 3, replace=False)] = rng.integers(6, Y.shape[1] - 3)
        rej.append(randomization_test(Y, start, n_perm=199, seed=int(rng.integers(1e9)))["p_value"] <= 0.05)
    assert 0.01 <= np.mean(rej) <= 0.10, np.mean(rej)


def test_sc_placebo_coverage():
    """Synthetic control does not claim nominal coverage: its bias (no intercept, so treated levels
    outside the controls' range are not matched) pulls the placebo interval's coverage to about
    91 % in these panels (90.7 % and 92.7 % with two draw streams). The test pins that: close to,
    not at, nominal; bias under 10 % of the effect. Its result notes say so to readers."""
    cover, bias = _coverage("sc", 150, n_placebo=100)
    assert 0.85 <= cover <= 0.98, cover
    assert bias < 0.10


def test_relative_magnitudes_cover_the_first_year_effect_under_parallel_trends():
    """Whole pipeline: imputation event study -> quarterly bins -> randomization covariance ->
    Rambachan-Roth set. Parallel trends hold in these panels, so every Mbar's 95 % set must cover
    the realised first-year effect (average of quarters 0-3 against quarter -1); at Mbar = 0
    (no post-start drift allowed) the set is tightest and coverage should be near 95 %."""
    from analysis.evaluation.sensitivity import relative_magnitudes

    rng = np.random.default_rng(11)
    cover = []
    for _ in range(120):
        p, _ = _heterogeneous_panel(rng, starts=(13, 16, 18))
        start = p.attrs["start"]
        tr = start >= 0
        rel = np.arange(p.attrs["cell_effect"].shape[1])[None, :] - start[tr][:, None]
        effect = p.attrs["cell_effect"][tr]
        by_rel = {m: effect[rel == m].mean() for m in range(-3, 12)}
        quarter = [np.mean([by_rel[m] for m in range(3 * q, 3 * q + 3)]) for q in range(-1, 4)]
        truth = np.mean(quarter[1:]) - quarter[0]
        r = impact.estimate(p, outcome="y", method="imputation", n_perm=199, seed=int(rng.integers(1e9)))
        t = relative_magnitudes(r, mbar=(0.0, 0.5), post_quarters=4)
        cover.append(((t.ci_low <= truth) & (truth <= t.ci_high)).to_numpy())
    cover = np.mean(cover, axis=0)
    print(f"coverage at Mbar 0 and 0.5: {cover}")
    assert 0.92 <= cover[0] <= 0.99, cover
    assert cover[1] >= cover[0] - 1e-12, cover
