"""The two-stage DiD of Gardner (2022), the method added to prove the impact core's design.

Validated three ways: it equals the imputation estimator (the two coincide with unit and period
effects and no covariates) to 1e-8; it matches an independent implementation (pyfixest's
``did2s``); it recovers a known effect on simulated panels. And the inference it declares
(randomization over the adoption calendar) works on it unchanged: same draws, same numbers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import impact


def _staggered(seed: int = 0, N: int = 40, T: int = 36, effects=(1.5, 3.0), heterogeneous: bool = True) -> pd.DataFrame:
    """Unit and period effects, two cohorts (months 12 and 20), effects that differ by cohort and
    grow with time since the start when ``heterogeneous``."""
    rng = np.random.default_rng(seed)
    start = np.full(N, -1)
    start[:5], start[5:10] = 12, 20
    t = np.arange(T)[None, :]
    D = (t >= start[:, None]) & (start[:, None] >= 0)
    tau = np.where(start[:, None] == 12, effects[0], effects[1]) * np.ones((1, T))
    if heterogeneous:
        tau = tau * (1 + 0.05 * np.maximum(t - start[:, None], 0))
    Y = rng.normal(size=(N, T)) + rng.normal(size=(N, 1)) * 2 + np.sin(np.arange(T) / 4)[None, :] + tau * D
    p = pd.DataFrame({"unit": np.repeat(np.arange(N), T), "period": np.tile(np.arange(T), N), "y": Y.ravel()})
    p["treat_start"] = np.repeat(np.where(start >= 0, start, np.nan), T)
    p.attrs["att"] = float((tau * D)[D].mean())
    return p


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gardner_equals_imputation_to_1e8(seed):
    """Overall effect and event study (every point, pre-start residuals included) equal the
    imputation estimator's on staggered panels with heterogeneous effects."""
    p = _staggered(seed)
    g = impact.estimate(p, outcome="y", method="gardner", n_perm=19, seed=seed)
    i = impact.estimate(p, outcome="y", method="imputation", n_perm=19, seed=seed)
    assert g.att == pytest.approx(i.att, abs=1e-8)
    es = g.event_study.merge(i.event_study, on="rel_period", validate="1:1")
    assert len(es) == len(g.event_study) == len(i.event_study) > 30
    assert np.abs(es.estimate_x - es.estimate_y).max() < 1e-8


def test_gardner_equals_imputation_on_the_demo_city(demo_panel):
    g = impact.estimate(demo_panel, method="gardner", n_perm=19, seed=3)
    i = impact.estimate(demo_panel, method="imputation", n_perm=19, seed=3)
    assert g.att == pytest.approx(i.att, abs=1e-8)
    assert g.counterfactual.counterfactual.to_numpy() == pytest.approx(i.counterfactual.counterfactual.to_numpy(), abs=1e-8)


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning", "ignore:The inplace keyword")
def test_gardner_matches_pyfixest_did2s():
    """An independent implementation: pyfixest's two-stage DiD (stage 1 on the untreated cells
    with unit and period effects, stage 2 on the treatment indicator)."""
    pf = pytest.importorskip("pyfixest", reason="pyfixest is a test dependency: pip install -e '.[test]'")
    p = _staggered(5)
    df = p.assign(d=(p.period >= p.treat_start.fillna(np.inf)).astype(int))
    fit = pf.did2s(df, yname="y", first_stage="~0|unit+period", second_stage="~d", treatment="d", cluster="unit")
    g = impact.estimate(p, outcome="y", method="gardner", n_perm=9)
    # pyfixest's fixed-effects solver stops at its own tolerance (differences of about 4e-8 here)
    assert g.att == pytest.approx(float(fit.coef()["d"]), abs=1e-6)
    assert g.att != pytest.approx(float(fit.coef()["d"]) + 1e-4, abs=1e-6)


def test_gardner_recovers_a_known_effect_and_its_interval_covers_it():
    """On 20 simulated panels with a known average effect, the estimate is unbiased (mean error
    within 0.1 of effects of 1.5-3) and the randomization interval covers the truth in most."""
    errs, cover = [], []
    for seed in range(20):
        p = _staggered(100 + seed)
        r = impact.estimate(p, outcome="y", method="gardner", n_perm=99, seed=seed)
        errs.append(r.att - p.attrs["att"])
        cover.append(r.ci_low <= p.attrs["att"] <= r.ci_high)
    assert abs(np.mean(errs)) < 0.1
    assert np.mean(cover) >= 0.8


def test_randomization_inference_works_on_gardner_unchanged():
    """The inference written once gives the new method the very numbers it gives imputation (the
    same statistic under the same reassignments): p-value, interval, spread, floor, draws."""
    p = _staggered(7)
    g = impact.estimate(p, outcome="y", method="gardner", n_perm=49, seed=4)
    i = impact.estimate(p, outcome="y", method="imputation", n_perm=49, seed=4)
    assert g.inference.kind == i.inference.kind == "randomization"
    assert g.inference.label == i.inference.label and g.inference.min_p_value == i.inference.min_p_value == 1 / 50
    assert g.p_value == i.p_value
    assert (g.ci_low, g.ci_high, g.se) == pytest.approx((i.ci_low, i.ci_high, i.se), abs=1e-8)
    assert g.inference.draws == pytest.approx(i.inference.draws, abs=1e-8)
    assert g.event_study.se.to_numpy() == pytest.approx(i.event_study.se.to_numpy(), abs=1e-8)
    # the cell draws kept for re-aggregation too
    assert g.aggregate("cohort").se.to_numpy() == pytest.approx(i.aggregate("cohort").se.to_numpy(), abs=1e-8)


def test_gardner_refuses_what_it_does_not_support():
    p = _staggered(0)
    with pytest.raises(ValueError, match="not available for gardner.*'randomization'"):
        impact.estimate(p, outcome="y", method="gardner", inference="placebo")
