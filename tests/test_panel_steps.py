"""``build_panel`` is its steps in order; each can be called and checked on its own."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.data import panel as P
from analysis.data.geography import read_geography


@pytest.fixture(scope="module")
def steps(demo_dir):
    files = [demo_dir / "incidents" / "victimas_fgj_demo.csv"]
    geo = read_geography(demo_dir / "geography" / "sectores_demo.geojson")
    rows = P.read(files)
    n_in = len(rows.rec)
    assert rows.used.all() and n_in > 0  # nothing set aside before the checks run
    window = P.screen(rows, build_date="2026-11-01", files=str(files[0]))
    after_screen = rows.code.copy()
    loc = P.locate_rows(rows, geo)
    panel, rollout = P.aggregate(rows, loc, geo, window, demo_dir / "program" / "rollout.csv")
    audit = P.audit(rows, loc, geo, window, panel, rollout, priority="point")
    return dict(files=files, geo=geo, rows=rows, window=window, after_screen=after_screen, loc=loc, panel=panel,
                rollout=rollout, audit=audit, n_in=n_in)


def test_screen_sets_aside_rows_for_date_window_and_outcome_reasons_only(steps):
    reasons = {P.REASONS[c - 1] for c in np.unique(steps["after_screen"]) if c}
    assert reasons and reasons <= {"duplicate", "unparseable_date", "implausible_date", "superseded", "outside_window",
                                   "not_an_outcome"}
    w = steps["window"]
    assert w.lo <= w.hi and len(w.months) == (w.hi - w.lo).n + 1


def test_locate_sets_aside_only_unplaced_rows_and_places_the_others(steps):
    rows, loc, before = steps["rows"], steps["loc"], steps["after_screen"]
    changed = rows.code != before
    assert set(rows.code[changed]) <= {P.REASONS.index("no_location") + 1}
    assert all(s is not None for s in loc.sector[rows.used])  # every row still in has a sector
    assert set(loc.sector[rows.used]) <= set(steps["geo"].names)


def test_aggregate_counts_every_row_in_once_on_the_full_grid(steps):
    panel, rows = steps["panel"], steps["rows"]
    assert len(panel) == len(steps["geo"].names) * len(steps["window"].months)
    outcomes = sorted(set(rows.rec.outcome[rows.used]))
    assert panel[outcomes].to_numpy().sum() == rows.rec.weight.to_numpy()[rows.used].sum()
    assert panel.treat_start.notna().any()


def test_audit_reconciles_and_the_steps_compose_to_build_panel(steps):
    a = steps["audit"]
    assert a["rows_in"] == steps["n_in"] == a["rows_used"] + a["rows_quarantined"]
    q = P.quarantine_table(steps["rows"])
    assert len(q) == a["rows_quarantined"] and q.reason.notna().all() and (q.reason != "").all()
    b = P.build_panel(steps["files"], steps["geo"].path, steps["files"][0].parents[1] / "program" / "rollout.csv",
                      build_date="2026-11-01")
    assert b.panel.equals(steps["panel"]) and b.quarantine.equals(q)
    assert {k: v for k, v in b.audit.items() if k != "geography"} == {k: v for k, v in a.items() if k != "geography"}
