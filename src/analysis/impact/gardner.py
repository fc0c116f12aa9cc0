"""Two-stage difference-in-differences of Gardner (2022).

Stage 1 fits unit and period effects on the untreated cells only (never-treated units and the
not-yet-treated months of the others). Stage 2 regresses the outcome net of those effects on
the treatment indicator over every cell: the coefficient is the average effect on the treated.
The event study regresses the same residualised outcome on one indicator per period relative
to the start (the treated units' cells in the window), the never-treated units and the cells
outside the window being the reference.

With unit and period effects and no covariates, stage 2's coefficient is the mean residual of
the treated cells, so the estimate equals the imputation estimator's (Borusyak, Jaravel and
Spiess 2024; Gardner's paper notes the equivalence); the tests check it to 1e-8 and against
pyfixest's ``did2s``. Its use here is to show that a method is one file: a statistic (``fit``
and ``draw``) and what it supports. It is linear in the outcome for a fixed calendar, so
randomization inference over the adoption calendar applies unchanged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.impact.design import Design, treatment_matrix
from analysis.impact.imputation import fit_untreated
from analysis.impact.method import Method, treated_rows
from analysis.impact.result import Draw, Fit


def _stages(Y: np.ndarray, start: np.ndarray, rels: list[int] | None):
    """(stage-2 coefficient, event coefficients over ``rels`` or None, stage-1 fitted values)."""
    T = Y.shape[1]
    D = treatment_matrix(start, T)
    a, b = fit_untreated(Y, D == 0)  # stage 1: untreated cells only
    fitted = a[:, None] + b[None, :]
    resid = (Y - fitted).ravel()
    d = D.ravel()
    att = float(np.linalg.lstsq(d[:, None], resid, rcond=None)[0][0])  # stage 2: every cell
    if rels is None:
        return att, None, fitted
    tr = start >= 0
    rel = np.where(tr[:, None], np.arange(T)[None, :] - np.where(tr, start, 0)[:, None], 10**6).ravel()
    X = (rel[:, None] == np.asarray(rels)[None, :]).astype(float)
    have = X.any(0)
    coef = np.full(len(rels), np.nan)
    coef[have] = np.linalg.lstsq(X[:, have], resid, rcond=None)[0]
    return att, coef, fitted


def fit(design: Design, *, event_window: tuple[int, int] | None = (-12, 24)) -> Fit:
    """Two-stage DiD; see the module docstring."""
    rels = None if event_window is None else list(range(event_window[0], event_window[1] + 1))
    att, coef, fitted = _stages(design.Y, design.start, rels)
    event = pd.Series(dtype=float) if rels is None else pd.Series(coef, index=rels)
    return Fit(
        att=att,
        event=event,
        counterfactual=fitted,
        notes=[
            "Two-stage DiD (Gardner 2022): unit and period effects from untreated cells, then the "
            "residualised outcome regressed on treatment; equal to the imputation estimate."
        ],
    )


def draw(Y: np.ndarray, start: np.ndarray, rels: list[int] | None, fit: Fit | None = None) -> Draw:
    """The two-stage estimate under calendar ``start``."""
    att, coef, fitted = _stages(Y, start, rels)
    return Draw(att=att, curve=coef, expected=fitted[treated_rows(start)])


METHOD = Method(
    name="gardner",
    labels=("Two-stage DiD (Gardner)", "Diferencias en diferencias en dos etapas (Gardner)"),
    short=("two-stage DiD", "DiD en dos etapas"),
    fit=fit,
    draw=draw,
    inferences=("randomization",),
    default_inference="randomization",
    references=("Gardner (2022), Two-stage differences in differences, arXiv:2207.05943",),
    linear=True,
    defaults={"n_perm": 499},
)
