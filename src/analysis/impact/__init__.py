"""Impact estimates behind one entry point, ``estimate``.

Layout (estimation apart from inference, as pyfixest and linearmodels do):

- ``design``: a panel as matrices; ``result``: the typed results (a leaf);
- one module per method (``ppml``, ``imputation``, ``gardner``, ``cs``, ``sdid``, ``twfe``), each
  a statistic of the outcome matrix and the adoption calendar declared as a ``Method``;
- ``inference``: each kind of inference written once (randomization, placebo, wild, jackknife,
  cluster);
- ``registry``: the methods by name; ``api``: ``estimate`` (and ``infer``, its fit and inference
  on a design already made).

This package imports neither ``analysis.data`` nor ``analysis.report``: it works on any panel
in the architecture's contract (``unit``, ``period``, outcome columns, ``treat_start``). What
calls ``estimate`` (calibration, power, spillover, sensitivity) lives above it, in
``analysis.evaluation``.
"""

from __future__ import annotations

from analysis.impact.api import EVENT_WINDOW, estimate, for_unit, infer
from analysis.impact.design import Design, make_design
from analysis.impact.registry import DEFAULT_METHOD, REGISTRY, get_method
from analysis.impact.result import ImpactResult, InferenceRecord, compare, stack

__all__ = [
    "DEFAULT_METHOD",
    "EVENT_WINDOW",
    "REGISTRY",
    "Design",
    "ImpactResult",
    "InferenceRecord",
    "compare",
    "estimate",
    "for_unit",
    "get_method",
    "infer",
    "make_design",
    "stack",
]
