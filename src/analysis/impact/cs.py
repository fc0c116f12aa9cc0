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
randomization over the adoption calendar with the exact test inversion of the linear methods.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.impact.design import Design
from analysis.impact.method import Method
from analysis.impact.result import Draw, Fit


def _cells(
    Y: np.ndarray, start: np.ndarray, control: str, base_period: str = "varying"
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


def _notes(control: str, aggregation: str) -> list[str]:
    return [
        f"Callaway-Sant'Anna, {aggregation} aggregation, {'never' if control == 'never' else 'not yet'}-treated "
        "comparison; pre-period points compare consecutive periods (placebo effects)."
    ]


SA_NOTE = (
    "Sun-Abraham interaction-weighted estimator, never-treated comparison; every period is compared "
    "with the month before the start."
)


def fit(
    design: Design,
    *,
    event_window: tuple[int, int] | None = (-12, 24),
    control: str = "never",
    aggregation: str = "simple",
    base_period: str = "varying",
) -> Fit:
    """Callaway-Sant'Anna; see the module docstring. ``details['group_time']`` holds ATT(g,t)."""
    gt = group_time(design.Y, design.start, control, base_period)
    att, curve = aggregate(gt, aggregation)
    return Fit(
        att=att,
        event=curve.astype(float) if event_window is not None else pd.Series(dtype=float),
        notes=_notes(control, aggregation),
        details={"group_time": gt},
    )


def draw(
    Y: np.ndarray,
    start: np.ndarray,
    rels: list[int] | None,
    fit: Fit | None = None,
    *,
    control: str = "never",
    aggregation: str = "simple",
    base_period: str = "varying",
) -> Draw:
    """The aggregate under calendar ``start``, with the event-time curve over ``rels``."""
    T = Y.shape[1]
    att, curve = _aggregate(*_cells(Y, start, control, base_period), aggregation, T)
    if rels is None:
        return Draw(att=att)
    idx = np.asarray(rels) + T  # the curve runs over event times -T .. T - 1
    ok = (idx >= 0) & (idx < 2 * T)
    return Draw(att=att, curve=np.where(ok, curve[np.clip(idx, 0, 2 * T - 1)], np.nan))


def fit_sa(design: Design, *, event_window: tuple[int, int] | None = (-12, 24), aggregation: str = "simple") -> Fit:
    """Sun and Abraham (2021) interaction-weighted event study, never-treated comparison.

    With a full set of cohort x relative-period indicators (period -1 left out) each treated
    unit's only uncovered cell is its reference month, which its unit effect fits exactly; the
    period effects therefore come from the never-treated units alone, and each cohort effect
    CATT(g, e) equals the group-time comparison with base period g - 1. So SA is computed here
    as Callaway-Sant'Anna with a universal base period, aggregated over post cells by cohort
    size (tests check it against diff-diff's regression implementation).
    """
    out = fit(design, event_window=event_window, control="never", aggregation=aggregation, base_period="universal")
    out.notes = [SA_NOTE]
    return out


def draw_sa(
    Y: np.ndarray, start: np.ndarray, rels: list[int] | None, fit: Fit | None = None, *, aggregation: str = "simple"
) -> Draw:
    return draw(Y, start, rels, fit, control="never", aggregation=aggregation, base_period="universal")


METHOD = Method(
    name="cs",
    labels=("Callaway-Sant'Anna", "Callaway-Sant'Anna"),
    short=("Callaway-Sant'Anna", "Callaway-Sant'Anna"),
    fit=fit,
    draw=draw,
    inferences=("randomization",),
    default_inference="randomization",
    references=("Callaway and Sant'Anna (2021), Journal of Econometrics 225(2)",),
    linear=True,
    options=("control", "aggregation", "base_period"),
    defaults={"n_perm": 499},
)

METHOD_SA = Method(
    name="sa",
    labels=("Sun-Abraham", "Sun-Abraham"),
    short=("Sun-Abraham", "Sun-Abraham"),
    fit=fit_sa,
    draw=draw_sa,
    inferences=("randomization",),
    default_inference="randomization",
    references=("Sun and Abraham (2021), Journal of Econometrics 225(2)",),
    linear=True,
    options=("aggregation",),
    defaults={"n_perm": 499},
)
