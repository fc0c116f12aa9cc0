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


def permuted_starts(start: np.ndarray, n_perm: int, seed: int) -> np.ndarray:
    """(n_perm, N) reassignments of the observed adoption calendar to random units."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation(start) for _ in range(n_perm)])


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
