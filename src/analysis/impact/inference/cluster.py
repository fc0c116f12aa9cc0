"""Cluster-robust standard errors by unit, for the methods that are a regression.

With few treated units they are far too small (the calibration shows TWFE's rejecting a true
null several times too often), so no method uses them by default: they are for reference.
"""

from __future__ import annotations

from analysis.impact.method import Method, Request
from analysis.impact.result import InferenceOutcome, InferenceRecord, z_interval

#: options this inference reads
OPTIONS: tuple[str, ...] = ()


def reads(method: Method) -> tuple[str, ...]:
    """The options this inference reads for ``method``."""
    return OPTIONS


NOTE = "Cluster-robust errors over-reject with few treated units: for reference only."


def run(req: Request) -> InferenceOutcome:
    """Normal interval from the method's cluster-robust standard error (``Fit.cluster_se``)."""
    fit = req.fit
    if fit.cluster_se is None:
        raise ValueError(f"{req.method.name} gives no cluster-robust standard error")
    se = float(fit.cluster_se)
    lo, hi, p = z_interval(fit.att, se, req.alpha)
    return InferenceOutcome(
        se=se,
        ci=(lo, hi),
        p_value=p,
        record=InferenceRecord(kind="cluster", label="cluster-robust by unit"),
        event_se=fit.event_se,
        interval_at=lambda a: z_interval(fit.att, se, a)[:2],
        notes=[NOTE],
    )
