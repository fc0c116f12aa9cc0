"""The effect over calendar time: this quarter, the last four quarters, each year, since the start.

Every number is an aggregate of the headline estimate's own treated cells (recorded and expected
victims per sector-month), and its interval comes from the same aggregate over the headline's
inference draws (``ImpactResult.aggregate``, as ``did::aggte`` after ``att_gt``): nothing is
re-estimated, so the rows add up to the headline.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from analysis.impact.result import Cells, ImpactResult, _group_sums


def _window_codes(cells: Cells, first: int, last: int) -> np.ndarray:
    """Group code 0 for the treated cells (after each row's start) in periods first..last."""
    B, R, T = cells.observed.shape
    t = np.broadcast_to(np.arange(T)[None, None, :], (B, R, T))
    s = np.broadcast_to(cells.start[:, :, None], (B, R, T))
    return np.where((t >= s) & (t >= first) & (t <= last), 0, -1)


def window_effect(result: ImpactResult, first: int, last: int, level: float | None = None) -> dict:
    """The effect over the treated cells in periods ``first..last`` (indices into
    ``result.periods``): recorded, expected, percent, its interval and the victims averted."""
    if result.cells is None:
        raise ValueError(f"method {result.method!r} keeps no cell-level effects")
    obs, exp, n = (x[0, 0] for x in _group_sums(result.cells, _window_codes(result.cells, first, last), 1))
    z = norm.ppf(1 - (result.alpha if level is None else 1 - level) / 2)
    log = result.event_scale == "log"
    spread = np.nan
    if result.cell_draws is not None and result.cell_draws.draws > 1:
        d_obs, d_exp, d_n = (
            x[:, 0] for x in _group_sums(result.cell_draws, _window_codes(result.cell_draws, first, last), 1)
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            vals = np.log(d_obs / d_exp) if log else (d_obs - d_exp) / d_n
        vals = vals[np.isfinite(vals) & (d_n > 0)]
        spread = float(np.std(vals)) if len(vals) > 1 else np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        if log:
            est = np.log(obs / exp)
            pct, lo, hi = (100 * np.expm1(est + k * z * spread) for k in (0, -1, 1))
        else:  # additive: the interval of the mean effect, in percent of the expected mean
            est = (obs - exp) / n
            pct, lo, hi = (100 * (est + k * z * spread) / (exp / n) for k in (0, -1, 1))
    # victims averted: the expected victims without the program less those recorded; its interval
    # is the percent interval applied to the expected victims (-effect x expected), as the
    # headline's (the same convention everywhere in the report)
    averted = exp - obs
    av_lo, av_hi = averted_interval(exp, lo, hi)
    return {
        "cells": int(n),
        "observed": float(obs),
        "expected": float(exp),
        "percent": float(pct),
        "ci_low": float(lo),
        "ci_high": float(hi),
        "averted": float(averted),
        "averted_low": float(av_lo),
        "averted_high": float(av_hi),
    }


def averted_interval(expected: float, low: float, high: float) -> tuple[float, float]:
    """Victims averted at the ends of a percent interval: -effect x expected (low, high)."""
    return -high / 100 * expected, -low / 100 * expected


def trend_table(result: ImpactResult) -> pd.DataFrame:
    """Rows: the last quarter of the panel, the last four quarters, each calendar year with
    treated months, and the whole time since the start; ``window, first, last`` name them."""
    periods = pd.PeriodIndex(result.periods)
    T = len(periods)
    q = periods.asfreq("Q")
    last_q = q[-1]
    rows = []

    def add(kind: str, label: str, mask: np.ndarray) -> None:
        idx = np.flatnonzero(mask)
        if not len(idx):
            return
        eff = window_effect(result, int(idx[0]), int(idx[-1]))
        if eff["cells"]:
            rows.append(
                {"window": kind, "label": label, "first": str(periods[idx[0]]), "last": str(periods[idx[-1]]), **eff}
            )

    add("quarter", str(last_q), np.asarray(q == last_q))
    four = np.asarray(q > last_q - 4)
    add("four_quarters", f"{last_q - 3} to {last_q}", four)
    for y in sorted(set(periods.year)):
        add("year", str(y), np.asarray(periods.year == y))
    add("cumulative", "since the start", np.ones(T, bool))
    return pd.DataFrame(rows)


def by_quarter(result: ImpactResult) -> pd.DataFrame:
    """The effect in each calendar quarter (``ImpactResult.aggregate('quarter')``)."""
    return result.aggregate("quarter")
