"""Does an inference method reject a true null as often as it says? Placebo runs on real data.

On a panel where nothing was treated (for example the real 2013-2015 sector counts, before
the program), ``placebo_size`` repeatedly pretends that a few random units started the
program at a random period, estimates the effect, and records the p-value. A method whose
5 % test rejects far more than 5 % of these true nulls is miscalibrated, whatever library it
comes from. The report shows the resulting rejection rate as the method's calibration.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis import impact


@dataclass
class SizeCheck:
    """Placebo p-values of one method and inference, with the rejection rate."""

    method: str
    inference: str
    alpha: float
    p_values: np.ndarray

    @property
    def rejection_rate(self) -> float:
        return float(np.mean(self.p_values <= self.alpha))

    @property
    def interval(self) -> tuple[float, float]:
        """95 % Wilson interval of the rejection rate."""
        n, k = len(self.p_values), float(np.sum(self.p_values <= self.alpha))
        z = 1.959964
        c = (k + z * z / 2) / (n + z * z)
        h = z * np.sqrt(k * (n - k) / n + z * z / 4) / (n + z * z)
        return float(c - h), float(c + h)

    def to_frame(self) -> pd.DataFrame:
        lo, hi = self.interval
        return pd.DataFrame(
            [
                {
                    "method": self.method,
                    "inference": self.inference,
                    "runs": len(self.p_values),
                    "alpha": self.alpha,
                    "rejection_rate": self.rejection_rate,
                    "rate_ci_low": lo,
                    "rate_ci_high": hi,
                }
            ]
        )


def placebo_size(
    panel: pd.DataFrame,
    *,
    outcome: str,
    method: str,
    inference: str | None = None,
    n_runs: int = 500,
    n_treated: int = 3,
    min_pre: int = 6,
    min_post: int = 3,
    alpha: float = 0.05,
    seed: int = 0,
    unit: str = "unit",
    time: str = "period",
    **options,
) -> SizeCheck:
    """Rejection rate of a true null over placebo adoptions.

    Parameters
    ----------
    panel : DataFrame
        A balanced panel in which no unit is treated (its ``treat_start`` is ignored).
    n_treated : int
        Units given a placebo start in each run.
    min_pre, min_post : int
        The random start leaves at least this many periods before and after it.
    **options
        Passed to ``analysis.impact.estimate`` (for example ``n_perm``).
    """
    rng = np.random.default_rng(seed)
    units = np.sort(panel[unit].unique())
    times = np.sort(panel[time].unique())
    if len(times) < min_pre + min_post:
        raise ValueError(f"the panel has {len(times)} periods; placebo runs need at least {min_pre + min_post}")
    base = panel[[unit, time, outcome]].copy()
    pvals = np.empty(n_runs)
    label = None
    for r in range(n_runs):
        chosen = rng.choice(units, size=n_treated, replace=False)
        k = int(rng.integers(min_pre, len(times) - min_post + 1))
        start = pd.Series({u: times[k] for u in chosen})
        p = base.assign(treat_start=base[unit].map(start))
        if isinstance(times[0], pd.Period):
            p["treat_start"] = p.treat_start.astype(f"period[{times[0].freqstr}]")
        res = impact.estimate(
            p,
            outcome=outcome,
            method=method,
            inference=inference,
            unit=unit,
            time=time,
            alpha=alpha,
            seed=int(rng.integers(2**31)),
            **options,
        )
        pvals[r] = res.p_value
        label = res.inference.label
    return SizeCheck(method=method, inference=label or str(inference), alpha=alpha, p_values=pvals)
