"""Callaway and Sant'Anna (2021): group-time effects and their aggregations.

For each adoption cohort g and period t, ATT(g,t) compares the change in the cohort's mean
outcome between a base period and t with the same change in a comparison group:

- post periods (t >= g): base period g - 1;
- pre periods (t < g): base period t - 1 (R ``did``'s default "varying" base), so the
  pre-period points are placebo effects;
- comparison: never-treated units (default, as R ``did``), or units not yet treated by
  max(t, base) ("notyettreated").

Without covariates the doubly robust estimator is this simple difference in differences, as in
R ``did`` with ``xformla = ~1``. Aggregations follow ``aggte``: ``simple`` (post cells weighted
by cohort size), ``group`` (each cohort's average over its post periods, then cohort-size
weights) and ``dynamic`` (event time e averaged over cohorts by size; overall = mean over e >= 0).

Every aggregate is linear in the outcome for a fixed assignment of cohorts, so inference is
randomization over the adoption calendar with the exact test inversion used for ``twfe``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.impact.design import Design
from analysis.impact.result import ImpactResult
from analysis.impact.twfe import permuted_starts


def group_time(Y: np.ndarray, start: np.ndarray, control: str = "never") -> pd.DataFrame:
    """ATT(g,t) for every cohort g and period t with a base period in the panel.

    Returns a frame: ``g`` and ``t`` (period indices), ``att``, ``n_g`` (cohort size).
    """
    T = Y.shape[1]
    cohorts = np.unique(start[start >= 0])
    never = start < 0
    rows = []
    for g in cohorts:
        in_g = start == g
        for t in range(T):
            base = g - 1 if t >= g else t - 1
            if base < 0 or t == base:
                continue
            if control == "never":
                ctrl = never
            elif control == "notyettreated":
                ctrl = never | ((start > max(t, base)) & ~in_g)
            else:
                raise ValueError(f"control must be 'never' or 'notyettreated', not {control!r}")
            if not ctrl.any():
                continue
            d = Y[:, t] - Y[:, base]
            rows.append((int(g), t, float(d[in_g].mean() - d[ctrl].mean()), int(in_g.sum())))
    return pd.DataFrame(rows, columns=["g", "t", "att", "n_g"])


def aggregate(gt: pd.DataFrame, how: str = "simple") -> tuple[float, pd.Series]:
    """(overall effect, event-time curve) for ``simple``, ``group`` or ``dynamic`` aggregation."""
    gt = gt.assign(e=gt.t - gt.g)
    post = gt[gt.e >= 0]
    curve = gt.groupby("e").apply(lambda d: np.average(d.att, weights=d.n_g), include_groups=False)
    if how == "simple":
        overall = np.average(post.att, weights=post.n_g)
    elif how == "group":
        by_g = post.groupby("g").agg(att=("att", "mean"), n_g=("n_g", "first"))
        overall = np.average(by_g.att, weights=by_g.n_g)
    elif how == "dynamic":
        overall = float(curve[curve.index >= 0].mean())
    else:
        raise ValueError(f"aggregation must be 'simple', 'group' or 'dynamic', not {how!r}")
    return float(overall), curve


def estimate_cs(design: Design, outcome: str, *, inference: str = "randomization", alpha: float = 0.05,
                n_perm: int = 499, seed: int = 0, control: str = "never", aggregation: str = "simple",
                event_window: tuple[int, int] = (-12, 24)) -> ImpactResult:
    """Callaway-Sant'Anna with randomization inference; see the module docstring."""
    if inference != "randomization":
        raise ValueError(f"inference {inference!r} is not available for cs (use 'randomization')")
    Y, start = design.Y, design.start
    gt = group_time(Y, start, control)
    att, curve = aggregate(gt, aggregation)

    D = (np.arange(Y.shape[1])[None, :] >= start[:, None]) & (start[:, None] >= 0)
    Df = D.astype(float)
    a_p, b_p = np.empty(n_perm), np.empty(n_perm)
    curves = []
    for k, s in enumerate(permuted_starts(start, n_perm, seed)):
        a_p[k], c = aggregate(group_time(Y, s, control), aggregation)
        b_p[k], _ = aggregate(group_time(Df, s, control), aggregation)
        curves.append(c)
    p0 = (1 + np.sum(np.abs(a_p) >= abs(att) - 1e-12)) / (n_perm + 1)
    spread = max(float(np.std(a_p)), 1e-12)
    grid = att + np.linspace(-10, 10, 4001) * spread
    stat_perm = np.abs(a_p[:, None] - grid[None, :] * b_p[:, None])
    pvals = (1 + (stat_perm >= np.abs(att - grid)[None, :] - 1e-12).sum(0)) / (n_perm + 1)
    inside = grid[pvals > alpha]
    lo, hi = (float(inside.min()), float(inside.max())) if inside.size else (float("nan"), float("nan"))

    from scipy.stats import norm

    z = norm.ppf(1 - alpha / 2)
    sd = pd.concat(curves, axis=1).reindex(curve.index).std(axis=1, ddof=0)
    es = pd.DataFrame({"rel_period": curve.index.astype(int), "estimate": curve.to_numpy(), "se": sd.to_numpy()})
    es = es[(es.rel_period >= event_window[0]) & (es.rel_period <= event_window[1])].reset_index(drop=True)
    es["ci_low"], es["ci_high"] = es.estimate - z * es.se, es.estimate + z * es.se
    return ImpactResult(
        method="cs", outcome=outcome,
        inference=f"randomization inference ({n_perm} reassignments of the adoption calendar)",
        att=att, se=spread, ci_low=lo, ci_high=hi, p_value=float(p0), treated_mean=design.treated_mean(),
        n_treated=int((start >= 0).sum()), n_control=int((start < 0).sum()), n_pre=design.n_pre, n_post=design.n_post,
        alpha=alpha, event_study=es,
        notes=[f"Callaway-Sant'Anna, {aggregation} aggregation, {'never' if control == 'never' else 'not yet'}-treated "
               "comparison; pre-period points compare consecutive periods (placebo effects)."],
        extra={"group_time": gt, "min_p_value": 1 / (n_perm + 1), "n_treated_periods": int(D.sum())},
    )
