"""The common result of every impact estimator."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd


@dataclass
class ImpactResult:
    """Average effect of the program on the treated sectors, with its inference.

    Attributes
    ----------
    method, outcome, inference : str
        Estimator, outcome column and how the interval and p-value were obtained.
    att : float
        Average effect on the treated, in outcome units per treated sector-month.
    se, ci_low, ci_high, p_value : float
        Standard error (or its analogue for the inference used), confidence interval of
        level ``1 - alpha`` and two-sided p-value for "no effect".
    treated_mean : float
        Mean observed outcome in treated sector-months after the start.
    n_treated, n_control, n_pre, n_post : int
        Treated and control units; pre- and post-treatment periods (for staggered
        designs: periods before the first start and from the first start on).
    event_study : DataFrame
        ``rel_period, estimate, ci_low, ci_high`` (relative period 0 = first treated month).
    counterfactual : DataFrame
        ``unit, period, observed, counterfactual`` for the treated units, when the method
        yields one.
    notes : list of str
        Caveats a reader must see (for example TWFE's bias under staggered timing).

    Notes
    -----
    Percent effects divide by the estimated counterfactual mean of the treated cells,
    ``treated_mean - att``. That is exact for estimators that average over treated cells with
    equal weights (imputation, ppml, sdid, sc, cs and sa with the default aggregation); for TWFE
    and the cs ``group``/``dynamic`` aggregations, which weight cells differently, it is an
    approximation.
    """

    method: str
    outcome: str
    inference: str
    att: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    treated_mean: float
    n_treated: int
    n_control: int
    n_pre: int
    n_post: int
    alpha: float = 0.05
    event_study: pd.DataFrame = field(default_factory=pd.DataFrame)
    counterfactual: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: list[str] = field(default_factory=list)
    units: str = ""
    extra: dict = field(default_factory=dict)

    # -- effects as a percent of the counterfactual ------------------------------------
    def _pct(self, effect: float) -> float:
        cf = self.treated_mean - effect
        return float(100 * effect / cf) if cf > 0 else float("nan")

    @property
    def counterfactual_mean(self) -> float:
        """Estimated mean outcome of treated sector-months had the program not run."""
        return self.treated_mean - self.att

    @property
    def att_percent(self) -> float:
        """The effect in percent of the counterfactual mean."""
        return self._pct(self.att)

    @property
    def ci_percent(self) -> tuple[float, float]:
        """Interval bounds in percent of the estimated counterfactual mean (the same denominator
        as ``att_percent``, so the bounds and the point estimate read on one scale)."""
        cf = self.counterfactual_mean
        if cf <= 0:
            return float("nan"), float("nan")
        return float(100 * self.ci_low / cf), float(100 * self.ci_high / cf)

    @property
    def n_treated_periods(self) -> int:
        """Treated unit-periods the average runs over (from the counterfactual paths when present)."""
        if not self.counterfactual.empty and "treated" in self.counterfactual:
            return int(self.counterfactual.treated.sum())
        return self.extra.get("n_treated_periods", 0)

    def to_frame(self) -> pd.DataFrame:
        """One tidy row; results of many methods stack with ``pd.concat``."""
        lo, hi = self.ci_percent
        row = {k: v for k, v in asdict(self).items() if k not in ("event_study", "counterfactual", "notes", "extra")}
        row.update(att_percent=self.att_percent, ci_percent_low=lo, ci_percent_high=hi,
                   counterfactual_mean=self.counterfactual_mean, n_treated_periods=self.n_treated_periods,
                   notes=" | ".join(self.notes))
        return pd.DataFrame([row])

    def summary(self) -> str:
        """A readable summary in the spirit of linearmodels and pyfixest."""
        lo, hi = self.ci_percent
        lines = [
            f"Impact estimate: {self.method}  outcome: {self.outcome}",
            f"  inference: {self.inference}  ({100 * (1 - self.alpha):.0f}% interval)",
            f"  treated units: {self.n_treated}  control units: {self.n_control}  "
            f"pre periods: {self.n_pre}  post periods: {self.n_post}",
            f"  ATT: {self.att:.4f}  s.e. {self.se:.4f}  [{self.ci_low:.4f}, {self.ci_high:.4f}]  p = {self.p_value:.4f}",
            f"  in percent of counterfactual ({self.counterfactual_mean:.3f}): {self.att_percent:.1f}% [{lo:.1f}%, {hi:.1f}%]",
        ]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:  # pragma: no cover - cosmetic
        return self.summary()


def stack(results: list[ImpactResult]) -> pd.DataFrame:
    """Stack results into one tidy table (one row per method x outcome)."""
    return pd.concat([r.to_frame() for r in results], ignore_index=True)


def z_interval(att: float, se: float, alpha: float) -> tuple[float, float, float]:
    """Normal interval and two-sided p-value."""
    from scipy.stats import norm

    z = norm.ppf(1 - alpha / 2)
    p = float(2 * norm.sf(abs(att / se))) if se > 0 else float("nan")
    return att - z * se, att + z * se, p


__all__ = ["ImpactResult", "stack", "z_interval", "np"]
