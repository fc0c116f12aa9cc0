"""Statistical disclosure control: no count from 1 to 4 can be worked out from a public output.

A published number discloses a small count when a reader can get from it, alone or with
other published numbers, the number of victims (1 to 4) in some set of sector-months. The
ways a reader does it, and so the rules here:

- *primary*: a published total, or a mean times the number of sector-months it averages over
  (an estimate's recorded mean, its effect plus its counterfactual), of 1 to 4;
- *differences*: two published totals over nested sets of sector-months whose difference is 1
  to 4 (a sector's first 12 months against its whole time in the program);
- *complements*: published totals over disjoint sets inside a larger published total, whose
  remainder is 1 to 4 (the program's total less every sector shown but one).

``find_disclosures`` plays that reader over a list of published aggregates; the report's
tables and texts are built so that it finds nothing (``hidden_sectors``, ``suppress_cells``), the
build refuses to publish when it finds something (``analysis.report.build``), and the tests
run it on the files a build publishes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: counts from SMALL_MIN to SMALL_MAX are never published, nor anything they can be worked out from
SMALL_MIN, SMALL_MAX = 1, 4


#: the edition being built: "public" (the default) suppresses, "internal" shows every count
#: (the CONFIDENTIAL edition, never published: ``analysis.report.build``, EDITION=internal)
EDITION = {"name": "public"}


def set_edition(edition: str) -> None:
    """Set the edition of this process (a notebook's ``edition`` parameter)."""
    if edition not in ("public", "internal"):
        raise ValueError(f"edition {edition!r} is not available: use public or internal")
    EDITION["name"] = edition


def is_small(total: float) -> bool:
    """True for a count of 1 to 4 (totals recovered as mean x cells carry float error); never
    in the internal edition, which shows every count."""
    if EDITION["name"] == "internal":
        return False
    t = float(np.round(total, 6))
    return SMALL_MIN - 1e-6 <= t <= SMALL_MAX + 1e-6


def recorded_total(estimate) -> float:
    """The recorded victims an estimate reveals: its recorded mean times the sector-months it
    averages over (an ImpactResult or a row of a results file)."""
    return estimate.treated_mean * estimate.n_treated_periods


@dataclass(frozen=True)
class Aggregate:
    """A published number that is (or reveals) a total of victims over a set of sector-months."""

    label: str
    cells: frozenset  # of (unit, month ordinal)
    total: float


def cells_of(panel: pd.DataFrame, units, first=None, last=None, from_start: bool = False) -> frozenset:
    """The (unit, month) cells of ``units`` between ``first`` and ``last`` (Periods, inclusive);
    with ``from_start`` each unit's cells begin at its own ``treat_start``."""
    ix = _cell_index(panel)
    keep = np.isin(ix.code, [ix.code_of[u] for u in units if u in ix.code_of])
    if first is not None:
        keep &= ix.ordinal >= _month(first)
    if last is not None:
        keep &= ix.ordinal <= _month(last)
    if from_start:
        keep &= ix.started
    return frozenset(zip(ix.unit[keep].tolist(), ix.ordinal[keep].tolist()))


def _month(p) -> int:
    """A bound's month ordinal (the panel's periods are months)."""
    if getattr(p, "freqstr", "M") != "M":
        raise ValueError(f"{p!r} is not a month: the panel's cells are months")
    return int(p.ordinal)


def _ordinals(period: pd.Series) -> np.ndarray:
    """Month ordinals of a period column, without boxing each value (on 864 cuadrantes the
    boxing took 90 of a notebook's seconds)."""
    if isinstance(period.dtype, pd.PeriodDtype):
        return np.asarray(period.array.asi8)
    return np.array([x.ordinal for x in period], dtype=np.int64)


def total_of(panel: pd.DataFrame, outcome: str, cells: frozenset) -> float:
    if not cells:
        return 0.0
    rows = _cell_index(panel).row
    at = np.sort([rows[c] for c in cells if c in rows])  # the panel's order: the same sum as a mask
    return float(panel[outcome].to_numpy()[at].sum())


@dataclass
class _CellIndex:
    """Where each (unit, month) cell of a panel is: the report asks for hundreds of totals and
    cell sets of the same panel (the sector table alone took 1.6 s rebuilding this each time)."""

    panel: Callable[[], object]  # a weak reference to the panel
    unit: np.ndarray  # each row's unit (object)
    code: np.ndarray  # each row's unit as an integer (isin on objects is slow with 850 units)
    code_of: dict  # unit -> code
    ordinal: np.ndarray  # each row's month ordinal
    started: np.ndarray  # each row is in its unit's program months
    row: dict  # (unit, ordinal) -> row position (the last, should a cell repeat)


_CELL_INDEX: dict[int, _CellIndex] = {}


def _started(panel: pd.DataFrame, ordinal: np.ndarray) -> np.ndarray:
    """Each row is in its unit's program months (from its ``treat_start`` on)."""
    ts = panel.treat_start
    if isinstance(ts.dtype, pd.PeriodDtype) and isinstance(panel.period.dtype, pd.PeriodDtype):
        start = np.asarray(ts.array.asi8)
        return (start != np.iinfo(np.int64).min) & (ordinal >= start)  # NaT is the smallest int64
    return (ts.notna() & (panel.period >= ts)).to_numpy()


def _cell_index(panel: pd.DataFrame) -> _CellIndex:
    """The panel's ``_CellIndex``, kept while the panel lives and its months and starts are
    those it was made from (a panel sorted or given other starts in place is indexed again)."""
    import weakref

    key = id(panel)
    ordinal = _ordinals(panel.period)
    started = _started(panel, ordinal)
    got = _CELL_INDEX.get(key)
    if (
        got is not None
        and len(got.ordinal) == len(panel)
        and got.panel() is panel
        and np.array_equal(got.ordinal, ordinal)
        and np.array_equal(got.started, started)
    ):
        return got

    def forget(_ref: object) -> None:
        _CELL_INDEX.pop(key, None)

    unit = panel.unit.to_numpy(dtype=object)
    code, uniques = pd.factorize(unit)
    ix = _CellIndex(
        panel=weakref.ref(panel, forget),
        unit=unit,
        code=code,
        code_of={u: i for i, u in enumerate(uniques.tolist())},
        ordinal=ordinal,
        started=started,
        row={c: i for i, c in enumerate(zip(unit.tolist(), ordinal.tolist()))},
    )
    _CELL_INDEX[key] = ix
    return ix


def find_leaks(aggs: list[Aggregate]) -> list[tuple[str, list[Aggregate]]]:
    """Every way a reader recovers a count from 1 to 4 from ``aggs``: (what, the aggregates used)."""
    out = []
    for a in aggs:
        if is_small(a.total):
            out.append((f"{a.label}: total {a.total:g}", [a]))
    for b in aggs:
        subs = [a for a in aggs if a is not b and a.cells < b.cells]
        for a in subs:
            if is_small(b.total - a.total):
                out.append((f"{b.label} minus {a.label}: {b.total - a.total:g}", [b, a]))
        # the remainder after published disjoint parts inside b: every part that fits, largest
        # first, and also the family without each one of them (a reader tries those too)
        families = []
        base: list = []
        used: frozenset = frozenset()
        for a in sorted(subs, key=lambda x: -len(x.cells)):
            if not (a.cells & used):
                base.append(a)
                used |= a.cells
        families.append(base)
        for drop in base:
            fam, used = [], frozenset()
            for a in sorted((x for x in subs if x is not drop), key=lambda x: -len(x.cells)):
                if not (a.cells & used):
                    fam.append(a)
                    used |= a.cells
            families.append(fam)
        for fam in families:
            covered = frozenset().union(*(a.cells for a in fam)) if fam else frozenset()
            if len(fam) > 1 and covered != b.cells:
                rest = b.total - sum(a.total for a in fam)
                if is_small(rest):
                    out.append((f"{b.label} minus {', '.join(a.label for a in fam)}: {rest:g}", [b, *fam]))
    return out


def find_disclosures(aggs: list[Aggregate]) -> list[str]:
    """Every way a reader recovers a count from 1 to 4 from ``aggs``: one line each."""
    return [what for what, _ in find_leaks(aggs)]


def suppress_cells(fixed: list[Aggregate], cells: list[Aggregate]) -> dict[str, str]:
    """Which of ``cells`` (table counts) to hide so that nothing in ``fixed`` + the cells shown
    gives a count from 1 to 4 away: counts of 1 to 4 read '<5', then, while a reader still finds
    one, a table count used to find it reads 'n/p' (the smallest such count first). ``fixed``
    (published estimates) are never hidden here. Returns {label: '<5' or 'n/p'}."""
    hide = {c.label: "<5" for c in cells if is_small(c.total)}
    while True:
        shown = [c for c in cells if c.label not in hide]
        leaks = find_leaks(fixed + shown)
        if not leaks:
            return hide
        movable = [a for _, used in leaks for a in used if a in shown]
        if not movable:
            return hide  # only published estimates are involved: hidden_sectors deals with those
        pick = min(movable, key=lambda a: (len(a.cells), a.label))
        hide[pick.label] = "n/p"


def sector_totals(panel: pd.DataFrame, outcome: str) -> pd.Series:
    """Victims in each treated sector over its months in the program (as the panel is cut)."""
    t = panel[panel.treat_start.notna() & (panel.period >= panel.treat_start)]
    return t.groupby("unit")[outcome].sum().astype(float)


def hidden_sectors(panel: pd.DataFrame, outcome: str) -> dict[str, str]:
    """Treated sectors whose estimates may not be published, with the reason.

    Primary: 1 to 4 victims over the sector's months in the program. Secondary: while the
    hidden sectors together hold 1 to 4 victims (the program's total less the sectors shown
    would give it away), the shown sector with the fewest victims (more than zero) is hidden too.
    Every notebook computes this from the same panel, so they all hide the same sectors.
    """
    tot = sector_totals(panel, outcome)
    hidden = {u: "primary" for u, v in tot.items() if is_small(v)}
    while hidden and is_small(sum(tot[u] for u in hidden)):
        rest = tot[[u for u in tot.index if u not in hidden and tot[u] > 0]].sort_values(kind="stable")
        if rest.empty:
            break
        hidden[rest.index[0]] = "secondary"
    return hidden


def published_aggregates(
    results_dir, panel: pd.DataFrame, sectors: list[str], stems: dict[str, str]
) -> tuple[list[Aggregate], list[str]]:
    """What a reader recovers from the results files of a build: for each published estimate,
    its recorded victims (mean times sector-months) with the cells they cover. Returns the
    aggregates whose cells are known and labels of primary-only totals (cells not rebuilt here)
    that are already small."""
    from pathlib import Path

    results_dir = Path(results_dir)
    aggs: list[Aggregate] = []
    small_only: list[str] = []
    program_cells = cells_of(panel, panel.loc[panel.treat_start.notna(), "unit"].unique(), from_start=True)

    def rows(name):
        f = results_dir / name
        if not f.exists():
            return pd.DataFrame()
        t = pd.read_csv(f)
        if "suppressed" in t:
            t = t[~t.suppressed.astype(bool)]
        return t[t.treated_mean.notna()] if "treated_mean" in t else t.iloc[0:0]

    for r in rows("program.csv").itertuples():
        aggs.append(Aggregate(f"program.csv {r.method}", program_cells, recorded_total(r)))
    for s in sectors:
        for r in rows(f"sector_{stems[s]}.csv").itertuples():
            aggs.append(Aggregate(f"sector_{stems[s]}.csv", cells_of(panel, [s], from_start=True), recorded_total(r)))
    for r in rows("spillover.csv").itertuples():
        total = recorded_total(r)
        if not np.isfinite(total):  # a group that could not be estimated (its note says why)
            continue
        if str(getattr(r, "group", "")).startswith("treated"):
            aggs.append(Aggregate("spillover.csv (program sectors)", program_cells, total))
        elif is_small(total):
            small_only.append(f"spillover.csv row {r.Index + 1}: total {total:g}")
    aggs += window_aggregates(results_dir, panel)
    return aggs, small_only


def window_aggregates(results_dir, panel: pd.DataFrame) -> list[Aggregate]:
    """The program's recorded victims over calendar windows and cohorts that ``trend.csv``,
    ``quarters.csv`` and ``cohorts.csv`` publish (their ``observed`` column; withheld rows are
    blank), with the sector-months each covers."""
    from pathlib import Path

    results_dir = Path(results_dir)
    treated = panel.loc[panel.treat_start.notna(), "unit"].unique()
    out: list[Aggregate] = []

    def shown(name):
        f = results_dir / name
        if not f.exists():
            return pd.DataFrame()
        t = pd.read_csv(f)
        return t[t.observed.notna()] if "observed" in t else t.iloc[0:0]

    for r in shown("trend.csv").itertuples():
        c = cells_of(panel, treated, pd.Period(r.first, "M"), pd.Period(r.last, "M"), from_start=True)
        out.append(Aggregate(f"trend.csv {r.label}", c, float(r.observed)))
    for r in shown("quarters.csv").itertuples():
        q = pd.Period(r.group, "Q")
        c = cells_of(panel, treated, q.asfreq("M", "start"), q.asfreq("M", "end"), from_start=True)
        out.append(Aggregate(f"quarters.csv {r.group}", c, float(r.observed)))
    starts = panel.drop_duplicates("unit").set_index("unit").treat_start.dropna()
    for r in shown("cohorts.csv").itertuples():
        units = list(starts.index[starts.astype(str) == str(r.group)])
        out.append(Aggregate(f"cohorts.csv {r.group}", cells_of(panel, units, from_start=True), float(r.observed)))
    f = results_dir / "rates.csv"
    if f.exists():
        t = pd.read_csv(f)
        t = t[(t.row == "program_before") & t.victims.notna()] if "row" in t else t.iloc[0:0]
        before = (
            frozenset().union(*[cells_of(panel, [u], s - 12, s - 1) for u, s in starts.items()])
            if len(starts)
            else frozenset()
        )
        out += [Aggregate("rates.csv program_before", before, float(v)) for v in t.victims]
    return out


def check_published(
    results_dir, panel: pd.DataFrame, sectors: list[str], stems: dict[str, str], tables: Sequence[Aggregate] = ()
) -> list[str]:
    """Every small count a reader can recover from the results files of a build and the counts
    its tables show (``tables``; empty: none)."""
    aggs, small = published_aggregates(results_dir, panel, sectors, stems)
    aggs = aggs + list(tables)
    # one aggregate per distinct cell set and total (the same total in several files adds nothing)
    seen, uniq = set(), []
    for a in aggs:
        k = (a.cells, round(a.total, 6))
        if k not in seen:
            seen.add(k)
            uniq.append(a)
    return small + find_disclosures(uniq)
