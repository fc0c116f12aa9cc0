"""Robust confidence sets under relative-magnitude bounds on parallel-trend violations.

Rambachan and Roth (2023, *Review of Economic Studies*), "A More Credible Approach to Parallel
Trends", section 2.4.2 (Delta^RM) and section 3 (inference): the post-start violation of
parallel trends may change between consecutive periods by at most ``Mbar`` times the largest
such change among the pre-start periods. The confidence set for ``theta = l' tau_post`` inverts
the conditional-least-favourable hybrid test of Andrews, Roth and Pakes (ARP, 2023) on each of
the polyhedra whose union is Delta^RM (one per pre-start period that holds the largest change,
and its sign), as the R package HonestDiD does in ``computeConditionalCS_DeltaRM`` (method
"C-LF", ``hybrid_kappa = alpha / 10``, post-period moments only).

How this differs from the R package, and why:

- The moment-inequality test statistic is a linear program whose value is the largest of
  ``gamma' y`` over the vertices of its dual polytope. Those vertices do not depend on theta,
  and their supports do not depend on Mbar, so they are enumerated once instead of solving one
  LP per grid point and one bisection of LPs per truncation bound. The conditioning event of
  the ARP test (the optimal dual vertex stays optimal) then has closed-form truncation points,
  the same ones R finds by bisection. This is what makes the whole sensitivity table take
  milliseconds rather than the half-minute per table of the R-faithful ports.
- The confidence set's end points are located by bisection to 1e-6 of the scan's width
  instead of being read off a 1,000-point grid, so they differ from R's printed values by at
  most one of R's grid steps. The scan covers the identified set +- 20 standard errors (R's
  default grid is 0 +- 20 standard errors) and, where the set is still open at its edge, keeps
  doubling outwards; an end that never closes is reported as infinite, where R warns and
  stops at its grid.
- With a single post-start period (no nuisance parameter) the same hybrid test is used: second
  stage at size ``(alpha - kappa) / (1 - kappa)``, conditioned on passing the first stage. R's
  no-nuisance branch (``.testInIdentifiedSet_LF_Hybrid``) runs its second stage at ``alpha``
  without that conditioning, which can reject up to ``kappa`` too often; its sets are therefore
  a little shorter (by about 0.07 standard errors on average in a review's 30 random cases).
- The least-favourable critical value uses ``draws`` (20,000) normal draws from numpy's
  generator with ``seed``, the same draws for every polyhedron and Mbar; R uses 1,000 draws from
  its own generator, so the two differ by Monte Carlo error.

Checked in ``tests/test_honest.py`` against the numbers printed by HonestDiD (R) and its Stata
port for the Medicaid-expansion example, and by simulation of its coverage.

Vertex enumeration grows as ``C(2 * num_post, num_post)``; it is refused beyond 200,000
candidate supports (from 11 post periods). The workbook bins months to quarters first: on the demo
city a table of three Mbar values with its breakdown value takes about 1 s with 4 post-start
quarters and 20 s with 8 (12,870 vertices).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from math import comb

import numpy as np
import pandas as pd
from scipy.optimize import linprog
from scipy.stats import truncnorm

from analysis.impact.result import z_interval

MAX_SUPPORTS = 200_000
#: normal draws behind the least-favourable critical value, a 99.5 % quantile: R's 1,000 leave
#: it only five draws in the tail, enough Monte Carlo error to move the set's ends by 0.1 sd
DRAWS = 20_000


def rm_constraints(num_pre: int, num_post: int, mbar: float, s: int, max_positive: bool) -> np.ndarray:
    """Matrix ``A`` with ``A @ delta <= 0`` iff ``delta`` lies in Delta^RM_{s,sign}(Mbar).

    ``delta`` stacks the pre-start coefficients (reference period excluded) and the post-start
    ones; ``s`` in ``-(num_pre - 1) .. 0`` names the pre-start first difference
    ``delta_s - delta_{s-1}`` that is the largest (with the reference period's delta_0 = 0);
    R's ``.create_A_RM``.
    """
    n = num_pre + num_post
    atilde = np.zeros((n, n + 1))
    for r in range(n):
        atilde[r, r : r + 2] = (-1.0, 1.0)
    v = np.zeros(n + 1)
    v[num_pre + s - 1 : num_pre + s + 1] = (-1.0, 1.0)
    if not max_positive:
        v = -v
    bound = np.vstack([np.tile(v, (num_pre, 1)), np.tile(mbar * v, (num_post, 1))])
    a = np.vstack([atilde - bound, -atilde - bound])
    a = a[(a**2).sum(axis=1) > 1e-10]
    return np.delete(a, num_pre, axis=1)


def _nuisance_basis(l_vec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A vector ``a`` with ``l'a = 1`` and an orthonormal basis of the vectors orthogonal to ``l``.

    Any such pair gives the same test: another ``a`` differs by a vector the nuisance absorbs.
    """
    a = l_vec / (l_vec @ l_vec)
    _, _, vt = np.linalg.svd(l_vec[None, :])
    return a, vt[1:].T


def _supports(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Supports and directions of the vertices of ``{g >= 0 : x'g = 0, sd'g = 1}`` (any sd > 0).

    Returns ``(index, direction)``: for vertex j, ``g[index[j]] = direction[j] / (sd[index[j]] @
    direction[j])``. The supports are those subsets of ``rank(x) + 1`` moments whose ``x`` rows
    have a one-dimensional left null space spanned by a non-negative vector.
    """
    m = x.shape[0]
    if x.shape[1]:
        x = _column_space(x)  # the constraint x'g = 0 depends only on the span of x's columns
    k = x.shape[1]
    if k == 0:
        return np.arange(m)[:, None], np.ones((m, 1))
    n_sub = comb(m, k + 1)
    if n_sub > MAX_SUPPORTS:
        raise ValueError(
            f"{n_sub:,} candidate vertices for {m} moments: too many post periods for "
            "the relative-magnitudes confidence set; bin the event study more coarsely"
        )
    idx = np.array(list(itertools.combinations(range(m), k + 1)))
    xb = x[idx]  # (n_sub, k+1, k): the null space of xb' is the last left singular vector
    u, sv, _ = np.linalg.svd(xb, full_matrices=True)
    full_rank = sv[:, -1] > 1e-9 * max(1.0, sv[:, 0].max())
    n = u[:, :, -1]
    n = n * np.sign(n.sum(axis=1, keepdims=True) + 0.0)
    keep = full_rank & (n >= -1e-10).all(axis=1) & (n.sum(axis=1) > 1e-12)
    return idx[keep], np.clip(n[keep], 0.0, None)


def _column_space(x: np.ndarray, tol: float = 1e-10) -> np.ndarray:
    """Orthonormal basis of the span of ``x``'s columns (its numerical rank many columns)."""
    u, sv, _ = np.linalg.svd(x, full_matrices=False)
    return u[:, : int((sv > tol * max(1.0, sv[0])).sum())]


@dataclass
class _Component:
    """One polyhedron of the union: its moments, vertices and least-favourable critical value."""

    y0: np.ndarray  # A beta_hat on the ARP rows
    c0: np.ndarray  # A_post a: how the moments move with theta
    sigma: np.ndarray  # covariance of the moments
    vert: np.ndarray  # dual vertices, one per row
    lf_cv: float
    key: tuple  # (s, max_positive) in R's indexing

    def accepts(self, theta: float, alpha: float, kappa: float) -> bool:
        y = self.y0 - self.c0 * theta
        vals = self.vert @ y
        j = int(np.argmax(vals))
        eta = vals[j]
        if eta > self.lf_cv:
            return False  # first stage of the hybrid rejects
        g = self.vert[j]
        var = float(g @ self.sigma @ g)
        if var < 1e-20:
            return not eta > 0
        b = self.sigma @ g / var
        s_vec = y - b * eta
        num = self.vert @ s_vec
        den = 1.0 - self.vert @ b
        lo_mask, up_mask = den > 1e-10, den < -1e-10
        vlo = (num[lo_mask] / den[lo_mask]).max() if lo_mask.any() else -np.inf
        vup = (num[up_mask] / den[up_mask]).min() if up_mask.any() else np.inf
        vup = min(vup, self.lf_cv)
        sd = np.sqrt(var)
        zlo, zup, stat = vlo / sd, vup / sd, eta / sd
        tol = 1e-8 * max(1.0, abs(stat))
        if not (zlo - tol <= stat <= zup + tol):
            return True  # the statistic left its conditioning region numerically: R does not reject
        if stat <= 0:
            return True
        size = (alpha - kappa) / (1 - kappa)
        if zup - zlo < 1e-12:
            return True
        p = truncnorm.sf(min(max(stat, zlo), zup), zlo, zup)
        return not p < size


def _components(betahat, sigma, num_pre, num_post, l_vec, mbar, kappa, draws, seed):
    a_vec, basis = _nuisance_basis(l_vec)
    out = []
    supports = None
    # one set of draws of the event-study coefficients serves every polyhedron and every Mbar
    # (common random numbers): the critical values then move smoothly with Mbar
    w, v = np.linalg.eigh(sigma)
    z = np.random.default_rng(seed).standard_normal((draws, len(betahat))) @ (v * np.sqrt(np.clip(w, 0, None))).T
    for s, sign in itertools.product(range(-(num_pre - 1), 1), (True, False)):
        a = rm_constraints(num_pre, num_post, mbar, s, sign)
        post = a[:, num_pre:]
        rows = np.flatnonzero(np.abs(post).sum(axis=1) > 0) if num_post > 1 else np.arange(len(a))
        a = a[rows]
        post = post[rows]
        x = post @ basis
        if supports is None:  # the same for every component: x does not depend on s, sign or Mbar
            supports = _supports(x)
        idx, direction = supports
        sig = a @ sigma @ a.T
        sd = np.sqrt(np.clip(np.diag(sig), 0.0, None))
        if (sd <= 0).any():
            raise ValueError("a moment of the relative-magnitudes restriction has zero variance")
        vert = np.zeros((len(idx), len(rows)))
        np.put_along_axis(vert, idx, direction / (direction * sd[idx]).sum(axis=1, keepdims=True), axis=1)
        xi = z @ a.T  # draws of the moments, N(0, A sigma A')
        eta = np.concatenate([(chunk @ vert.T).max(axis=1) for chunk in np.array_split(xi, max(1, draws // 1000))])
        lf_cv = float(np.quantile(eta, 1 - kappa))
        out.append(_Component(a @ betahat, post @ a_vec, sig, vert, lf_cv, (s, sign)))
    return out


def rm_identified_set(betahat, num_pre: int, num_post: int, mbar: float, l_vec=None) -> tuple[float, float]:
    """Bounds of ``l' tau_post`` when ``beta_hat`` is the population event study (R's ``.compute_IDset_DeltaRM``)."""
    betahat = np.asarray(betahat, float)
    l_vec = _lvec(l_vec, num_post)
    pre = betahat[:num_pre]
    theta = float(l_vec @ betahat[num_pre:])
    lo, hi = np.inf, -np.inf
    eq = np.hstack([np.eye(num_pre), np.zeros((num_pre, num_post))])
    obj = np.concatenate([np.zeros(num_pre), l_vec])
    bounds = [(None, None)] * (num_pre + num_post)
    for s, sign in itertools.product(range(-(num_pre - 1), 1), (True, False)):
        a = rm_constraints(num_pre, num_post, mbar, s, sign)
        rmin = linprog(obj, A_ub=a, b_ub=np.zeros(len(a)), A_eq=eq, b_eq=pre, bounds=bounds, method="highs")
        rmax = linprog(-obj, A_ub=a, b_ub=np.zeros(len(a)), A_eq=eq, b_eq=pre, bounds=bounds, method="highs")
        if rmin.status == 0 and rmax.status == 0:
            lo = min(lo, theta + rmax.fun)  # theta - max l'delta
            hi = max(hi, theta - rmin.fun)  # theta - min l'delta
    if not np.isfinite(lo):  # no component is feasible: only parallel trends remains
        return theta, theta
    return float(lo), float(hi)


def _lvec(l_vec, num_post):
    if l_vec is None:
        l_vec = np.zeros(num_post)
        l_vec[0] = 1.0
    l_vec = np.asarray(l_vec, float).ravel()
    if l_vec.size != num_post:
        raise ValueError(f"l_vec has {l_vec.size} entries for {num_post} post periods")
    if not np.any(l_vec):
        raise ValueError("l_vec is all zeros: it defines no target")
    return l_vec


def _check(betahat, sigma, num_pre, num_post):
    betahat = np.asarray(betahat, float).ravel()
    sigma = np.asarray(sigma, float)
    if num_pre < 1 or num_post < 1:
        raise ValueError("relative magnitudes need at least one pre-start and one post-start coefficient")
    if betahat.size != num_pre + num_post:
        raise ValueError(f"betahat has {betahat.size} entries for {num_pre} + {num_post} periods")
    if sigma.shape != (betahat.size, betahat.size):
        raise ValueError(f"sigma is {sigma.shape}, expected {(betahat.size, betahat.size)}")
    if not (np.isfinite(betahat).all() and np.isfinite(sigma).all()):
        raise ValueError("betahat and sigma must be finite")
    return betahat, (sigma + sigma.T) / 2


def rm_confidence_set(
    betahat,
    sigma,
    num_pre: int,
    num_post: int,
    mbar: float,
    l_vec=None,
    alpha: float = 0.05,
    kappa: float | None = None,
    draws: int = DRAWS,
    seed: int = 0,
    grid_points: int = 400,
) -> tuple[float, float]:
    """Conditional-least-favourable hybrid confidence set for ``l' tau_post`` under Delta^RM(Mbar).

    Parameters
    ----------
    betahat, sigma : array
        Event-study coefficients (pre-start ones first, the reference period excluded) and
        their covariance.
    num_pre, num_post : int
        How many of ``betahat`` are pre-start and post-start.
    mbar : float
        Relative-magnitude bound.
    l_vec : array, optional
        Weights of the target ``l' tau_post``; default the first post period, as in R.
    alpha, kappa : float
        Size of the test and of its least-favourable first stage (default ``alpha / 10``).
    draws, seed : int
        Normal draws for the least-favourable critical value and their seed.
    grid_points : int
        Points of the first, coarse scan before the end points are refined by bisection.

    Returns
    -------
    (low, high) : the smallest and largest accepted theta (``nan, nan`` if none is accepted).
    """
    sets = component_sets(betahat, sigma, num_pre, num_post, mbar, l_vec, alpha, kappa, draws, seed, grid_points)
    lows = [lo for lo, _ in sets.values() if not np.isnan(lo)]
    highs = [hi for _, hi in sets.values() if not np.isnan(hi)]
    if not lows:
        return float("nan"), float("nan")
    return float(min(lows)), float(max(highs))


def component_sets(
    betahat, sigma, num_pre, num_post, mbar, l_vec=None, alpha=0.05, kappa=None, draws=DRAWS, seed=0, grid_points=400
) -> dict:
    """Accepted range of theta for each polyhedron of the union, keyed by ``(s, max_positive)``.

    The confidence set is their union; ``nan`` bounds mark a polyhedron that accepts nothing.
    """
    betahat, sigma = _check(betahat, sigma, num_pre, num_post)
    l_vec = _lvec(l_vec, num_post)
    kappa = alpha / 10 if kappa is None else kappa
    comps = _components(betahat, sigma, num_pre, num_post, l_vec, mbar, kappa, draws, seed)
    sd_theta = float(np.sqrt(l_vec @ sigma[num_pre:, num_pre:] @ l_vec))
    id_lo, id_hi = rm_identified_set(betahat, num_pre, num_post, mbar, l_vec)
    scale = max(20 * sd_theta, 1e-3 * max(abs(id_lo), abs(id_hi), 1e-12))
    lo, hi = id_lo - scale, id_hi + scale
    grid = np.linspace(lo, hi, grid_points)
    tol = 1e-6 * (hi - lo)
    out = {}
    for comp in comps:
        acc = np.array([comp.accepts(t, alpha, kappa) for t in grid])
        if not acc.any():
            out[comp.key] = (float("nan"), float("nan"))
            continue
        i, j = np.flatnonzero(acc)[[0, -1]]
        width = hi - lo
        out_lo = grid[i - 1] if i > 0 else _outside(comp, lo, -width, alpha, kappa)
        out_hi = grid[j + 1] if j + 1 < len(grid) else _outside(comp, hi, width, alpha, kappa)
        out[comp.key] = (
            -np.inf if out_lo is None else _edge(comp, out_lo, grid[i], alpha, kappa, tol),
            np.inf if out_hi is None else _edge(comp, out_hi, grid[j], alpha, kappa, tol),
        )
    return out


def _outside(comp, start, step, alpha, kappa, doublings: int = 40):
    """A rejected theta beyond an end the scan found open, or None if the set never closes
    (then that end is infinite: the data cannot bound the effect under this Mbar)."""
    for k in range(doublings):
        t = start + step * 2.0**k
        if not comp.accepts(t, alpha, kappa):
            return t
    return None


def _edge(comp, out, inside, alpha, kappa, tol):
    """Bisect between a rejected and an accepted theta (the accepted end is returned)."""
    while abs(out - inside) > tol:
        mid = (out + inside) / 2
        if comp.accepts(mid, alpha, kappa):
            inside = mid
        else:
            out = mid
    return inside


def rm_accepts(
    betahat, sigma, num_pre, num_post, mbar, theta, l_vec=None, alpha=0.05, kappa=None, draws=DRAWS, seed=0
) -> bool:
    """Whether ``theta`` lies in the Delta^RM(Mbar) confidence set (the union over components)."""
    betahat, sigma = _check(betahat, sigma, num_pre, num_post)
    l_vec = _lvec(l_vec, num_post)
    kappa = alpha / 10 if kappa is None else kappa
    comps = _components(betahat, sigma, num_pre, num_post, l_vec, mbar, kappa, draws, seed)
    return any(c.accepts(theta, alpha, kappa) for c in comps)


def rm_breakdown(
    betahat,
    sigma,
    num_pre,
    num_post,
    l_vec=None,
    alpha=0.05,
    null: float = 0.0,
    draws=DRAWS,
    seed=0,
    mbar_max: float = 10.0,
    tol: float = 1e-3,
) -> float:
    """Largest Mbar at which the confidence set still excludes ``null`` (0 if even Mbar = 0 does not).

    Bisection over Mbar on the test of ``theta = null``; ``mbar_max`` if the set excludes it up
    to there.
    """

    def excluded(m):
        return not rm_accepts(betahat, sigma, num_pre, num_post, m, null, l_vec, alpha, None, draws, seed)

    if not excluded(0.0):
        return 0.0
    if excluded(mbar_max):
        return float(mbar_max)
    lo, hi = 0.0, mbar_max
    while hi - lo > tol:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if excluded(mid) else (lo, mid)
    return float(lo)


def sensitivity_rm(
    betahat,
    sigma,
    num_pre: int,
    num_post: int,
    mbar=(0.0, 0.5, 1.0, 1.5, 2.0),
    l_vec=None,
    alpha: float = 0.05,
    draws: int = DRAWS,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per Mbar: identified set and robust confidence set (R's ``createSensitivityResults_relativeMagnitudes``).

    Columns ``mbar``, ``set_low``, ``set_high``, ``ci_low``, ``ci_high``; ``attrs`` hold the
    ``breakdown`` Mbar (for ``theta = 0``), the ``estimate`` ``l' beta_post`` and its ordinary
    confidence interval ``original_ci``.
    """
    betahat, sigma = _check(betahat, sigma, num_pre, num_post)
    l_vec = _lvec(l_vec, num_post)
    rows = []
    for m in mbar:
        s_lo, s_hi = rm_identified_set(betahat, num_pre, num_post, m, l_vec)
        c_lo, c_hi = rm_confidence_set(betahat, sigma, num_pre, num_post, m, l_vec, alpha, draws=draws, seed=seed)
        rows.append({"mbar": float(m), "set_low": s_lo, "set_high": s_hi, "ci_low": c_lo, "ci_high": c_hi})
    out = pd.DataFrame(rows)
    est = float(l_vec @ betahat[num_pre:])
    lo, hi, _ = z_interval(est, float(np.sqrt(l_vec @ sigma[num_pre:, num_pre:] @ l_vec)), alpha)
    out.attrs.update(
        estimate=est,
        original_ci=(lo, hi),
        breakdown=rm_breakdown(betahat, sigma, num_pre, num_post, l_vec, alpha, draws=draws, seed=seed),
        method="C-LF hybrid (Rambachan and Roth 2023)",
    )
    return out
