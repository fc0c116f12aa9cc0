"""Two-way fixed-effects difference-in-differences with an event study.

The model is linearmodels' ``PanelOLS`` (unit and period effects, errors clustered by unit).
With few treated sectors clustered errors are far too small, so the default inference is
randomization over the adoption calendar. On a balanced panel the coefficient is a ratio of
inner products with the two-way demeaned treatment (Frisch-Waugh-Lovell) and its clustered
error a sum over units of the same products (``clustered_se``), so the average effect costs
O(N T) and no refit: each reassignment (``draw``) and each of the calibration's 500 placebo
runs, which PanelOLS took 0.2 s each. Tests check both equal PanelOLS; the event study is
PanelOLS's. It is also the statistic of the wild cluster
bootstrap (``analysis.impact.inference.wild``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.impact.design import Design, demean2, treatment_matrix
from analysis.impact.inference.randomization import permuted_starts
from analysis.impact.method import Method, Request
from analysis.impact.result import Draw, Fit

STAGGERED_NOTE = (
    "TWFE is biased when effects vary across adoption cohorts or over time (staggered "
    "adoption); shown as the familiar baseline."
)


def twfe_coefficient(Y: np.ndarray, D: np.ndarray) -> float:
    """TWFE coefficient of D on a balanced panel (equals PanelOLS with both effects)."""
    Dt = demean2(D)
    return float((Dt * Y).sum() / (Dt * D).sum())


def clustered_se(Y: np.ndarray, D: np.ndarray) -> float:
    """Standard error of ``twfe_coefficient`` clustered by unit, as PanelOLS gives it on a
    balanced panel (``cov_type='clustered', cluster_entity=True``): the sandwich
    sum_i (sum_t x_it e_it)^2 / (sum x^2)^2 with x the two-way demeaned treatment and e the
    within residual, times n / (n - N - T), linearmodels' count of the absorbed effects."""
    N, T = Y.shape
    x = demean2(D)
    beta = (x * Y).sum() / (x * D).sum()
    e = demean2(Y) - beta * x
    n = N * T
    return float(np.sqrt(((x * e).sum(1) ** 2).sum() / (x * x).sum() ** 2 * n / (n - N - T)))


def _panelols(design: Design, X: np.ndarray, names: list[str]):
    from linearmodels import PanelOLS

    N, T = design.Y.shape
    idx = pd.MultiIndex.from_product([np.arange(N), np.arange(T)], names=["unit", "time"])
    exog = pd.DataFrame(X.reshape(len(names), N * T).T, index=idx, columns=names)
    y = pd.Series(design.Y.ravel(), index=idx, name="y")
    return PanelOLS(y, exog, entity_effects=True, time_effects=True, drop_absorbed=True).fit(
        cov_type="clustered", cluster_entity=True
    )


def event_study_matrix(start: np.ndarray, T: int, window: tuple[int, int]) -> tuple[np.ndarray, list[int]]:
    """Relative-period dummies (K, N, T), endpoints binned, period -1 left out as reference."""
    lo, hi = window
    rels = [r for r in range(lo, hi + 1) if r != -1]
    t = np.arange(T)[None, :]
    s = np.asarray(start)[:, None]
    rel = np.where(s >= 0, t - s, 10**6)
    X = []
    for r in rels:
        if r == lo:
            m = rel <= lo
        elif r == hi:
            m = (rel >= hi) & (rel < 10**6)
        else:
            m = rel == r
        X.append(m.astype(float))
    return np.stack(X), rels


def fit(design: Design, *, event_window: tuple[int, int] | None = (-12, 24)) -> Fit:
    """TWFE coefficient and its clustered error (PanelOLS's, in closed form) and, unless
    ``event_window`` is None, the event-study
    regression on relative-period dummies within the window (clipped to the periods the panel
    has; -1 is the reference)."""
    D = design.D
    att = twfe_coefficient(design.Y, D)
    out = Fit(
        att=att,
        event=pd.Series(dtype=float),
        statistic=att,
        cluster_se=clustered_se(design.Y, D),
        notes=[STAGGERED_NOTE],
    )
    if event_window is None:  # no event study (placebo calibration runs need only the average)
        return out
    T = design.Y.shape[1]
    lo_w = max(event_window[0], -int(design.start[design.treated].max()))
    hi_w = min(event_window[1], T - 1 - int(design.start[design.treated].min()))
    X, rels = event_study_matrix(design.start, T, (lo_w, hi_w))
    es_fit = _panelols(design, X, [f"rel_{r}" for r in rels])
    out.event = pd.Series(es_fit.params.to_numpy(), index=rels)
    out.event_se = pd.Series(es_fit.std_errors.to_numpy(), index=rels)
    out.event_reference = -1
    out.details["event_window"] = (lo_w, hi_w)
    return out


def draw(Y: np.ndarray, start: np.ndarray, rels: list[int] | None, fit: Fit | None = None) -> Draw:
    """The TWFE coefficient under calendar ``start`` (the Frisch-Waugh-Lovell ratio); the event
    study's draws are a regression each (``event_draws``)."""
    Dp = treatment_matrix(start, Y.shape[1])
    Dt = demean2(Dp)
    return Draw(att=(Dt * Y).sum() / (Dt * Dp).sum())


def event_draws(
    design: Design, fit: Fit, n_perm: int, seed: int, pool: np.ndarray | None = None
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Event-study coefficients under reassigned calendars: a regression per draw, so at most 199
    of them (seed + 1), their spread the event study's standard errors."""
    if "event_window" not in fit.details:
        return None, None
    T = design.Y.shape[1]
    window = fit.details["event_window"]
    rels = list(fit.event.index)
    draws = []
    for s in permuted_starts(design.start, min(n_perm, 199), seed + 1, pool):
        Xp, _ = event_study_matrix(s, T, window)
        Xpt = demean2(Xp).reshape(len(rels), -1)
        # normal equations: K x K with K about 36, far cheaper than an SVD of the N*T x K matrix
        draws.append(np.linalg.solve(Xpt @ Xpt.T, Xpt @ design.Y.ravel()))
    return np.array(draws), np.array(rels)


METHOD = Method(
    name="twfe",
    labels=("TWFE", "Efectos fijos de dos vías (TWFE)"),
    short=("TWFE", "TWFE"),
    fit=fit,
    draw=draw,
    inferences=("randomization", "wild", "cluster"),
    default_inference="randomization",
    references=(
        "Angrist and Pischke (2009), Mostly Harmless Econometrics, ch. 5",
        "Goodman-Bacon (2021), Journal of Econometrics 225(2)",
    ),
    linear=True,
    defaults={"n_perm": 999, "n_boot": 9999, "boot_weights": "webb"},
    hooks={"event_draws": event_draws},
)


def randomization_test(Y: np.ndarray, start: np.ndarray, n_perm: int = 999, seed: int = 0, alpha: float = 0.05) -> dict:
    """The TWFE coefficient's randomization test on bare matrices (simulation studies): the same
    inference ``estimate(method='twfe')`` runs, without a panel.

    Returns ``estimate`` (the FWL coefficient), ``p_value``, ``ci``, ``se`` (the permutation
    spread) and ``draws``."""
    from analysis.impact.inference import randomization

    Y = np.asarray(Y, float)
    N, T = Y.shape
    design = Design(Y=Y, start=np.asarray(start), units=pd.RangeIndex(N), times=pd.RangeIndex(T))
    beta = twfe_coefficient(Y, design.D)
    fit = Fit(att=beta, event=pd.Series(dtype=float))
    out = randomization.run(Request(METHOD, design, fit, alpha, seed, None, options={"n_perm": n_perm}))
    return {"estimate": beta, "p_value": out.p_value, "ci": out.ci, "se": out.se, "draws": out.record.draws}
