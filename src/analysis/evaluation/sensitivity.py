"""How robust is the event-study conclusion to violations of parallel trends?

Relative magnitudes (Rambachan and Roth 2023): after the start, the deviation from parallel
trends may change from one period to the next by at most Mbar times the largest such change
seen before the start. For each Mbar the average post-start effect is then only partially
identified; ``relative_magnitudes`` gives that identified set, the paper's robust confidence
set (conditional-least-favourable hybrid, ``analysis.evaluation.honest``) and the *breakdown*
value: the largest Mbar at which the confidence set still excludes zero.

Two choices of the workbook, not of the paper:

- The monthly event study is binned to quarters (3-month means) first: month-to-month changes
  in small counts are mostly noise and would make every bound uninformative; quarters also
  keep the number of post-start coefficients small enough for the exact vertex enumeration.
- The covariance of the event-study points is that of the inference draws the estimate
  already holds (``ImpactResult.event_draws``): their spread when the program is assigned to
  other sectors on the same calendar.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.evaluation.honest import sensitivity_rm


def quarterly_event_study(result, pre_quarters: int, post_quarters: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quarter-binned estimates relative to the last pre-start quarter, their covariance, and the
    quarter index (``-pre_quarters .. post_quarters - 1`` without the reference quarter -1)."""
    if result.event_draws is None or result.event_rels is None:
        raise ValueError(
            f"this {result.method!r} estimate ({result.inference.kind} inference) keeps no event-study "
            "draws; use randomization or placebo inference"
        )
    if pre_quarters < 2:
        raise ValueError("relative magnitudes need at least two pre-start quarters (one besides the reference)")
    # an estimator whose event study lives on another scale (PPML: the log of recorded / expected)
    # gives its draws and points on that scale; the analysis runs there
    es = result.event_study.set_index("rel_period")["log_ratio" if result.event_scale == "log" else "estimate"]
    draws = pd.DataFrame(result.event_draws, columns=result.event_rels)
    qs = np.arange(-pre_quarters, post_quarters)
    points, draw_points = [], []
    for q in qs:
        months = [m for m in range(3 * q, 3 * q + 3) if m in es.index and m in draws.columns]
        if len(months) < 3:
            raise ValueError(f"event study lacks months {3 * q}..{3 * q + 2} for quarter {q}: shorten the horizon")
        points.append(es[months].mean())
        draw_points.append(draws[months].mean(axis=1).to_numpy())
    est, dr = np.array(points), np.column_stack(draw_points)
    ref = int(np.flatnonzero(qs == -1)[0])
    est, dr = est - est[ref], dr - dr[:, [ref]]
    keep = qs != -1
    return est[keep], np.cov(dr[:, keep], rowvar=False), qs[keep]


def relative_magnitudes(
    result,
    mbar=(0.0, 0.5, 1.0, 1.5, 2.0),
    alpha: float = 0.05,
    pre_quarters: int = 4,
    post_quarters: int = 8,
    seed: int = 0,
) -> pd.DataFrame:
    """Identified set and robust confidence set of the average post-start effect, by Mbar.

    Parameters
    ----------
    result : ImpactResult
        An estimate that kept its event-study randomization draws (method 'imputation').
    mbar : sequence of float
        Bounds to report, in multiples of the largest pre-start quarter-to-quarter change.
    alpha : float
        1 - confidence level.
    pre_quarters, post_quarters : int
        Quarters of the event study used before (including the reference quarter -1) and
        after the start; the target is the average of the post-start quarters.
    seed : int
        Seed of the draws behind the least-favourable critical value.

    Returns
    -------
    DataFrame
        One row per Mbar: ``mbar``, ``estimate`` (average post-start quarterly effect relative
        to the last pre-start quarter), ``set_low``/``set_high`` (identified set at the point
        estimates), ``ci_low``/``ci_high`` (robust 95 % confidence set). ``attrs`` hold
        ``breakdown`` (largest Mbar whose set excludes zero), ``largest_pre_change`` and
        ``method``.
    """
    beta, cov, qs = quarterly_event_study(result, pre_quarters, post_quarters)
    n_pre, n_post = int((qs < 0).sum()), int((qs >= 0).sum())
    out = sensitivity_rm(
        beta, cov, n_pre, n_post, mbar=mbar, l_vec=np.full(n_post, 1.0 / n_post), alpha=alpha, seed=seed
    )
    out.insert(1, "estimate", out.attrs["estimate"])
    pre = np.append(beta[:n_pre], 0.0)  # the reference quarter is zero by construction
    out.attrs.update(
        largest_pre_change=float(np.abs(np.diff(pre)).max()),
        method="Rambachan-Roth relative magnitudes, conditional-least-favourable hybrid confidence set",
        scale=result.event_scale,
    )
    return out
