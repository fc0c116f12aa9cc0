"""Each kind of inference, written once; a method lists the kinds it supports.

Every kind is a module with ``run(req: Request) -> InferenceOutcome`` (``Request``: the method,
the design and its fit, the level, the seed, the event window, the options; in
``analysis.impact.method``) and ``OPTIONS``, the options it reads.
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
