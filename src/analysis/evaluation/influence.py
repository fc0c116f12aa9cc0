"""Does one sector carry the result? The headline re-estimated without each program sector in turn."""

from __future__ import annotations

import pandas as pd

from analysis import impact


def leave_one_out(panel: pd.DataFrame, *, outcome: str, method: str = "ppml", seed: int = 0, **options) -> pd.DataFrame:
    """One row per program sector: the headline's point estimate (percent) with that sector's
    rows removed from the panel. ``options`` go to ``impact.estimate`` (the interval is not
    computed: ``ci=False``; the point estimate does not depend on the inference)."""
    starts = panel.drop_duplicates("unit").set_index("unit").treat_start.dropna()
    rows = []
    for u in sorted(starts.index, key=lambda x: (starts[x], x)):
        rest = panel[panel.unit != u]
        if rest.treat_start.notna().sum() == 0:
            continue
        r = impact.estimate(rest, outcome=outcome, method=method, seed=seed, ci=False, **options)
        rows.append({"left_out": u, "start": str(starts[u]), "percent": r.att_percent})
    return pd.DataFrame(rows, columns=["left_out", "start", "percent"])
