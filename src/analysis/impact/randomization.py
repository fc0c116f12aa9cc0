"""Randomization inference over the adoption calendar, shared by the estimators linear in Y.

The observed calendar of starts is reassigned to randomly chosen units. For an estimator that
is linear in the outcome for a fixed assignment (TWFE, imputation, Callaway-Sant'Anna, Sun-
Abraham), the sharp null of a constant additive effect tau turns each reassignment's statistic
into a_p - tau * b_p, where a_p is the estimate on Y and b_p the estimate on the observed
treatment indicator, both under reassignment p. One pass over the reassignments therefore gives
the p-value of every tau, and the confidence set is the taus the test does not reject.
"""

from __future__ import annotations

import numpy as np


def permuted_starts(start: np.ndarray, n_perm: int, seed: int, pool: np.ndarray | None = None) -> np.ndarray:
    """(n_perm, N) reassignments of the observed adoption calendar to random units.

    With ``pool`` (a boolean mask over units that contains every treated unit) the calendar is
    reassigned among the pool's units only; the others stay untreated in every reassignment.
    """
    rng = np.random.default_rng(seed)
    if pool is None:
        return np.stack([rng.permutation(start) for _ in range(n_perm)])
    pool = np.asarray(pool, bool)
    if not pool[start >= 0].all():
        raise ValueError("the reassignment pool must contain every treated unit")
    idx = np.flatnonzero(pool)
    out = np.tile(start, (n_perm, 1))
    for k in range(n_perm):
        out[k, idx] = rng.permutation(start[idx])
    return out


#: the smallest reassignment pool: with one treated unit among 20 the test can reach p = 0.05
MIN_POOL = 20


def comparable_pool(Y: np.ndarray, start: np.ndarray, n_pre: int | None = None) -> np.ndarray:
    """Units that could have been chosen for the program: those at least as violent before it
    as the least violent treated unit.

    The program chose its sectors among the most violent, so a reassignment of its calendar to a
    quiet sector imagines a design that could not have happened; there, a multiplicative
    statistic is much noisier (few events), and PPML's test reassigning among all sectors
    rejected too rarely (1.5-2 % at a nominal 5 % on realistic cities; ``analysis.validation``).
    The level is the mean count in the months before the first start. The pool holds every
    treated unit and at least ``max(2 x treated, MIN_POOL)`` units (the most violent untreated
    ones fill it up), so there are at least as many comparable never-treated units as treated
    ones and a single sector's test can reach a 5 % p-value.
    """
    treated = start >= 0
    n_pre = int(start[treated].min()) if n_pre is None else n_pre
    level = Y[:, :max(n_pre, 1)].mean(1)
    pool = treated | (level >= level[treated].min())
    need = min(len(start), max(2 * int(treated.sum()), MIN_POOL))
    if pool.sum() < need:
        order = [i for i in np.argsort(-level, kind="stable") if not pool[i]]
        pool[order[:need - int(pool.sum())]] = True
    return pool


def draw_spread(curves: np.ndarray) -> np.ndarray:
    """Standard deviation of each column of ``curves`` (draws x points) over the draws that
    reach it; a point no draw reaches has none (NaN, without a warning)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanstd(curves, axis=0)


def invert(estimate: float, a_p: np.ndarray, b_p: np.ndarray, alpha: float) -> dict:
    """p-value of tau = 0 and the (1 - alpha) confidence set by test inversion.

    Parameters
    ----------
    estimate : float
        The observed estimate.
    a_p, b_p : ndarray (n_perm,)
        Each reassignment's estimate on the outcome and on the observed treatment indicator.

    Returns
    -------
    dict
        ``p_value``, ``ci`` (lowest and highest tau not rejected, on a grid of 4,001 points that
        widens until both of its ends are rejected; a side the test cannot bound with these
        reassignments is reported as -inf or +inf) and ``se`` (the permutation standard deviation).
    """
    n = len(a_p)
    p0 = (1 + np.sum(np.abs(a_p) >= abs(estimate) - 1e-12)) / (n + 1)
    spread = max(float(np.std(a_p)), 1e-12)

    def pvals(grid: np.ndarray) -> np.ndarray:
        stat_perm = np.abs(a_p[:, None] - grid[None, :] * b_p[:, None])
        return (1 + (stat_perm >= np.abs(estimate - grid)[None, :] - 1e-12).sum(0)) / (n + 1)

    for width in (10, 100, 1000):
        grid = estimate + np.linspace(-width, width, 4001) * spread
        pv = pvals(grid)
        if pv[0] <= alpha and pv[-1] <= alpha:
            break
    inside = grid[pv > alpha]
    if not inside.size:
        return {"p_value": float(p0), "ci": (float("nan"), float("nan")), "se": spread}
    lo = -np.inf if pv[0] > alpha else float(inside.min())
    hi = np.inf if pv[-1] > alpha else float(inside.max())
    return {"p_value": float(p0), "ci": (lo, hi), "se": spread}
