"""How robust is the event-study conclusion to violations of parallel trends?

Relative magnitudes (Rambachan and Roth 2023): after the start, the deviation from parallel
trends may change from one period to the next by at most M times the largest such change seen
before the start. For each M the average post-start effect is then only partially identified;
``relative_magnitudes`` gives that identified set and a confidence set, and the *breakdown*
value: the largest M at which the confidence set still excludes zero.

Simplifications, stated so nobody mistakes this for the paper's estimator:

- The monthly event study is binned to quarters (3-month means) before the analysis: monthly
  counts are so noisy that month-to-month pre-period changes would swamp the bound.
- The confidence set is a conservative Bonferroni construction: a (1 - alpha/2) interval for
  the average post-start estimate, widened by M times a (1 - alpha/2) simultaneous upper bound
  on the largest pre-start change, times the bound's growth over the post-start horizon. The
  paper's conditional-hybrid test gives shorter intervals; this one is valid but wider.
- The covariance of the event-study points is that of the randomization draws the estimator
  already computed (``extra['event_draws']``), i.e. their spread under the sharp null.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm


def _quarterly(result, pre_quarters: int, post_quarters: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quarter-binned estimates, draws and the quarter index (reference: the last pre quarter)."""
    if "event_draws" not in result.extra:
        raise ValueError(f"method {result.method!r} keeps no event-study draws; use method='imputation'")
    es = result.event_study.set_index("rel_period").estimate
    rels = result.extra["event_rels"]
    draws = pd.DataFrame(result.extra["event_draws"], columns=rels)
    qs = np.arange(-pre_quarters, post_quarters)
    est, dr = [], []
    for q in qs:
        months = [m for m in range(3 * q, 3 * q + 3) if m in es.index and m in draws.columns]
        if len(months) < 3:
            raise ValueError(f"event study lacks months {3 * q}..{3 * q + 2} for quarter {q}: shorten the horizon")
        est.append(es[months].mean())
        dr.append(draws[months].mean(axis=1).to_numpy())
    est, dr = np.array(est), np.column_stack(dr)
    ref = list(qs).index(-1)
    return est - est[ref], dr - dr[:, [ref]], qs


def relative_magnitudes(result, mbar=(0.0, 0.5, 1.0, 1.5, 2.0), alpha: float = 0.05, pre_quarters: int = 4,
                        post_quarters: int = 8) -> pd.DataFrame:
    """Identified set and conservative confidence set of the average post-start effect, by M.

    Returns one row per M: ``mbar``, ``estimate`` (average post-start quarterly effect relative to
    the last pre-start quarter), ``set_low``/``set_high`` (identified set at the point
    estimates), ``ci_low``/``ci_high`` and, in ``attrs['breakdown']``, the largest M whose
    confidence set excludes zero.
    """
    beta, draws, qs = _quarterly(result, pre_quarters, post_quarters)
    pre = qs < 0
    post = qs >= 0
    H = int(post.sum())
    cov = np.cov(draws, rowvar=False)
    w = post / H  # average of the post-start quarters
    m = float(w @ beta)
    sd_m = float(np.sqrt(w @ cov @ w))
    # consecutive pre-start changes, ending at the reference quarter (-1, normalised to 0)
    pre_idx = np.flatnonzero(pre)
    diffs = [(pre_idx[k], pre_idx[k + 1]) for k in range(len(pre_idx) - 1)]
    if not diffs:
        raise ValueError("relative magnitudes need at least two pre-start quarters")
    d_hat = np.array([beta[j] - beta[i] for i, j in diffs])
    d_sd = np.array([np.sqrt(max(cov[i, i] + cov[j, j] - 2 * cov[i, j], 0.0)) for i, j in diffs])
    z_m = norm.ppf(1 - alpha / 4)
    z_d = norm.ppf(1 - alpha / (4 * len(diffs)))
    D_hat = float(np.abs(d_hat).max())
    D_hi = float((np.abs(d_hat) + z_d * d_sd).max())
    growth = (H + 1) / 2  # average over the horizon of the largest drift after t+1 steps
    rows = []
    for M in mbar:
        rows.append({"mbar": M, "estimate": m,
                     "set_low": m - M * D_hat * growth, "set_high": m + M * D_hat * growth,
                     "ci_low": m - z_m * sd_m - M * D_hi * growth, "ci_high": m + z_m * sd_m + M * D_hi * growth})
    out = pd.DataFrame(rows)
    slack = abs(m) - z_m * sd_m
    out.attrs["breakdown"] = float(max(slack, 0.0) / (D_hi * growth)) if D_hi > 0 else float("inf")
    out.attrs["largest_pre_change"] = D_hat
    return out
