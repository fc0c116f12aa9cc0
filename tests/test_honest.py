"""Relative-magnitude confidence sets (Rambachan and Roth 2023): published numbers, an independent
implementation, and their coverage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.evaluation import honest

FIX = Path(__file__).parent / "fixtures"


def _medicaid_event_study():
    """HonestDiD's README example: TWFE event study of the 2014 Medicaid cohort, 2008-2015,
    clustered by state with fixest's small-sample factors (G/(G-1) and (n-1)/(n-K), the state
    effects nested in the clusters not counted in K)."""
    df = pd.read_csv(FIX / "ehec_medicaid.csv")
    d = df[(df.year < 2016) & (df.yexp2.isna() | (df.yexp2 != 2015))].reset_index(drop=True)
    treated = (d.yexp2 == 2014).to_numpy()
    years = [2008, 2009, 2010, 2011, 2012, 2014, 2015]
    x = np.column_stack([((d.year == y).to_numpy() & treated).astype(float) for y in years])
    assert d.groupby("stfips").size().nunique() == 1  # balanced: the two-way within transform is exact

    def within(v):
        s = pd.Series(v)
        return (s - s.groupby(d.stfips).transform("mean") - s.groupby(d.year).transform("mean") + s.mean()).to_numpy()

    xw = np.column_stack([within(c) for c in x.T])
    yw = within(d.dins.to_numpy())
    beta = np.linalg.lstsq(xw, yw, rcond=None)[0]
    u = yw - xw @ beta
    bread = np.linalg.inv(xw.T @ xw)
    scores = pd.DataFrame(xw * u[:, None]).groupby(d.stfips.to_numpy()).sum().to_numpy()
    g, n, k = len(scores), len(d), len(years) + d.year.nunique() - 1
    return beta, bread @ scores.T @ scores @ bread * g / (g - 1) * (n - 1) / (n - k)


@pytest.fixture(scope="module")
def medicaid():
    return _medicaid_event_study()


def test_medicaid_original_intervals_match_the_readme(medicaid):
    beta, sigma = medicaid
    first = honest.sensitivity_rm(beta, sigma, 5, 2, mbar=(0.0,)).attrs["original_ci"]
    avg = honest.sensitivity_rm(beta, sigma, 5, 2, mbar=(0.0,), l_vec=[0.5, 0.5]).attrs["original_ci"]
    assert np.round(first, 3).tolist() == [0.029, 0.064]
    assert np.round(avg, 3).tolist() == [0.040, 0.075]


def test_medicaid_relative_magnitudes_match_honestdid_r(medicaid):
    """HonestDiD README, createSensitivityResults_relativeMagnitudes, first post period.

    R reads the ends off a 1,000-point grid 0.00037 apart and its least-favourable critical
    value from 1,000 draws: agreement to 5e-4 (0.05 standard errors)."""
    beta, sigma = medicaid
    t = honest.sensitivity_rm(beta, sigma, 5, 2, mbar=(0.5, 1.0, 1.5, 2.0))
    r_lb = [0.0240, 0.0170, 0.00824, -0.000916]
    r_ub = [0.0672, 0.0720, 0.0797, 0.0881]
    assert np.abs(t.ci_low - r_lb).max() < 5e-4
    assert np.abs(t.ci_high - r_ub).max() < 5e-4
    # the README's breakdown: significant up to about Mbar = 2, not at 2
    assert 1.8 < t.attrs["breakdown"] < 2.0
    # identified sets sit inside the confidence sets and grow with Mbar
    assert np.all(t.ci_low < t.set_low) and np.all(t.set_high < t.ci_high)
    assert np.all(np.diff(t.set_high - t.set_low) > 0)


def test_medicaid_average_effect_matches_the_stata_port(medicaid):
    """Stata honestdid README, l_vec = (0.5, 0.5), printed to three decimals."""
    beta, sigma = medicaid
    t = honest.sensitivity_rm(beta, sigma, 5, 2, mbar=(0.0, 0.5, 1.0, 1.5, 2.0), l_vec=[0.5, 0.5])
    stata = np.array([[0.041, 0.075], [0.033, 0.080], [0.020, 0.090], [0.006, 0.103], [-0.008, 0.117]])
    assert np.abs(t[["ci_low", "ci_high"]].to_numpy() - stata).max() < 1e-3
    # Mbar = 0 is exact parallel trends after the start: the set is the point estimate
    assert t.set_low[0] == pytest.approx(t.set_high[0]) == pytest.approx(t.attrs["estimate"])


def test_polyhedra_match_moderndid():
    """Each polyhedron's accepted range against moderndid 0.2.0's port of the ARP hybrid test,
    on event studies with 3-4 post periods (2-3 nuisance dimensions, unlike the Medicaid case).

    moderndid's ends lie on a grid (``grid_step``) and its least-favourable critical value comes
    from 1,000 draws: agreement to two grid steps plus 0.1 standard errors."""
    ref = pd.read_csv(FIX / "honest_moderndid.csv")
    assert len(ref) == 28
    for (name, mbar), rows in ref.groupby(["case", "mbar"]):
        r0 = rows.iloc[0]
        beta, sigma, l_vec = (np.array(json.loads(r0[c])) for c in ("beta", "sigma", "l_vec"))
        sets = honest.component_sets(beta, sigma, int(r0.num_pre), int(r0.num_post), mbar, l_vec)
        tol = 2 * r0.grid_step + 0.1 * r0.sd_theta
        for r in rows.itertuples():
            lo, hi = sets[(r.r_s, bool(r.max_positive))]
            assert abs(lo - r.lb) < tol and abs(hi - r.ub) < tol, (name, mbar, r.r_s, r.max_positive, lo, hi, r.lb, r.ub)
        # the union also counts the polyhedron moderndid 0.2.0 leaves out (see the generator)
        union = honest.rm_confidence_set(beta, sigma, int(r0.num_pre), int(r0.num_post), mbar, l_vec)
        assert union[0] <= rows.lb.min() + tol and union[1] >= rows.ub.max() - tol


def _boundary_case(num_pre, num_post, mbar, scale, rng):
    """An event study whose post-start violation is the largest Delta^RM(Mbar) allows: the
    pre-start coefficients change most (by -0.15) between the first two periods, and after the
    start the violation keeps growing by Mbar * 0.15 a period. The true average effect is then
    the lower end of the identified set, where a valid 95 % set is tested hardest."""
    pre = np.full(num_pre, 0.05)
    pre[0] = 0.2
    largest = np.abs(np.diff(np.append(pre, 0.0))).max()
    tau = np.full(num_post, 0.2)
    root = rng.normal(size=(num_pre + num_post,) * 2) * 0.3
    sigma = (root @ root.T + np.eye(num_pre + num_post)) * scale ** 2
    return np.concatenate([pre, tau + mbar * largest * np.arange(1, num_post + 1)]), sigma, tau


@pytest.mark.parametrize("num_pre,num_post,mbar,scale,low,high", [
    (3, 4, 1.0, 0.003, 0.925, 0.985),  # precise pre-period: the bound binds, coverage near 95 %
    (4, 3, 0.5, 0.003, 0.925, 0.985),
    (3, 4, 1.0, 0.03, 0.925, 1.0),     # noisy pre-period: valid, and more conservative
    (3, 1, 1.0, 0.003, 0.925, 0.985),  # one post period: no nuisance parameter
])
def test_coverage_at_the_edge_of_the_restriction(num_pre, num_post, mbar, scale, low, high):
    """beta_hat ~ N(tau + delta, Sigma), delta on the boundary of Delta^RM(Mbar): share of 1,000
    draws whose set covers the average effect."""
    rng = np.random.default_rng(100 * num_pre + num_post)
    beta, sigma, tau = _boundary_case(num_pre, num_post, mbar, scale, rng)
    l_vec = np.full(num_post, 1 / num_post)
    theta = float(l_vec @ tau)
    assert honest.rm_identified_set(beta, num_pre, num_post, mbar, l_vec)[0] == pytest.approx(theta)
    n_sims, hits = 1000, 0
    chol = np.linalg.cholesky(sigma)
    for i in range(n_sims):
        b = beta + chol @ rng.normal(size=beta.size)
        hits += honest.rm_accepts(b, sigma, num_pre, num_post, mbar, theta, l_vec, draws=4000, seed=i)
    print(f"coverage {hits / n_sims:.3f}")
    assert low <= hits / n_sims <= high, hits / n_sims


def test_power_against_a_clear_effect():
    """Parallel trends, precise pre-period estimates (sd 0.03) and an effect of 1: every draw's
    Mbar = 0.5 set excludes zero."""
    rng = np.random.default_rng(7)
    num_pre, num_post = 3, 4
    sigma = 0.001 * (np.eye(7) + 0.3)
    l_vec = np.full(num_post, 0.25)
    beta = np.concatenate([np.zeros(3), np.full(4, 1.0)])
    chol = np.linalg.cholesky(sigma)
    for i in range(20):
        b = beta + chol @ rng.normal(size=7)
        assert not honest.rm_accepts(b, sigma, num_pre, num_post, 0.5, 0.0, l_vec, draws=4000, seed=i)


def test_identified_set_closed_form():
    """With the pre-period pinned, post differences are at most Mbar times the largest pre one,
    so for an average over H periods the set is theta +- Mbar * D * (H + 1) / 2."""
    beta = np.array([0.3, -0.1, 0.05, 1.0, 1.2, 0.9, 1.1])
    d = np.abs(np.diff([0.3, -0.1, 0.05, 0.0])).max()
    for m in (0.0, 0.5, 2.0):
        lo, hi = honest.rm_identified_set(beta, 3, 4, m, np.full(4, 0.25))
        theta = beta[3:].mean()
        assert lo == pytest.approx(theta - m * d * 2.5) and hi == pytest.approx(theta + m * d * 2.5)


def test_same_seed_same_numbers_and_clear_errors(medicaid):
    beta, sigma = medicaid
    a = honest.rm_confidence_set(beta, sigma, 5, 2, 1.0, seed=3)
    assert a == honest.rm_confidence_set(beta, sigma, 5, 2, 1.0, seed=3)
    with pytest.raises(ValueError, match="betahat has 7 entries for 4 \\+ 2"):
        honest.rm_confidence_set(beta, sigma, 4, 2, 1.0)
    with pytest.raises(ValueError, match="l_vec has 3 entries for 2 post periods"):
        honest.rm_confidence_set(beta, sigma, 5, 2, 1.0, l_vec=[1, 0, 0])
    with pytest.raises(ValueError, match="all zeros"):
        honest.rm_confidence_set(beta, sigma, 5, 2, 1.0, l_vec=[0, 0])
    big = np.eye(16) * 0.01
    with pytest.raises(ValueError, match="too many post periods"):
        honest.rm_confidence_set(np.zeros(16), big, 2, 14, 1.0)


def test_sets_are_not_cut_at_the_scan_edge():
    """Imprecise pre-period, precise post-period: the set reaches far beyond the identified set
    +- 20 standard errors of the target; its ends are found, not clipped at the first scan."""
    b, s = np.array([0.5, -0.3, 0.2, 0.3]), np.diag([1.0, 1.0, 0.01, 0.01])
    lo, hi = honest.rm_confidence_set(b, s, 2, 2, 2.0)
    id_lo, id_hi = honest.rm_identified_set(b, 2, 2, 2.0)
    assert hi > id_hi + 20 * 0.1 and lo < id_lo - 20 * 0.1
    assert honest.rm_accepts(b, s, 2, 2, 2.0, hi - 1e-3) and not honest.rm_accepts(b, s, 2, 2, 2.0, hi + 1e-2)
    assert honest.rm_accepts(b, s, 2, 2, 2.0, lo + 1e-3) and not honest.rm_accepts(b, s, 2, 2, 2.0, lo - 1e-2)
