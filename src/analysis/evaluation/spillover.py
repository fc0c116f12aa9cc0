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

from dataclasses import dataclass

import pandas as pd

from analysis import impact
from analysis.impact import DEFAULT_METHOD, ImpactResult


@dataclass
class SpilloverResult:
    """The main effect without neighbours as controls, and the effect on the neighbours."""

    main: ImpactResult
    exposed: ImpactResult
    exposed_units: list
    excluded_controls: list

    def to_frame(self) -> pd.DataFrame:
        return pd.concat(
            [
                self.main.to_frame().assign(group="treated (neighbours not used as controls)"),
                self.exposed.to_frame().assign(group="neighbours of treated sectors"),
            ],
            ignore_index=True,
        )


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
    """
    method = method or DEFAULT_METHOD
    exp = exposure(panel, adjacency, unit=unit, treat_start=treat_start)
    if exp.empty:
        raise ValueError("no never-treated unit touches a treated unit: nothing to estimate")
    main_panel = panel[~panel[unit].isin(exp.index)]
    main = impact.estimate(main_panel, outcome=outcome, method=method, unit=unit, treat_start=treat_start, **options)

    treated = panel.drop_duplicates(unit).set_index(unit)[treat_start].dropna().index
    ex_panel = panel[~panel[unit].isin(treated)].copy()
    ex_panel[treat_start] = ex_panel[unit].map(exp).astype(panel[treat_start].dtype)
    ex_opts = dict(options)
    m = impact.get_method(method)
    if m.hooks.get("placebo") == "calendars" and "randomization" in m.inferences and "inference" not in ex_opts:
        # neighbours usually outnumber the sectors touching none: too few never-exposed units for
        # placebo calendars among comparable ones, so the exposed group gets the exact reassignment test
        ex_opts["inference"] = "randomization"
    exposed = impact.estimate(ex_panel, outcome=outcome, method=method, unit=unit, treat_start=treat_start, **ex_opts)
    exposed.notes = [
        "Effect on never-treated sectors that touch a treated sector, from their first treated "
        "neighbour's start, against sectors touching none: positive means displacement."
    ] + exposed.notes
    return SpilloverResult(
        main=main, exposed=exposed, exposed_units=sorted(exp.index), excluded_controls=sorted(exp.index)
    )
