"""Does one sector carry the result? The headline re-estimated without each program sector in turn."""

from __future__ import annotations

import pandas as pd

from analysis import impact


def leave_one_out(
    panel: pd.DataFrame,
    *,
    outcome: str,
    method: str = "ppml",
    seed: int = 0,
    groups: dict | None = None,
    **options,
) -> pd.DataFrame:
    """One row per program sector: the headline's point estimate (percent) with that sector's
    rows removed from the panel. ``options`` go to ``impact.estimate`` (the interval is not
    computed: ``ci=False``; the point estimate does not depend on the inference). ``groups``
    (unit -> sector, a panel by cuadrante) leaves out a whole sector's units at a time; the
    sector's start is its units' first."""
    starts = panel.drop_duplicates("unit").set_index("unit").treat_start.dropna()
    group = starts.index.to_series() if groups is None else starts.index.to_series().map(groups)
    first = starts.groupby(group).min()
    rows = []
    for g in sorted(first.index, key=lambda x: (first[x], x)):
        out = group.index[group == g]
        rest = panel[~panel.unit.isin(out)]
        if rest.treat_start.notna().sum() == 0:
            continue
        r = impact.estimate(rest, outcome=outcome, method=method, seed=seed, ci=False, **options)
        rows.append({"left_out": g, "start": str(first[g]), "percent": r.att_percent})
    return pd.DataFrame(rows, columns=["left_out", "start", "percent"])
