"""Leave-one-unit-out jackknife with the fitted weights held fixed (Arkhangelsky et al. 2021,
Algorithm 3), through synthdid-py, for the synthetic methods (``Method.hooks['synthdid']`` names
synthdid-py's estimator).

Undefined when a cohort has a single treated unit: leaving it out removes the cohort, so this
refuses rather than silently dropping draws.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.impact.method import Method, Request
from analysis.impact.result import InferenceOutcome, InferenceRecord, z_interval

#: options this inference reads
OPTIONS: tuple[str, ...] = ()


def reads(method: Method) -> tuple[str, ...]:
    """The options this inference reads for ``method``."""
    return OPTIONS


NOTE = "Jackknife standard errors are unreliable with few treated units; the placebo method is the default."


def run(req: Request) -> InferenceOutcome:
    """Jackknife standard error and normal interval; see the module docstring."""
    design, fit, alpha = req.design, req.fit, req.alpha
    import synthdid

    Y, start = design.Y, design.start
    sizes = pd.Series(start[start >= 0]).value_counts()
    if (sizes < 2).any():
        raise ValueError(
            "jackknife inference needs at least two treated units in every adoption cohort "
            f"(cohorts of size {sorted(sizes.tolist())}); use inference='placebo'"
        )
    N, T = Y.shape
    long = pd.DataFrame(
        {
            "unit": np.repeat(np.arange(N), T),
            "t": np.tile(np.arange(T), N),
            "y": Y.ravel(),
            "d": ((np.arange(T)[None, :] >= start[:, None]) & (start[:, None] >= 0)).ravel().astype(int),
        }
    )
    est = synthdid.staggered_synthdid_estimate(
        long, estimator=req.method.hooks["synthdid"], unit="unit", time="t", outcome="y", treatment="d"
    )
    se = est.se(method="jackknife")
    lo, hi, p = z_interval(fit.att, se, alpha)
    return InferenceOutcome(
        se=se,
        ci=(lo, hi),
        p_value=p,
        record=InferenceRecord(kind="jackknife", label="jackknife (leave one unit out, weights fixed)"),
        interval_at=lambda a: z_interval(fit.att, se, a)[:2],
        notes=[NOTE],
        details={"att_synthdid_py": float(est.att)},
    )
