"""Each kind of inference, written once; a method lists the kinds it supports.

Every kind is a module with ``run(method, design, fit, *, alpha, seed, rels, options,
method_options) -> InferenceOutcome`` and ``OPTIONS``, the options it reads.
"""

from __future__ import annotations

from types import ModuleType

from analysis.impact.inference import cluster, jackknife, placebo, randomization, wild

#: kind -> module
KINDS: dict[str, ModuleType] = {
    "randomization": randomization,
    "placebo": placebo,
    "wild": wild,
    "jackknife": jackknife,
    "cluster": cluster,
}

__all__ = ["KINDS"]
