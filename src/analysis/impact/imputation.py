"""The imputation estimator of Borusyak, Jaravel and Spiess (2024).

Unit and period effects are fitted on the untreated cells only (never-treated units and the
not-yet-treated months of the others); each treated cell's untreated outcome is imputed as
its unit effect plus its period effect, and the effect on the treated is the average of
recorded minus imputed. Unlike TWFE it never uses already-treated cells as controls, so it is
unbiased under staggered adoption with effects that vary by cohort and over time.

The estimator is linear in the outcome for a fixed assignment, so randomization inference over
the adoption calendar gets its confidence set from one pass of reassignments.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.impact.design import Design, treatment_matrix
from analysis.impact.method import Method, treated_rows, treated_rows_many
from analysis.impact.result import Draw, Fit

NOTE = (
    "Pre-period points of the event study are residuals of the fit on untreated months: they "
    "should hover around zero. Event-study intervals use the spread of each point over the "
    "reassignments (a normal approximation)."
)


def fit_untreated(
    Y: np.ndarray, untreated: np.ndarray, tol: float = 1e-10, max_iter: int = 5000
) -> tuple[np.ndarray, np.ndarray]:
    """Unit and period effects (a, b) of Y = a_i + b_t + e on the untreated cells.

    Alternating projections; each unit and period must have at least one untreated cell.
    """
    W = untreated.astype(float)
    n_i, n_t = W.sum(1), W.sum(0)
    if (n_i == 0).any() or (n_t == 0).any():
        raise ValueError(
            "imputation needs an untreated cell in every unit and every period "
            "(a period where every unit is treated cannot be imputed)"
        )
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


def att_many(Y: np.ndarray, calendars: np.ndarray, tol: float = 1e-10, max_iter: int = 5000) -> np.ndarray:
    """``imputation_att(Y, s)[0]`` for every row ``s`` of ``calendars`` (K, N), all treating the
    same number p of units (reassignments of one calendar: the power simulations).

    ``fit_untreated``'s alternating projections, calendar by calendar, with its stopping rule: the
    units untreated under a calendar all move by the same -mean(b), so they are carried as one
    number and an iteration costs O(K (T + p)) instead of O(K N T). Agrees with the one-calendar
    fit to rounding (a test).
    """
    Y = np.asarray(Y, float)
    K, (N, T) = len(calendars), Y.shape
    same = treated_rows_many(calendars)
    if same is None or same[0].shape[1] == 0:
        return np.array([imputation_att(Y, s)[0] for s in calendars])
    rows, starts = same
    if (starts <= 0).any() or (starts >= T).any():
        raise ValueError(
            "imputation needs an untreated cell in every unit and every period "
            "(a period where every unit is treated cannot be imputed)"
        )
    t = np.arange(T)
    YP = Y[rows]  # (K, p, T)
    pre = t[None, None, :] < starts[:, :, None]
    n_t = N - (~pre).sum(1)  # untreated cells per period (K, T)
    if (n_t == 0).any():
        raise ValueError(
            "imputation needs an untreated cell in every unit and every period "
            "(a period where every unit is treated cannot be imputed)"
        )
    col_w = Y.sum(0)[None, :] - (YP * ~pre).sum(1)  # untreated outcomes per period
    pre_y = (YP * pre).sum(2)  # (K, p)
    in_f = np.ones((K, N), bool)
    in_f[np.arange(K)[:, None], rows] = False
    rowmean = Y.sum(1) / T
    sum_f = (rowmean[None, :] * in_f).sum(1)  # sum of the untreated units' means
    n_f = N - rows.shape[1]
    hi_f = np.where(in_f, rowmean[None, :], -np.inf).max(1)
    lo_f = np.where(in_f, rowmean[None, :], np.inf).min(1)
    flat = (np.arange(K)[:, None] * (T + 1) + starts).ravel()
    a = np.zeros(starts.shape)
    c = np.zeros(K)  # the untreated units' a_i = rowmean_i + c
    b = np.zeros((K, T))
    active = np.ones(K, bool)
    first = True
    for _ in range(max_iter):
        cum = np.cumsum(b, axis=1)
        a_new = (pre_y - np.take_along_axis(cum, starts - 1, axis=1)) / starts
        c_new = -cum[:, -1] / T
        # each period: the untreated units' a (sum_f + n_f c) and the treated rows still untreated
        g = np.bincount(flat, weights=a_new.ravel(), minlength=K * (T + 1)).reshape(K, T + 1)
        later = np.cumsum(g[:, ::-1], axis=1)[:, ::-1][:, 1:]
        b_new = (col_w - (sum_f + n_f * c_new)[:, None] - later) / n_t
        if first:  # a starts at 0: the untreated units' change is their own |rowmean + c|
            da_f = np.maximum(np.abs(hi_f + c_new), np.abs(lo_f + c_new))
            first = False
        else:
            da_f = np.abs(c_new - c)
        da = np.maximum(np.abs(a_new - a).max(1), da_f)
        done = np.maximum(da, np.abs(b_new - b).max(1)) < tol
        a[active], c[active], b[active] = a_new[active], c_new[active], b_new[active]
        active &= ~done
        if not active.any():
            break
    post = ~pre
    gap = (YP - a[:, :, None] - b[:, None, :]) * post
    return gap.sum((1, 2)) / post.sum((1, 2))


def imputation_att(Y: np.ndarray, start: np.ndarray) -> tuple[float, np.ndarray]:
    """(ATT, imputed untreated outcomes) for the assignment ``start``."""
    D = treatment_matrix(start, Y.shape[1]).astype(bool)
    a, b = fit_untreated(Y, ~D)
    Y0 = a[:, None] + b[None, :]
    return float((Y - Y0)[D].mean()), Y0


def event_curve(gap: np.ndarray, start: np.ndarray, rels: list[int]) -> np.ndarray:
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


def window_rels(event_window: tuple[int, int] | None) -> list[int] | None:
    """The relative periods of an event window (None: no event study)."""
    return None if event_window is None else list(range(event_window[0], event_window[1] + 1))


def fit(design: Design, *, event_window: tuple[int, int] | None = (-12, 24)) -> Fit:
    """Imputation DiD; see the module docstring. The event study's post-start points are the
    average effect by months since the start; its pre-start points the average residual of the
    untreated fit in the treated units (near zero if trends are parallel)."""
    att, Y0 = imputation_att(design.Y, design.start)
    rels = window_rels(event_window)
    event = (
        pd.Series(dtype=float)
        if rels is None
        else pd.Series(event_curve(design.Y - Y0, design.start, rels), index=rels)
    )
    return Fit(att=att, event=event, counterfactual=Y0, notes=[NOTE])


def draw(Y: np.ndarray, start: np.ndarray, rels: list[int] | None, fit: Fit | None = None) -> Draw:
    """The imputation estimate under calendar ``start``."""
    Dp = treatment_matrix(start, Y.shape[1]).astype(bool)
    ay, by = fit_untreated(Y, ~Dp)
    gap = Y - ay[:, None] - by[None, :]
    rows = treated_rows(start)
    curve = None if rels is None else event_curve(gap, start, rels)
    return Draw(att=gap[Dp].mean(), curve=curve, expected=ay[rows][:, None] + by[None, :])


METHOD = Method(
    name="imputation",
    labels=("Imputation DiD (additive)", "Diferencias en diferencias por imputación (aditiva)"),
    short=("imputation DiD", "DiD por imputación"),
    fit=fit,
    draw=draw,
    inferences=("randomization",),
    default_inference="randomization",
    references=("Borusyak, Jaravel and Spiess (2024), Review of Economic Studies 91(6)",),
    linear=True,
    defaults={"n_perm": 499},
)
