"""The event-study table of a result, from a method's points and an inference's spread."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.impact.result import Fit, normal_quantile


def draw_spread(curves: np.ndarray) -> np.ndarray:
    """Standard deviation of each column of ``curves`` (draws x points) over the draws that
    reach it; a point no draw reaches has none (NaN, without a warning)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanstd(curves, axis=0)


def event_table(
    fit: Fit, se: pd.Series | None, scale: str, alpha: float, window: tuple[int, int] | None
) -> pd.DataFrame:
    """``rel_period, estimate, se, ci_low, ci_high`` for the points of ``fit.event`` that exist and
    lie in ``window``; intervals are the estimate plus or minus z standard errors (the spread of
    the point over the inference's draws, or a regression's analytic errors; NaN when the
    inference gives neither). On the 'log' scale the interval is formed on the log of recorded
    over expected and shown in percent, with the log columns ``log_ratio, log_se`` kept."""
    if window is None or fit.event.empty:
        return pd.DataFrame()
    z = normal_quantile(1 - alpha / 2)
    ev = fit.event
    sd = (se.reindex(ev.index) if se is not None else pd.Series(np.nan, index=ev.index)).to_numpy()
    keep = np.isfinite(ev.to_numpy()) & (ev.index >= window[0]) & (ev.index <= window[1])
    if scale == "log":
        es = pd.DataFrame({"rel_period": ev.index[keep], "log_ratio": ev.to_numpy()[keep], "log_se": sd[keep]})
        es["estimate"] = 100 * np.expm1(es.log_ratio)
        es["se"] = 100 * np.exp(es.log_ratio) * es.log_se  # delta method, for reference
        es["ci_low"] = 100 * np.expm1(es.log_ratio - z * es.log_se)
        es["ci_high"] = 100 * np.expm1(es.log_ratio + z * es.log_se)
        return es[["rel_period", "estimate", "se", "ci_low", "ci_high", "log_ratio", "log_se"]]
    es = pd.DataFrame({"rel_period": ev.index[keep].astype(int), "estimate": ev.to_numpy()[keep], "se": sd[keep]})
    es["ci_low"], es["ci_high"] = es.estimate - z * es.se, es.estimate + z * es.se
    if fit.event_reference is not None:  # the normalised period, zero by construction
        ref = pd.DataFrame(
            {"rel_period": [fit.event_reference], "estimate": [0.0], "se": [0.0], "ci_low": [0.0], "ci_high": [0.0]}
        )
        es = pd.concat([es, ref]).sort_values("rel_period")
    return es.reset_index(drop=True)
