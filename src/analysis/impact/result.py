"""What estimation and inference hand each other, and the typed result of ``estimate``.

A deliberate leaf (as diff-diff's results module): it imports nothing from the package, so the
methods, the inferences and the registry all import it and nothing imports in a circle.

- ``Fit``: what a method computes from the outcome matrix and the adoption calendar (the point
  estimate, the event study on the method's scale, the counterfactual);
- ``Draw``: the same statistic for one reassigned or placebo calendar (what inference repeats);
- ``Cells``: observed and counterfactual outcomes of the treated cells, by unit and month, for the
  estimate and for every draw, so effects can be aggregated another way after inference
  (``ImpactResult.aggregate``: by cohort, by months since the start, by calendar year or quarter)
  without re-running it, as R's ``did`` separates ``att_gt`` from ``aggte``;
- ``InferenceRecord``: how the interval and p-value were obtained;
- ``ImpactResult``: the whole estimate, filled once by ``estimate()``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np
import pandas as pd


@dataclass
class Fit:
    """A method's estimate on one calendar.

    Attributes
    ----------
    att : float
        Average effect on the treated cells, in outcome units per treated unit-period.
    event : Series
        Event-study points by period relative to the start (0 = first treated month), on the
        method's event scale (``Method.event_scale``); NaN where no treated unit reaches a period.
    counterfactual : ndarray (N, T), optional
        Expected outcomes without the program (the treated units' rows are the ones used).
    statistic : float, optional
        The estimate as the inference draws compute it, when the method reports another
        computation of the same number (TWFE: the regression's coefficient, while the draws use
        the Frisch-Waugh-Lovell ratio). Defaults to ``att``.
    cluster_se : float, optional
        Cluster-robust standard error (methods that are a regression).
    event_se : Series, optional
        Analytic standard errors of the event-study points (a regression's).
    event_reference : int, optional
        A relative period normalised to zero (TWFE's -1), added to the event study as such.
    notes : list of str
        Caveats of the method a reader must see.
    details : dict
        Method-specific tables (group-time cells, cohort weights, ...), for tests and notebooks.
    """

    att: float
    event: pd.Series
    counterfactual: np.ndarray | None = None
    statistic: float | None = None
    cluster_se: float | None = None
    event_se: pd.Series | None = None
    event_reference: int | None = None
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Draw:
    """A method's statistic on one calendar of an inference's draws.

    ``curve`` is the event study over the requested relative periods (NaN where none);
    ``expected`` the counterfactual of the draw's treated rows (in row order), when the method
    has one: with the draw's outcomes it gives the cell effects of the draw.
    """

    att: float
    curve: np.ndarray | None = None
    expected: np.ndarray | None = None


class Draws(Sequence):
    """The ``Draw`` of many calendars treating the same number of units, computed at once (PPML's
    placebo calendars), kept as the arrays behind them: ``att`` (K,), ``curves`` (K, L) or None,
    ``totals`` (recorded and expected counts over each calendar's treated cells, (K,) each) and
    ``expected`` (K, p, T), the treated rows' counterfactuals, computed on first use (a p-value
    needs only the totals: the calibration's runs never compute them). Indexing gives ``Draw``."""

    def __init__(
        self,
        att: np.ndarray,
        curves: np.ndarray | None,
        totals: tuple[np.ndarray, np.ndarray],
        expected: Callable[[], np.ndarray],
    ):
        self.att, self.curves, self.totals = att, curves, totals
        self._expected: Callable[[], np.ndarray] | np.ndarray = expected

    @property
    def expected(self) -> np.ndarray:
        if callable(self._expected):
            self._expected = self._expected()
        return self._expected

    def __len__(self) -> int:
        return len(self.att)

    @overload
    def __getitem__(self, k: int) -> Draw: ...

    @overload
    def __getitem__(self, k: slice) -> list[Draw]: ...

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        return Draw(
            att=float(self.att[k]), curve=None if self.curves is None else self.curves[k], expected=self.expected[k]
        )


@dataclass
class Cells:
    """Treated cells of the estimate (``draws`` = 1) or of an inference's draws.

    Attributes
    ----------
    start : ndarray (B, R)
        Start (index into the periods) of each of the R treated rows in each draw.
    observed, expected : ndarray (B, R, T)
        Recorded and counterfactual outcomes of those rows.
    """

    start: np.ndarray
    observed: np.ndarray
    expected: np.ndarray

    @property
    def draws(self) -> int:
        return self.start.shape[0]


@dataclass(frozen=True)
class InferenceRecord:
    """How the interval and p-value of an estimate were obtained.

    Attributes
    ----------
    kind : str
        'randomization', 'placebo', 'wild', 'jackknife' or 'cluster'.
    label : str
        What was done, in words (the number of draws and where they were taken).
    n_draws : int
        Draws behind the p-value (0 for analytic inference).
    min_p_value : float
        Smallest p-value the test can give with these draws and this design (0 when it has none:
        normal approximations); a p-value at this floor means "at most".
    draws : ndarray, optional
        Each draw's statistic.
    pool : tuple
        Units the draws were taken among, when the inference restricts them.
    """

    kind: str
    label: str
    n_draws: int = 0
    min_p_value: float = 0.0
    draws: np.ndarray | None = None
    pool: tuple = ()

    def __str__(self) -> str:
        return self.label


@dataclass
class InferenceOutcome:
    """What an inference returns to ``estimate``: the numbers, the record, the event-study
    spread, the cell draws, and how to recompute the interval at another level."""

    se: float
    ci: tuple[float, float]
    p_value: float
    record: InferenceRecord
    event_se: pd.Series | None = None
    event_draws: np.ndarray | None = None
    event_rels: np.ndarray | None = None
    #: the draws' cells, or what computes them when the result asks (``estimate``: ``infer``
    #: alone, as the calibration's runs use it, never does)
    cells: Cells | Callable[[], Cells | None] | None = None
    interval_at: Callable[[float], tuple[float, float]] | None = None
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def normal_quantile(q: float) -> float:
    """The standard normal quantile (``scipy.stats.norm.ppf``, from the standard library:
    importing scipy.stats costs every notebook kernel 2.5 s; a test checks both agree)."""
    from statistics import NormalDist

    return NormalDist().inv_cdf(q)


def normal_sf(x: float) -> float:
    """P(Z > x) for a standard normal Z (``scipy.stats.norm.sf``), from the complementary error
    function, accurate in the far tail."""
    import math

    return 0.5 * math.erfc(x / math.sqrt(2.0))


def z_interval(att: float, se: float, alpha: float) -> tuple[float, float, float]:
    """Normal interval and two-sided p-value."""
    z = normal_quantile(1 - alpha / 2)
    p = float(2 * normal_sf(abs(att / se))) if se > 0 else float("nan")
    return att - z * se, att + z * se, p


#: the groupings ``ImpactResult.aggregate`` knows
AGGREGATIONS = ("overall", "cohort", "event", "year", "quarter")


@dataclass
class ImpactResult:
    """Average effect of the program on the treated sectors, with its inference.

    Attributes
    ----------
    method, outcome : str
        Estimator and outcome column.
    inference : InferenceRecord
        How the interval and p-value were obtained (``str(inference)`` is its label).
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
    n_treated_periods : int
        Treated unit-periods the average runs over.
    event_study : DataFrame
        ``rel_period, estimate, se, ci_low, ci_high`` (relative period 0 = first treated month);
        for a method whose event scale is 'log' the estimate is in percent and the log-scale
        columns ``log_ratio, log_se`` follow.
    event_scale : str
        'level' (outcome units) or 'log' (log of recorded over expected).
    event_draws, event_rels : ndarray, optional
        Each inference draw's event-study curve over ``event_rels`` (the spread behind the
        event-study intervals; the sensitivity analysis takes its covariance).
    counterfactual : DataFrame
        ``unit, period, observed, counterfactual, treated`` for the treated units, when the
        method yields one.
    cells, cell_draws : Cells, optional
        The treated cells of the estimate and of each inference draw (``aggregate``).
    periods : Index
        The panel's periods (for aggregation by calendar year and quarter).
    notes : list of str
        Caveats a reader must see (for example TWFE's bias under staggered timing).
    details : dict
        Method-specific tables (``Fit.details``).

    Notes
    -----
    Percent effects divide by the estimated counterfactual mean of the treated cells,
    ``treated_mean - att``. That is exact for estimators that average over treated cells with
    equal weights (imputation, gardner, ppml, sdid, sc, cs and sa with the default aggregation);
    for TWFE and the cs ``group``/``dynamic`` aggregations, which weight cells differently, it is
    an approximation.
    """

    method: str
    outcome: str
    inference: InferenceRecord
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
    n_treated_periods: int = 0
    alpha: float = 0.05
    event_study: pd.DataFrame = field(default_factory=pd.DataFrame)
    event_scale: str = "level"
    event_draws: np.ndarray | None = None
    event_rels: np.ndarray | None = None
    counterfactual: pd.DataFrame = field(default_factory=pd.DataFrame)
    cells: Cells | None = None
    cell_draws: Cells | None = None
    periods: pd.Index = field(default_factory=lambda: pd.Index([]))
    notes: list[str] = field(default_factory=list)
    units: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    interval_at: Callable[[float], tuple[float, float]] | None = field(default=None, repr=False)

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

    def conf_int(self, level: float | None = None) -> pd.DataFrame:
        """Confidence interval of the effect at ``level`` (default: the estimate's own,
        ``1 - alpha``), as linearmodels gives it: one row, columns ``lower`` and ``upper``.

        Another level is recomputed from the kept draws when the inference allows it
        (randomization, placebo, cluster, jackknife); the wild bootstrap's interval is searched
        for at its level, so asking it for another one is an error that says so."""
        if level is None or np.isclose(level, 1 - self.alpha):
            lo, hi = self.ci_low, self.ci_high
        elif not 0 < level < 1:
            raise ValueError(f"level must be between 0 and 1, not {level!r}")
        elif self.interval_at is None:
            raise ValueError(
                f"this estimate cannot recompute its interval at another level ({self.inference.kind} inference "
                f"keeps no draws for it, or the interval was not computed: ci=False); "
                f"re-run estimate(..., alpha={1 - level:.3g})"
            )
        else:
            lo, hi = self.interval_at(
                round(1 - level, 12)
            )  # 1 - 0.8 is 0.19999999999999996: a p-value of 0.2 would pass
        return pd.DataFrame({"lower": [lo], "upper": [hi]}, index=pd.Index(["att"]))

    def aggregate(self, by: str = "overall", level: float | None = None) -> pd.DataFrame:
        """Effects aggregated over the treated cells another way, with intervals from the spread
        of the same aggregate over the inference's draws (a normal approximation, as the event
        study's; on the log scale for a method whose event scale is 'log').

        Parameters
        ----------
        by : {'overall', 'cohort', 'event', 'year', 'quarter'}
            All treated cells; by start (cohort); by months since the start (the pre-start
            months of the treated units included); by calendar year or quarter.
        level : float, optional
            Confidence level (default ``1 - alpha``).

        Returns
        -------
        DataFrame
            ``group, cells, observed, expected, estimate, percent, se, ci_low, ci_high``: the mean
            effect per treated cell (recorded minus expected) and in percent of the expected
            outcome; the interval is in the estimate's units (percent for a 'log' scale).
        """
        if by not in AGGREGATIONS:
            raise ValueError(f"by={by!r}: aggregate by one of {', '.join(AGGREGATIONS)}")
        if self.cells is None:
            raise ValueError(
                f"method {self.method!r} keeps no cell-level effects (no counterfactual per cell); "
                "aggregate the results of imputation, gardner, ppml, sdid or sc"
            )
        labels, codes = _group_codes(self.cells, by, self.periods)
        obs, exp, n = _group_sums(self.cells, codes, len(labels))
        present = n[0] > 0  # groups the estimate's own cells reach, in their natural order
        obs, exp, n = obs[0, present], exp[0, present], n[0, present]
        keys = [labels[i] for i in np.flatnonzero(present)]
        z = normal_quantile(1 - (self.alpha if level is None else 1 - level) / 2)
        log = self.event_scale == "log"
        with np.errstate(invalid="ignore", divide="ignore"):
            est = np.log(obs / exp) if log else (obs - exp) / n
        spread = np.full(len(keys), np.nan)
        if self.cell_draws is not None and self.cell_draws.draws > 1:
            _, dcodes = _group_codes(self.cell_draws, by, self.periods)
            dobs, dexp, dn = (x[:, present] for x in _group_sums(self.cell_draws, dcodes, len(labels)))
            with np.errstate(invalid="ignore", divide="ignore"):
                vals = np.log(dobs / dexp) if log else (dobs - dexp) / dn
            vals = np.where(np.isfinite(vals) & (dn > 0), vals, np.nan)
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                spread = np.nanstd(vals, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = pd.DataFrame(
                {
                    "group": keys,
                    "cells": n.astype(int),
                    "observed": obs,
                    "expected": exp,
                    "percent": 100 * (obs / exp - 1),
                }
            )
        if log:
            out["estimate"] = 100 * np.expm1(est)
            out["se"] = 100 * np.exp(est) * spread
            out["ci_low"], out["ci_high"] = 100 * np.expm1(est - z * spread), 100 * np.expm1(est + z * spread)
        else:
            out["estimate"], out["se"] = est, spread
            out["ci_low"], out["ci_high"] = est - z * spread, est + z * spread
        return out

    def to_frame(self) -> pd.DataFrame:
        """One tidy row; results of many methods stack with ``pd.concat``."""
        lo, hi = self.ci_percent
        row = {k: getattr(self, k) for k in ("method", "outcome")}
        row["inference"] = self.inference.label
        row["min_p_value"] = self.inference.min_p_value  # the smallest p-value the inference can give
        row.update(
            {
                k: getattr(self, k)
                for k in (
                    "att",
                    "se",
                    "ci_low",
                    "ci_high",
                    "p_value",
                    "treated_mean",
                    "n_treated",
                    "n_control",
                    "n_pre",
                    "n_post",
                )
            }
        )
        row.update(
            alpha=self.alpha,
            units=self.units,
            att_percent=self.att_percent,
            ci_percent_low=lo,
            ci_percent_high=hi,
            counterfactual_mean=self.counterfactual_mean,
            n_treated_periods=self.n_treated_periods,
            notes=" | ".join(self.notes),
        )
        return pd.DataFrame([row])

    def summary(self) -> str:
        """A readable summary in the spirit of linearmodels and pyfixest."""
        lo, hi = self.ci_percent
        lines = [
            f"Impact estimate: {self.method}  outcome: {self.outcome}",
            f"  inference: {self.inference.label}  ({100 * (1 - self.alpha):.0f}% interval)",
            f"  treated units: {self.n_treated}  control units: {self.n_control}  "
            f"pre periods: {self.n_pre}  post periods: {self.n_post}",
            f"  ATT: {self.att:.4f}  s.e. {self.se:.4f}  [{self.ci_low:.4f}, {self.ci_high:.4f}]  p = {self.p_value:.4f}",
            f"  in percent of counterfactual ({self.counterfactual_mean:.3f}): {self.att_percent:.1f}% [{lo:.1f}%, {hi:.1f}%]",
        ]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        """The summary as a small table, for notebooks."""
        import html

        lo, hi = self.ci_percent
        rows = [
            ("Method", self.method),
            ("Outcome", self.outcome),
            ("Inference", self.inference.label),
            ("Effect per treated sector-month", f"{self.att:.4f}"),
            (f"{100 * (1 - self.alpha):.0f}% interval", f"{self.ci_low:.4f} to {self.ci_high:.4f}"),
            ("Effect in percent", f"{self.att_percent:.1f}% ({lo:.1f}% to {hi:.1f}%)"),
            (
                "p-value",
                f"{self.p_value:.4f}"
                + (f" (floor {self.inference.min_p_value:.4f})" if self.inference.min_p_value else ""),
            ),
            ("Treated / comparison units", f"{self.n_treated} / {self.n_control}"),
            ("Treated unit-periods", f"{self.n_treated_periods}"),
        ]
        body = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows
        )
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
        return f"<table>{body}</table>" + (f"<ul>{notes}</ul>" if notes else "")


def _period_labels(periods: pd.Index, by: str) -> list[str]:
    """Each period's calendar year or quarter: from pandas Periods or timestamps; integer
    periods (months counted from 0) in blocks of 12 or 3."""
    if len(periods) and hasattr(periods[0], "year") and hasattr(periods[0], "quarter"):
        return [str(p.year) if by == "year" else f"{p.year}Q{p.quarter}" for p in periods]
    return [str(int(p) // (12 if by == "year" else 3)) for p in periods]


def _group_codes(cells: Cells, by: str, periods: pd.Index) -> tuple[list, np.ndarray]:
    """(labels, codes): every group's label in its natural order (months since the start,
    cohorts and calendar periods in time order), and each cell's group as an index into them
    (-1: a cell before the start, in no group except by months since the start)."""
    B, R, T = cells.observed.shape
    t = np.broadcast_to(np.arange(T)[None, None, :], (B, R, T))
    s = np.broadcast_to(cells.start[:, :, None], (B, R, T))
    post = t >= s
    if by == "event":  # relative periods -(T - 1) .. T - 1
        return list(range(-(T - 1), T)), (t - s) + (T - 1)
    if by == "overall":
        labels, codes = ["all"], np.zeros((B, R, T), dtype=int)
    elif by == "cohort":
        labels, codes = [str(p) for p in periods], s.copy()
    else:
        names = _period_labels(periods, by)
        labels = list(dict.fromkeys(names))  # in time order, each once
        codes = np.broadcast_to(np.array([labels.index(x) for x in names])[None, None, :], (B, R, T))
    return labels, np.where(post, codes, -1)


def _group_sums(cells: Cells, codes: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Observed, expected and cell counts per draw and group: three (B, n_groups) arrays."""
    B = cells.draws
    ok = codes >= 0
    flat = (np.arange(B)[:, None, None] * n_groups + codes)[ok]
    size = B * n_groups
    obs = np.bincount(flat, weights=cells.observed[ok], minlength=size).reshape(B, n_groups)
    exp = np.bincount(flat, weights=cells.expected[ok], minlength=size).reshape(B, n_groups)
    n = np.bincount(flat, minlength=size).reshape(B, n_groups).astype(float)
    return obs, exp, n


def stack(results: list[ImpactResult]) -> pd.DataFrame:
    """Stack results into one tidy table (one row per method x outcome)."""
    return pd.concat([r.to_frame() for r in results], ignore_index=True)


def compare(results: dict[str, ImpactResult] | list[ImpactResult]) -> pd.DataFrame:
    """Results side by side, one column each (linearmodels' ``compare``): effect, interval,
    percent, p-value and its floor, inference and counts."""
    items: list[tuple[str, ImpactResult]] = []
    if isinstance(results, dict):
        items = list(results.items())
    else:  # named by method, outcome and inference; a name that repeats is numbered, never overwritten
        seen: dict[str, int] = {}
        for r in results:
            name = f"{r.method}: {r.outcome} ({r.inference.kind})"
            seen[name] = seen.get(name, 0) + 1
            items.append((name if seen[name] == 1 else f"{name} #{seen[name]}", r))
    cols = {}
    for name, r in items:
        lo, hi = r.ci_percent
        cols[name] = {
            "effect": r.att,
            "ci_low": r.ci_low,
            "ci_high": r.ci_high,
            "percent": r.att_percent,
            "percent_low": lo,
            "percent_high": hi,
            "p_value": r.p_value,
            "p_floor": r.inference.min_p_value,
            "inference": r.inference.kind,
            "draws": r.inference.n_draws,
            "treated": r.n_treated,
            "controls": r.n_control,
            "treated_periods": r.n_treated_periods,
        }
    return pd.DataFrame(cols)
