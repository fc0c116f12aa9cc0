"""``estimate``: a registered method's fit, the inference asked for, one typed result."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.impact.design import Design, make_design
from analysis.impact.event import event_table
from analysis.impact.inference import KINDS
from analysis.impact.method import COMMON_OPTIONS, Method, Request
from analysis.impact.registry import DEFAULT_METHOD, get_method
from analysis.impact.result import Cells, Fit, ImpactResult, InferenceOutcome

#: the event-study window every method uses unless told otherwise (months relative to the start)
EVENT_WINDOW = (-12, 24)


def estimate(
    panel: pd.DataFrame,
    *,
    outcome: str = "shootings",
    method: str = DEFAULT_METHOD,
    unit: str = "unit",
    time: str = "period",
    treat_start: str = "treat_start",
    inference: str | None = None,
    alpha: float = 0.05,
    seed: int = 0,
    **options,
) -> ImpactResult:
    """Estimate the program's average effect on the treated units.

    Parameters
    ----------
    panel : DataFrame
        Long panel, one row per unit and period; ``treat_start`` is the first treated period
        (missing for never-treated units). Must be balanced.
    outcome : str
        Outcome column.
    method : str
        A registered method (``analysis.impact.REGISTRY``): 'ppml' (Poisson imputation for counts,
        percent effects; Wooldridge 2023), 'imputation' (Borusyak, Jaravel and Spiess 2024),
        'gardner' (two-stage DiD), 'cs' (Callaway and Sant'Anna 2021), 'sa' (Sun and Abraham
        2021), 'sdid' (synthetic difference-in-differences), 'sc' (synthetic control), 'twfe'
        (two-way fixed effects with event study).
    unit, time, treat_start : str
        Column names.
    inference : str, optional
        One of the method's ``inferences`` ('randomization', 'placebo', 'wild', 'jackknife',
        'cluster'); default: the method's honest default.
    alpha : float
        1 - confidence level of the interval.
    seed : int
        Seed of the draws: same inputs and seed, same numbers.
    **options
        ``event_window``; the method's own options (``Method.options``); the inference's
        (``n_perm``, ``n_placebo``, ``n_boot``, ``boot_weights``, ``pool``, ``placebo_pool``,
        ``ci``). An option neither reads is an error that lists those that are read.

    Returns
    -------
    ImpactResult

    Examples
    --------
    >>> res = estimate(panel, outcome="shootings", method="sdid")   # doctest: +SKIP
    >>> print(res.summary()); res.to_frame(); res.aggregate("quarter")  # doctest: +SKIP
    """
    plan = _plan(method, inference, options)  # a bad method or option stops before any work
    design = make_design(panel, outcome, unit=unit, time=time, treat_start=treat_start)
    fit, out = _run(plan, design, alpha, seed)
    m, window = plan.method, plan.window

    Y, start = design.Y, design.start
    T = Y.shape[1]
    tr = np.flatnonzero(start >= 0)
    cf = pd.DataFrame()
    cells = None
    if fit.counterfactual is not None:
        D = design.D.astype(bool)
        cf = pd.DataFrame(
            {
                "unit": np.repeat(design.units[tr].to_numpy(), T),
                "period": np.tile(design.times.to_numpy(), len(tr)),
                "observed": Y[tr].ravel(),
                "counterfactual": fit.counterfactual[tr].ravel(),
                "treated": D[tr].ravel(),
            }
        )
        cells = Cells(start=start[tr][None], observed=Y[tr][None], expected=fit.counterfactual[tr][None])
    return ImpactResult(
        method=m.name,
        outcome=outcome,
        inference=out.record,
        att=fit.att,
        se=out.se,
        ci_low=out.ci[0],
        ci_high=out.ci[1],
        p_value=out.p_value,
        treated_mean=design.treated_mean(),
        n_treated=len(tr),
        n_control=int((start < 0).sum()),
        n_pre=design.n_pre,
        n_post=design.n_post,
        n_treated_periods=int(design.D.sum()),
        alpha=alpha,
        event_study=event_table(fit, out.event_se, m.event_scale, alpha, window),
        event_scale=m.event_scale,
        event_draws=out.event_draws,
        event_rels=out.event_rels,
        counterfactual=cf,
        cells=cells,
        cell_draws=out.cells() if callable(out.cells) else out.cells,
        periods=design.times,
        notes=fit.notes + out.notes,
        units=unit,
        details={**fit.details, **out.details},
        interval_at=out.interval_at,
    )


@dataclass(frozen=True)
class _Plan:
    """A method, its inference and the options each reads, checked before any work."""

    method: Method
    kind: str
    window: tuple[int, int] | None
    method_options: dict
    inference_options: dict


def _plan(method: str, inference: str | None, options: dict) -> _Plan:
    m = get_method(method)
    kind = inference or m.default_inference
    m.check_inference(kind)
    # an option nothing reads is an error, never silently ignored
    reads = KINDS[kind].reads(m)
    known = set(COMMON_OPTIONS) | set(m.options) | set(reads)
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(
            f"{method} with {kind} inference does not take option(s) {', '.join(unknown)}; "
            f"it takes: {', '.join(sorted(known))}"
        )
    return _Plan(
        method=m,
        kind=kind,
        window=options.get("event_window", EVENT_WINDOW),
        method_options={k: options[k] for k in m.options if k in options},
        inference_options={**m.defaults, **{k: v for k, v in options.items() if k in reads}},
    )


def _run(plan: _Plan, design: Design, alpha: float, seed: int) -> tuple[Fit, InferenceOutcome]:
    m, window = plan.method, plan.window
    fit = m.fit(design, event_window=window, **plan.method_options)
    rels = None if window is None else list(range(window[0], window[1] + 1))
    out = KINDS[plan.kind].run(
        Request(m, design, fit, alpha, seed, rels, options=plan.inference_options, method_options=plan.method_options)
    )
    return fit, out


def infer(
    design: Design,
    *,
    method: str = DEFAULT_METHOD,
    inference: str | None = None,
    alpha: float = 0.05,
    seed: int = 0,
    **options,
) -> tuple[Fit, InferenceOutcome]:
    """``estimate``'s fit and inference on a design already made, without the ``ImpactResult``
    around them: for work that needs only the p-value of many designs of one panel (the
    calibration's placebo runs turn the panel into matrices once, not once per run). The
    numbers are ``estimate``'s (a test); the options are its options."""
    return _run(_plan(method, inference, options), design, alpha, seed)


def for_unit(panel: pd.DataFrame, unit_id, *, unit: str = "unit", treat_start: str = "treat_start") -> pd.DataFrame:
    """The panel restricted to one treated unit and the never-treated units (its comparison pool)."""
    keep = (panel[unit] == unit_id) | panel[treat_start].isna()
    if not (panel[unit] == unit_id).any():
        raise ValueError(f"unit {unit_id!r} is not in the panel")
    return panel[keep]
