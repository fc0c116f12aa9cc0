"""Spillover and displacement: what happened next door to the treated sectors?

Focused deterrence may push violence into neighbouring sectors (displacement) or calm them too
(diffusion of benefits). Either way, neighbours are poor controls. ``spillover`` therefore

1. removes never-treated sectors that touch a treated sector from the comparison pool and
   re-estimates the main effect without them, and
2. estimates the effect on those neighbours as their own *exposed* group, each exposed from
   the first start among its treated neighbours, against the sectors that touch no treated one.

The adjacency table (``sector``, ``neighbour``) comes from the sector polygons
(``data/processed/adjacency.csv``); this module takes it as data and imports nothing from
``analysis.data``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from analysis import impact
from analysis.impact import DEFAULT_METHOD, ImpactResult
from analysis.impact.inference.placebo import PoolTooSmall

#: the groups of ``SpilloverResult.to_frame`` (column ``group``)
GROUPS = {"main": "treated (neighbours not used as controls)", "exposed": "neighbours of treated sectors"}

#: why a group has no estimate, or another inference than its method's default (``SpilloverResult.notes``;
#: the report words each code in its languages)
NOTES = {
    "no-neighbours": "no sector outside the program touches one of its sectors: nothing to check",
    "no-comparison": "every sector outside the program touches one of its sectors: none is left to compare with",
    "randomization": (
        "fewer comparable sectors outside the program and its neighbours than sectors in the program: no "
        "placebo calendar can be drawn, so the interval and p-value come from the exact reassignment test"
    ),
}


@dataclass
class SpilloverResult:
    """The main effect without neighbours as controls, and the effect on the neighbours; a group
    that cannot be estimated is None, and ``notes`` (by 'main' and 'exposed') says why, or why
    its inference is not the method's default (codes of ``NOTES``)."""

    main: ImpactResult | None
    exposed: ImpactResult | None
    exposed_units: list
    excluded_controls: list
    notes: dict[str, str] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """One row per group (``GROUPS``), with its ``note``; a group without an estimate keeps
        only its name and note."""
        rows = []
        for key, res in (("main", self.main), ("exposed", self.exposed)):
            frame = res.to_frame() if res is not None else pd.DataFrame([{}])
            rows.append(frame.assign(group=GROUPS[key], note=self.notes.get(key, "")))
        return pd.concat(rows, ignore_index=True)


def exposure(
    panel: pd.DataFrame, adjacency: pd.DataFrame, *, unit: str = "unit", treat_start: str = "treat_start"
) -> pd.Series:
    """First exposure period of each never-treated unit that touches a treated unit."""
    starts = panel.drop_duplicates(unit).set_index(unit)[treat_start]
    treated = starts.dropna()
    adj = adjacency[adjacency.iloc[:, 0].isin(treated.index)]
    adj = adj.assign(start=adj.iloc[:, 0].map(treated))
    first = adj.groupby(adj.columns[1]).start.min()
    never = starts[starts.isna()].index
    return first[first.index.isin(never)]


def _estimate(panel: pd.DataFrame, method: str, options: dict, **kw) -> tuple[ImpactResult, str]:
    """The estimate and its note: placebo inference that cannot draw a calendar (fewer comparable
    never-treated units than treated ones) falls back to the exact reassignment test, which
    reassigns among the treated units too and is valid (conservative when effects differ)."""
    m = impact.get_method(method)
    try:
        return impact.estimate(panel, method=method, **kw, **options), ""
    except PoolTooSmall:
        if "inference" in options or "randomization" not in m.inferences:
            raise
        return impact.estimate(panel, method=method, inference="randomization", **kw, **options), "randomization"


def spillover(
    panel: pd.DataFrame,
    adjacency: pd.DataFrame,
    *,
    outcome: str,
    method: str | None = None,
    unit: str = "unit",
    treat_start: str = "treat_start",
    **options,
) -> SpilloverResult:
    """Estimate the main effect without neighbours as controls, and the effect on neighbours.

    Parameters
    ----------
    panel : DataFrame
        Panel in the usual contract.
    adjacency : DataFrame
        Two columns: a sector and a sector that touches it (both directions listed).
    outcome, method, **options
        As for ``analysis.impact.estimate``.

    A group that cannot be estimated is None with its reason in ``notes``: no never-treated
    unit touches a treated one ('no-neighbours'), or every one does, so that no comparison unit
    is left ('no-comparison'). With many treated units (15 of 72 sectors) the units left after
    removing the neighbours may be fewer than the treated ones; the main effect's placebo
    inference then gives way to randomization inference ('randomization').
    """
    method = method or DEFAULT_METHOD
    kw = dict(outcome=outcome, unit=unit, treat_start=treat_start)
    exp = exposure(panel, adjacency, unit=unit, treat_start=treat_start)
    if exp.empty:
        return SpilloverResult(None, None, [], [], notes={"main": "no-neighbours", "exposed": "no-neighbours"})
    starts = panel.drop_duplicates(unit).set_index(unit)[treat_start]
    never = starts[starts.isna()].index
    if never.isin(exp.index).all():
        units = sorted(exp.index)
        return SpilloverResult(None, None, units, units, notes={"main": "no-comparison", "exposed": "no-comparison"})
    notes: dict[str, str] = {}
    main, notes["main"] = _estimate(panel[~panel[unit].isin(exp.index)], method, dict(options), **kw)

    ex_panel = panel[panel[unit].isin(never)].copy()
    ex_panel[treat_start] = ex_panel[unit].map(exp).astype(panel[treat_start].dtype)
    ex_opts = dict(options)
    m = impact.get_method(method)
    if m.hooks.get("placebo") == "calendars" and "randomization" in m.inferences and "inference" not in ex_opts:
        # neighbours usually outnumber the sectors touching none: too few never-exposed units for
        # placebo calendars among comparable ones, so the exposed group gets the exact reassignment test
        ex_opts["inference"] = "randomization"
    exposed, notes["exposed"] = _estimate(ex_panel, method, ex_opts, **kw)
    exposed.notes = [
        "Effect on never-treated sectors that touch a treated sector, from their first treated "
        "neighbour's start, against sectors touching none: positive means displacement."
    ] + exposed.notes
    units = sorted(exp.index)
    return SpilloverResult(
        main=main,
        exposed=exposed,
        exposed_units=units,
        excluded_controls=units,
        notes={k: v for k, v in notes.items() if v},
    )
