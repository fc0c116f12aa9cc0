"""The imputation estimator of Borusyak, Jaravel and Spiess (2024).

Unit and period effects are fitted on the untreated cells only (never-treated units and the
not-yet-treated months of the others); each treated cell's untreated outcome is imputed as
its unit effect plus its period effect, and the effect on the treated is the average of
recorded minus imputed. Unlike TWFE it never uses already-treated cells as controls, so it is
unbiased under staggered adoption with effects that vary by cohort and over time.

Inference is randomization over the adoption calendar, as for ``twfe``: the estimator is
linear in the outcome for a fixed assignment, so the confidence set comes from one pass.
"""

from __future__ import annotations


import numpy as np
import pandas as pd

from analysis.impact.design import Design, treatment_matrix
from analysis.impact.result import ImpactResult
from analysis.impact.randomization import draw_spread, invert, permuted_starts


def fit_untreated(Y: np.ndarray, untreated: np.ndarray, tol: float = 1e-10, max_iter: int = 5000) -> tuple[np.ndarray, np.ndarray]:
    """Unit and period effects (a, b) of Y = a_i + b_t + e on the untreated cells.

    Alternating projections; each unit and period must have at least one untreated cell.
    """
    W = untreated.astype(float)
    n_i, n_t = W.sum(1), W.sum(0)
    if (n_i == 0).any() or (n_t == 0).any():
        raise ValueError("imputation needs an untreated cell in every unit and every period "
                         "(a period where every unit is treated cannot be imputed)")
    Yw = np.where(untreated, Y, 0.0)
    b = np.zeros(Y.shape[1])
    a = np.zeros(Y.shape[0])
    for _ in range(max_iter):
        a_new = (Yw - W * b[None, :]).sum(1) / n_i
        b_new = (Yw - W * a_new[:, None]).sum(0) / n_t
        done = max(np.abs(a_new - a).max(), np.abs(b_new - b).max()) < tol
        a, b = a_new, b_new
        if done:
            break
    return a, b


def imputation_att(Y: np.ndarray, start: np.ndarray) -> tuple[float, np.ndarray]:
    """(ATT, imputed untreated outcomes) for the assignment ``start``."""
    D = treatment_matrix(start, Y.shape[1]).astype(bool)
    a, b = fit_untreated(Y, ~D)
    Y0 = a[:, None] + b[None, :]
    return float((Y - Y0)[D].mean()), Y0


def _curve(gap: np.ndarray, start: np.ndarray, rels: list[int]) -> np.ndarray:
    """Mean of ``gap`` over treated units by period relative to their start (NaN where none)."""
    T = gap.shape[1]
    tr = start >= 0
    rel = np.arange(T)[None, :] - np.where(tr, start, 0)[:, None]
    rel = np.where(tr[:, None], rel, 10**6)
    lo = rels[0]
    idx = rel - lo
    ok = (idx >= 0) & (idx < len(rels))
    sums = np.bincount(idx[ok], weights=gap[ok], minlength=len(rels))
    cnt = np.bincount(idx[ok], minlength=len(rels))
    with np.errstate(invalid="ignore"):
        return np.where(cnt > 0, sums / np.maximum(cnt, 1), np.nan)


def estimate_imputation(design: Design, outcome: str, *, inference: str = "randomization", alpha: float = 0.05,
                        n_perm: int = 499, seed: int = 0, event_window: tuple[int, int] = (-12, 24)) -> ImpactResult:
    """Imputation DiD; see the module docstring."""
    if inference != "randomization":
        raise ValueError(f"inference {inference!r} is not available for imputation (use 'randomization')")
    Y, start = design.Y, design.start
    T = Y.shape[1]
    D = treatment_matrix(start, T).astype(bool)
    att, Y0 = imputation_att(Y, start)

    rels = list(range(event_window[0], event_window[1] + 1))
    curve = _curve(Y - Y0, start, rels)

    # randomization inference: stat_p(tau) = a_p - tau * b_p, with a_p = ATT_p(Y), b_p = ATT_p(D);
    # the same reassignments give the spread of each event-study point
    a_p, b_p = np.empty(n_perm), np.empty(n_perm)
    curves = np.full((n_perm, len(rels)), np.nan)
    Df = D.astype(float)
    for k, s in enumerate(permuted_starts(start, n_perm, seed)):
        Dp = treatment_matrix(s, T).astype(bool)
        ay, by = fit_untreated(Y, ~Dp)
        ad, bd = fit_untreated(Df, ~Dp)
        gap = Y - ay[:, None] - by[None, :]
        a_p[k] = gap[Dp].mean()
        b_p[k] = (Df - ad[:, None] - bd[None, :])[Dp].mean()
        curves[k] = _curve(gap, s, rels)
    ri = invert(att, a_p, b_p, alpha)
    p0, (lo, hi), spread = ri["p_value"], ri["ci"], ri["se"]

    # event study: post periods are the average effect by months since the start; pre periods
    # are the average residual of the untreated fit in the treated units (near zero if parallel).
    # Intervals: estimate +- z times the spread of the same point over the reassignments.
    from scipy.stats import norm

    spread_by_rel = draw_spread(curves)
    es = pd.DataFrame({"rel_period": rels, "estimate": curve, "se": spread_by_rel})
    es = es[np.isfinite(es.estimate)].reset_index(drop=True)
    z = norm.ppf(1 - alpha / 2)
    es["ci_low"], es["ci_high"] = es.estimate - z * es.se, es.estimate + z * es.se

    tr = np.flatnonzero(start >= 0)
    cf = pd.DataFrame({
        "unit": np.repeat(design.units[tr].to_numpy(), T),
        "period": np.tile(design.times.to_numpy(), len(tr)),
        "observed": Y[tr].ravel(), "counterfactual": Y0[tr].ravel(), "treated": D[tr].ravel(),
    })
    return ImpactResult(
        method="imputation", outcome=outcome,
        inference=f"randomization inference ({n_perm} reassignments of the adoption calendar)",
        att=att, se=spread, ci_low=lo, ci_high=hi, p_value=float(p0), treated_mean=design.treated_mean(),
        n_treated=len(tr), n_control=int((start < 0).sum()), n_pre=design.n_pre, n_post=design.n_post, alpha=alpha,
        event_study=es, counterfactual=cf,
        notes=["Pre-period points of the event study are residuals of the fit on untreated months: they "
               "should hover around zero. Event-study intervals use the spread of each point over the "
               "reassignments (a normal approximation)."],
        extra={"min_p_value": 1 / (n_perm + 1), "n_draws": n_perm, "event_draws": curves, "event_rels": np.array(rels)},
    )
