"""Cluster-robust standard errors by unit, for the methods that are a regression.

With few treated units they are far too small (the calibration shows TWFE's rejecting a true
null several times too often), so no method uses them by default: they are for reference.
"""

from __future__ import annotations

from analysis.impact.design import Design
from analysis.impact.method import Method
from analysis.impact.result import Fit, InferenceOutcome, InferenceRecord, z_interval

#: options this inference reads
OPTIONS: tuple[str, ...] = ()

NOTE = "Cluster-robust errors over-reject with few treated units: for reference only."


def run(
    method: Method,
    design: Design,
    fit: Fit,
    *,
    alpha: float,
    seed: int,
    rels: list[int] | None,
    options: dict,
    method_options: dict,
) -> InferenceOutcome:
    """Normal interval from the method's cluster-robust standard error (``Fit.cluster_se``)."""
    if fit.cluster_se is None:
        raise ValueError(f"{method.name} gives no cluster-robust standard error")
    se = float(fit.cluster_se)
    lo, hi, p = z_interval(fit.att, se, alpha)
    return InferenceOutcome(
        se=se,
        ci=(lo, hi),
        p_value=p,
        record=InferenceRecord(kind="cluster", label="cluster-robust by unit"),
        event_se=fit.event_se,
        interval_at=lambda a: z_interval(fit.att, se, a)[:2],
        notes=[NOTE],
    )
