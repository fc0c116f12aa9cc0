"""Rules of the relative-magnitudes sensitivity analysis that decide a published number (issue 14).

``analysis.evaluation.honest`` (Rambachan and Roth 2023, Delta^RM, with the conditional-least-
favourable hybrid test of Andrews, Roth and Pakes): which polyhedron a sign means, which moments
a single post period keeps, the breakdown value, where the scan looks for the set's ends, and
the conditional test itself against an independent linear-programming construction. Tiny event
studies (2-3 pre-start and 1-3 post-start coefficients) and a few thousand draws keep each test
well under a second or two; tests/test_honest.py holds the comparisons with R's published numbers.
"""

from __future__ import annotations

import numpy as np
import pytest

from analysis.evaluation import honest

DRAWS = 2000  # enough for a stable least-favourable critical value on these tiny examples


# -- the input checks -----------------------------------------------------------------------------
def test_rule_inputs_need_a_pre_and_a_post_period_and_finite_numbers():
    """Relative magnitudes compare post-start changes with pre-start ones: at least one
    coefficient on each side, and finite estimates and covariance, else a clear ValueError
    (not a silent empty set or an IndexError further down)."""
    one = np.array([0.3])
    with pytest.raises(ValueError, match="at least one pre-start and one post-start"):
        honest.rm_confidence_set(one, np.eye(1), 0, 1, 1.0, draws=DRAWS)
    with pytest.raises(ValueError, match="at least one pre-start and one post-start"):
        honest.rm_confidence_set(one, np.eye(1), 1, 0, 1.0, draws=DRAWS)
    beta, sigma = np.array([0.1, -0.2, 0.4]), np.eye(3) * 0.01
    bad_beta = beta.copy()
    bad_beta[0] = np.nan
    with pytest.raises(ValueError, match="must be finite"):
        honest.rm_confidence_set(bad_beta, sigma, 2, 1, 1.0, draws=DRAWS)
    bad_sigma = sigma.copy()
    bad_sigma[2, 2] = np.inf
    with pytest.raises(ValueError, match="must be finite"):
        honest.rm_confidence_set(beta, bad_sigma, 2, 1, 1.0, draws=DRAWS)


# -- the polyhedra of the union -------------------------------------------------------------------
def test_rule_a_polyhedron_s_plus_holds_the_violations_whose_largest_pre_change_is_at_s_and_positive():
    """``rm_constraints(num_pre, num_post, Mbar, s, max_positive)``: ``A delta <= 0`` iff the
    pre-start change delta_s - delta_{s-1} is the largest in absolute value, with the sign
    ``max_positive`` names, and every post-start change is at most Mbar times it (R's
    ``.create_A_RM``). Hand example: pre (delta_-2, delta_-1) = (-1, 0), reference delta_0 = 0,
    so the changes are +1 (s = -1) and 0 (s = 0)."""
    inside = np.array([-1.0, 0.0, 0.5])     # post change 0.5 <= 1 * 1
    too_far = np.array([-1.0, 0.0, 1.5])    # post change 1.5 > 1 * 1

    def holds(delta, s, positive):
        return bool(np.all(honest.rm_constraints(2, 1, 1.0, s, positive) @ delta <= 1e-12))

    assert holds(inside, -1, True)
    assert not holds(inside, -1, False)     # the largest change is positive, not negative
    assert not holds(inside, 0, True) and not holds(inside, 0, False)  # s = 0 changes by 0 only
    assert not holds(too_far, -1, True)
    # mirrored: the largest change negative
    assert holds(-inside, -1, False) and not holds(-inside, -1, True)


def test_rule_with_one_post_period_the_pre_period_moments_are_kept():
    """R keeps every moment when there is one post period (``postPeriodMomentsOnly`` only acts
    with more than one): a polyhedron whose claim about the largest pre-start change a precise
    pre-period contradicts then accepts nothing. Pre (beta_-2, beta_-1) = (-0.2, -1.0): the
    changes are -0.8 (s = -1) and +1.0 (s = 0), sd 0.05. Only (0, +) is consistent; (-1, -)
    has the right sign, but its change (0.8) is not the largest, and only the pre-period
    moments can see that."""
    beta, sigma = np.array([-0.2, -1.0, 0.6]), np.diag([0.05 ** 2] * 3)
    sets = honest.component_sets(beta, sigma, 2, 1, 1.0, draws=DRAWS, grid_points=50)
    assert set(sets) == {(-1, True), (-1, False), (0, True), (0, False)}
    for key in [(-1, True), (-1, False), (0, False)]:
        assert np.isnan(sets[key]).all(), key
    lo, hi = sets[(0, True)]
    # it covers the identified set, 0.6 +- 1 * 1.0 (the pre-period pinned at its estimate)
    assert lo < 0.6 - 1.0 and hi > 0.6 + 1.0
    assert np.isfinite([lo, hi]).all()


# -- the breakdown value --------------------------------------------------------------------------
def test_rule_breakdown_is_the_largest_mbar_whose_set_still_excludes_zero_to_a_thousandth():
    """``rm_breakdown``: bisection over Mbar on the test of theta = 0 (its default ``null``),
    to ``tol`` = 1e-3. Estimate 0.6 (sd 0.05), largest pre-start change 0.5: the set's lower
    end reaches zero a little below Mbar = 1.2 (where the identified set alone would), so the
    breakdown lies in (0, 1.2), zero is excluded there and accepted 0.002 above it."""
    beta, sigma = np.array([0.1, 0.5, 0.6]), np.diag([0.05 ** 2] * 3)
    b = honest.rm_breakdown(beta, sigma, 2, 1, draws=DRAWS)
    assert 0.0 < b < 1.2
    assert not honest.rm_accepts(beta, sigma, 2, 1, b, 0.0, draws=DRAWS)
    assert honest.rm_accepts(beta, sigma, 2, 1, b + 2e-3, 0.0, draws=DRAWS)


def test_rule_breakdown_is_zero_without_significance_and_mbar_max_when_never_lost():
    """0 when even Mbar = 0 (exact parallel trends after the start) cannot exclude zero; the
    documented cap ``mbar_max`` = 10 when the set still excludes zero at Mbar = 10 (a flat,
    precise pre-period: Mbar times a tiny change is still tiny)."""
    sigma = np.diag([0.05 ** 2] * 3)
    assert honest.rm_breakdown(np.array([0.0, 0.5, 0.05]), sigma, 2, 1, draws=DRAWS) == 0.0
    flat = np.diag([1e-4 ** 2, 1e-4 ** 2, 0.05 ** 2])
    assert honest.rm_breakdown(np.array([0.0, 0.001, 1.0]), flat, 2, 1, draws=DRAWS) == 10.0


def test_rule_a_moment_without_variance_is_refused():
    """A moment of the restriction with zero variance (here: Mbar = 0 and a post-start
    coefficient known exactly) cannot be standardised: a ValueError saying so, not a set built
    on a division by zero. One zero among other moments is enough."""
    beta = np.array([0.1, -0.2, 0.4, 0.5])
    sigma = np.diag([0.01, 0.01, 0.0, 0.01])  # the first post-start coefficient has no variance
    with pytest.raises(ValueError, match="zero variance"):
        honest.rm_confidence_set(beta, sigma, 2, 2, 0.0, draws=DRAWS)



def test_rule_any_number_of_draws_gives_a_set_even_fewer_than_a_thousand():
    """``draws`` is the caller's Monte Carlo budget for the least-favourable critical value (R
    itself uses 1,000; a quick look may use fewer): the draws are processed in chunks of about
    1,000, and a budget below one chunk still gives a set, one that covers the identified set
    (0.6 +- 1 * 0.5 here) as every confidence set must."""
    beta, sigma = np.array([0.1, 0.5, 0.6]), np.diag([0.05 ** 2] * 3)
    lo, hi = honest.rm_confidence_set(beta, sigma, 2, 1, 1.0, draws=500, grid_points=50)
    assert lo < 0.6 - 0.5 and hi > 0.6 + 0.5

# -- where the scan looks for the set's ends --------------------------------------------------------
def test_rule_an_end_far_beyond_the_first_scan_is_found_by_doubling_outwards():
    """A very imprecise pre-period (sd 1000) and a precise post-period (sd 0.1): the set reaches
    hundreds of scan widths beyond the identified set [-1, 1] on both sides (the estimate is 0,
    so the scan is symmetric about zero). Its ends are still finite and are where the test
    switches: accepted just inside, rejected just outside."""
    beta, sigma = np.array([0.5, 0.0, 0.0]), np.diag([1e6, 0.01, 0.01])
    lo, hi = honest.rm_confidence_set(beta, sigma, 1, 2, 2.0, draws=DRAWS, grid_points=50)
    scan_width = (1.0 - -1.0) + 2 * 20 * 0.1
    assert np.isfinite([lo, hi]).all()
    assert hi > 1.0 + 100 * scan_width and lo < -1.0 - 100 * scan_width
    for end, outward in ((lo, -1.0), (hi, 1.0)):
        assert honest.rm_accepts(beta, sigma, 1, 2, 2.0, end - outward * 1e-4 * abs(end), draws=DRAWS)
        assert not honest.rm_accepts(beta, sigma, 1, 2, 2.0, end + outward * 1e-4 * abs(end), draws=DRAWS)


def test_rule_the_set_moves_with_the_units_and_the_level_of_the_effect():
    """Changing the outcome's units (beta * c, sigma * c^2) scales the set by c, and adding a
    constant to every post-start coefficient shifts it by that constant: the test only sees
    standardised moments, and the scan around the identified set must follow (c = 1e-8, a shift
    of 10,000 standard errors). Ends agree to 1e-4 of the set's width (the bisection's own
    tolerance is 1e-6 of the scan)."""
    beta, sigma = np.array([0.1, 0.5, 0.6]), np.diag([0.05 ** 2] * 3)
    lo, hi = honest.rm_confidence_set(beta, sigma, 2, 1, 1.0, draws=DRAWS, grid_points=50)
    assert np.isfinite([lo, hi]).all() and lo < 0.6 - 0.5 and hi > 0.6 + 0.5
    c = 1e-8
    small = honest.rm_confidence_set(c * beta, c * c * sigma, 2, 1, 1.0, draws=DRAWS, grid_points=50)
    assert np.array(small) / c == pytest.approx([lo, hi], abs=1e-4 * (hi - lo))
    shift = 500.0
    moved = honest.rm_confidence_set(beta + [0, 0, shift], sigma, 2, 1, 1.0, draws=DRAWS, grid_points=50)
    assert np.array(moved) - shift == pytest.approx([lo, hi], abs=1e-4 * (hi - lo))


# -- the conditional test, against the linear programs it stands for ------------------------------------
def _lp_accepts(beta, sigma, num_pre, num_post, mbar, key, l_vec, theta, lf_cv, alpha=0.05):
    """ARP's conditional-least-favourable hybrid test of ``theta`` on one polyhedron, written as
    in R from linear programs instead of enumerated vertices: the statistic is the LP
    ``max gamma'y`` over ``{gamma >= 0, X'gamma = 0, sd'gamma = 1}``, and the conditioning
    interval [vlo, vup] (where the optimal gamma stays optimal along ``s + b c``) comes from the
    two linear-fractional programs ``max / min gamma's / (1 - gamma'b)`` over ``gamma'b < 1`` and
    ``gamma'b > 1``, each an LP after the Charnes-Cooper change ``u = t gamma``. Only the
    least-favourable critical value ``lf_cv`` (a Monte Carlo quantile) is taken from the module."""
    from scipy.linalg import null_space
    from scipy.optimize import linprog
    from scipy.stats import norm

    kappa = alpha / 10
    a = honest.rm_constraints(num_pre, num_post, mbar, *key)
    if num_post > 1:  # R's post-period moments only
        a = a[np.abs(a[:, num_pre:]).sum(axis=1) > 0]
    post = a[:, num_pre:]
    y = a @ beta - post @ (l_vec / (l_vec @ l_vec)) * theta
    x = post @ null_space(l_vec[None, :])
    sig = a @ sigma @ a.T
    sd = np.sqrt(np.diag(sig))
    k = x.shape[1]
    zero = np.zeros(k)
    r = linprog(-y, A_eq=np.vstack([x.T, sd]), b_eq=np.r_[zero, 1.0], bounds=(0, None), method="highs")
    eta, g = -r.fun, r.x
    if eta > lf_cv:
        return False  # first stage
    var = g @ sig @ g
    b = sig @ g / var
    s = y - b * eta

    def fractional(sign):  # u >= 0, X'u = 0, sd'u = t, sign * (t - b'u) = 1; optimum of s'u
        a_eq = np.vstack([np.c_[x.T, zero], np.r_[sd, -1.0], sign * np.r_[-b, 1.0]])
        r = linprog(-np.r_[s, 0.0], A_eq=a_eq, b_eq=np.r_[zero, 0.0, 1.0], bounds=(0, None), method="highs")
        assert r.status in (0, 2)
        return -r.fun if r.status == 0 else None

    vlo = fractional(1.0)
    vlo = -np.inf if vlo is None else vlo
    vup = fractional(-1.0)
    vup = np.inf if vup is None else -vup
    zlo, zup, stat = vlo / np.sqrt(var), min(vup, lf_cv) / np.sqrt(var), eta / np.sqrt(var)
    if stat <= 0:
        return True
    p = (norm.cdf(zup) - norm.cdf(stat)) / (norm.cdf(zup) - norm.cdf(zlo))
    return p >= (alpha - kappa) / (1 - kappa)


#: event studies drawn at random once (rounded): two with 2 pre-start and 3 post-start
#: coefficients, where the conditioning interval is cut above by another vertex and not only by
#: the first stage, and one with a single post period, where one polyhedron's interval is
#: narrower than a standard error near its lower end
_CASES = {
    "a": (np.array([-0.227, 0.28, -0.035, -0.073, -0.012]), 2, 3, 1.0,
          np.array([[0.0678, 0.013, -0.0042, -0.0337, 0.0145], [0.013, 0.0546, 0.0123, -0.0128, 0.0544],
                    [-0.0042, 0.0123, 0.0137, -0.0052, 0.0174], [-0.0337, -0.0128, -0.0052, 0.0608, -0.029],
                    [0.0145, 0.0544, 0.0174, -0.029, 0.0754]])),
    "b": (np.array([-0.174, 0.249, 0.142, -0.011, -0.101]), 2, 3, 0.5,
          np.array([[0.0178, -0.0072, -0.0119, 0.0114, -0.0164], [-0.0072, 0.0373, 0.0183, 0.0063, -0.0217],
                    [-0.0119, 0.0183, 0.0458, -0.0165, 0.0116], [0.0114, 0.0063, -0.0165, 0.0213, -0.027],
                    [-0.0164, -0.0217, 0.0116, -0.027, 0.0563]])),
    "one post period": (np.array([0.665, 0.045, 0.429]), 2, 1, 1.0,
                        np.array([[0.01978, -0.00008, -0.0035], [-0.00008, 0.01052, 0.00129],
                                  [-0.0035, 0.00129, 0.01439]])),
}


@pytest.mark.parametrize("case", sorted(_CASES))
def test_rule_each_polyhedron_set_ends_where_the_arp_linear_programs_switch_from_accept_to_reject(case):
    """Every finite end of every polyhedron's accepted range (average of the post periods,
    alpha 0.05, kappa = alpha / 10) is where the LP construction of the same test accepts
    1e-3 standard errors inside and rejects 1e-3 outside: the vertex enumeration and the
    closed-form truncation points give R's test."""
    beta, num_pre, num_post, mbar, sigma = _CASES[case]
    l_vec = np.full(num_post, 1 / num_post)
    sets = honest.component_sets(beta, sigma, num_pre, num_post, mbar, l_vec, draws=DRAWS, grid_points=40)
    lf = {c.key: c.lf_cv for c in honest._components(beta, sigma, num_pre, num_post, l_vec, mbar, 0.005, DRAWS, 0)}
    step = 1e-3 * np.sqrt(l_vec @ sigma[num_pre:, num_pre:] @ l_vec)
    assert any(np.isfinite(v).all() for v in sets.values())
    for key, (lo, hi) in sets.items():
        if np.isnan(lo):  # a polyhedron the data rule out: the LP test rejects at the estimate too
            assert not _lp_accepts(beta, sigma, num_pre, num_post, mbar, key, l_vec, l_vec @ beta[num_pre:], lf[key])
            continue
        for end, outward in ((lo, -1.0), (hi, 1.0)):
            assert _lp_accepts(beta, sigma, num_pre, num_post, mbar, key, l_vec, end - outward * step, lf[key]), (key, end)
            assert not _lp_accepts(beta, sigma, num_pre, num_post, mbar, key, l_vec, end + outward * step,
                                   lf[key]), (key, end)
