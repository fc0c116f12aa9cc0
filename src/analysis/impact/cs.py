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
from analysis.impact.randomization import draw_spread, invert, permuted_starts


def _cells(Y: np.ndarray, start: np.ndarray, control: str, base_period: str = "varying"
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Arrays (g, t, att, n_g) of all group-time cells, vectorised over periods.

    ``base_period='universal'`` compares every period with g - 1 (Sun and Abraham's reference)."""
    T = Y.shape[1]
    never = start < 0
    out_g, out_t, out_a, out_n = [], [], [], []
    ts = np.arange(T)
    for g in np.unique(start[start >= 0]):
        in_g = start == g
        base = np.where((ts >= g) | (base_period == "universal"), g - 1, ts - 1)
        ok = (base >= 0) & (ts != base)
        t_ok, b_ok = ts[ok], base[ok]
        m_g = Y[in_g].mean(0)
        if control == "never":
            if not never.any():
                continue
            m_c = Y[never].mean(0)
            att = (m_g[t_ok] - m_g[b_ok]) - (m_c[t_ok] - m_c[b_ok])
        elif control == "notyettreated":
            # comparison units differ by cell: not yet treated at max(t, base), outside cohort g
            att = np.empty(len(t_ok))
            keep = np.ones(len(t_ok), bool)
            for j, (t, b) in enumerate(zip(t_ok, b_ok)):
                ctrl = never | ((start > max(t, b)) & ~in_g)
                if not ctrl.any():
                    keep[j] = False
                    continue
                d = Y[:, t] - Y[:, b]
                att[j] = m_g[t] - m_g[b] - d[ctrl].mean()
            t_ok, att = t_ok[keep], att[keep]
        else:
            raise ValueError(f"control must be 'never' or 'notyettreated', not {control!r}")
        out_g.append(np.full(len(t_ok), g))
        out_t.append(t_ok)
        out_a.append(att)
        out_n.append(np.full(len(t_ok), int(in_g.sum())))
    if not out_g:
        return (np.zeros(0, int),) * 2 + (np.zeros(0), np.zeros(0, int))
    return np.concatenate(out_g), np.concatenate(out_t), np.concatenate(out_a), np.concatenate(out_n)


def group_time(Y: np.ndarray, start: np.ndarray, control: str = "never", base_period: str = "varying") -> pd.DataFrame:
    """ATT(g,t) for every cohort g and period t with a base period in the panel.

    Returns a frame: ``g`` and ``t`` (period indices), ``att``, ``n_g`` (cohort size).
    """
    g, t, a, n = _cells(Y, start, control, base_period)
    return pd.DataFrame({"g": g.astype(int), "t": t.astype(int), "att": a, "n_g": n.astype(int)})


def _aggregate(g: np.ndarray, t: np.ndarray, att: np.ndarray, n_g: np.ndarray, how: str, T: int):
    e = t - g
    off = T  # event times run from -(T-1) to T-1
    w = np.bincount(e + off, weights=n_g, minlength=2 * T)
    curve = np.bincount(e + off, weights=att * n_g, minlength=2 * T)
    with np.errstate(invalid="ignore", divide="ignore"):
        curve = np.where(w > 0, curve / np.where(w > 0, w, 1), np.nan)
    post = e >= 0
    if how == "simple":
        overall = np.sum(att[post] * n_g[post]) / np.sum(n_g[post])
    elif how == "group":
        gs = np.unique(g[post])
        means = np.array([att[post & (g == k)].mean() for k in gs])
        sizes = np.array([n_g[post & (g == k)][0] for k in gs])
        overall = np.sum(means * sizes) / sizes.sum()
    elif how == "dynamic":
        overall = float(np.nanmean(curve[off:]))
    else:
        raise ValueError(f"aggregation must be 'simple', 'group' or 'dynamic', not {how!r}")
    return float(overall), curve


def aggregate(gt: pd.DataFrame, how: str = "simple") -> tuple[float, pd.Series]:
    """(overall effect, event-time curve) for ``simple``, ``group`` or ``dynamic`` aggregation."""
    T = int(max(gt.t.max(), gt.g.max())) + 1 if len(gt) else 1
    overall, curve = _aggregate(gt.g.to_numpy(), gt.t.to_numpy(), gt.att.to_numpy(), gt.n_g.to_numpy(), how, T)
    idx = np.arange(-T, T)
    c = pd.Series(curve, index=idx)
    return overall, c[c.notna()]


def estimate_sa(design: Design, outcome: str, **kw) -> ImpactResult:
    """Sun and Abraham (2021) interaction-weighted event study, never-treated comparison.

    With a full set of cohort x relative-period indicators (period -1 left out) each treated
    unit's only uncovered cell is its reference month, which its unit effect fits exactly; the
    period effects therefore come from the never-treated units alone, and each cohort effect
    CATT(g, e) equals the group-time comparison with base period g - 1. So SA is computed here
    as Callaway-Sant'Anna with a universal base period, aggregated over post cells by cohort
    size (tests check it against diff-diff's regression implementation).
    """
    kw.setdefault("aggregation", "simple")
    return estimate_cs(design, outcome, control="never", base_period="universal", _method="sa", **kw)


def estimate_cs(design: Design, outcome: str, *, inference: str = "randomization", alpha: float = 0.05,
                n_perm: int = 499, seed: int = 0, control: str = "never", aggregation: str = "simple",
                event_window: tuple[int, int] = (-12, 24), base_period: str = "varying",
                _method: str = "cs") -> ImpactResult:
    """Callaway-Sant'Anna with randomization inference; see the module docstring."""
    if inference != "randomization":
        raise ValueError(f"inference {inference!r} is not available for {_method} (use 'randomization')")
    Y, start = design.Y, design.start
    T = Y.shape[1]
    gt = group_time(Y, start, control, base_period)
    att, curve = aggregate(gt, aggregation)

    D = (np.arange(T)[None, :] >= start[:, None]) & (start[:, None] >= 0)
    Df = D.astype(float)
    a_p, b_p = np.empty(n_perm), np.empty(n_perm)
    curves = np.empty((n_perm, 2 * T))
    for k, s in enumerate(permuted_starts(start, n_perm, seed)):
        a_p[k], curves[k] = _aggregate(*_cells(Y, s, control, base_period), aggregation, T)
        b_p[k], _ = _aggregate(*_cells(Df, s, control, base_period), aggregation, T)
    ri = invert(att, a_p, b_p, alpha)
    p0, (lo, hi), spread = ri["p_value"], ri["ci"], ri["se"]

    from scipy.stats import norm

    z = norm.ppf(1 - alpha / 2)
    sd = pd.Series(draw_spread(curves), index=np.arange(-T, T)).reindex(curve.index)
    es = pd.DataFrame({"rel_period": curve.index.astype(int), "estimate": curve.to_numpy(), "se": sd.to_numpy()})
    es = es[(es.rel_period >= event_window[0]) & (es.rel_period <= event_window[1])].reset_index(drop=True)
    es["ci_low"], es["ci_high"] = es.estimate - z * es.se, es.estimate + z * es.se
    return ImpactResult(
        method=_method, outcome=outcome,
        inference=f"randomization inference ({n_perm} reassignments of the adoption calendar)",
        att=att, se=spread, ci_low=lo, ci_high=hi, p_value=float(p0), treated_mean=design.treated_mean(),
        n_treated=int((start >= 0).sum()), n_control=int((start < 0).sum()), n_pre=design.n_pre, n_post=design.n_post,
        alpha=alpha, event_study=es,
        notes=[f"Callaway-Sant'Anna, {aggregation} aggregation, {'never' if control == 'never' else 'not yet'}-treated "
               "comparison; pre-period points compare consecutive periods (placebo effects)."] if _method == "cs" else
              ["Sun-Abraham interaction-weighted estimator, never-treated comparison; every period is compared "
               "with the month before the start."],
        extra={"group_time": gt, "min_p_value": 1 / (n_perm + 1), "n_draws": n_perm, "n_treated_periods": int(D.sum())},
    )
