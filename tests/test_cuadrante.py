"""Panels by police cuadrante (issue 12, `make report UNIT=cuadrante`): the demo city's cuadrantes,
the panel step with cuadrantes as units on the demo and on the real 2013-2016 data, and the
command line."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import shapely

from analysis.cli import main as cli
from analysis.data import demo
from analysis.data.panel import build_panel
from analysis.data.readers import InputError

from conftest import SHARED, needs_shared


def test_demo_cuadrantes_tile_each_sector_and_touch_across_sector_borders():
    """12 cuadrantes per sector (864 in all, about the city's 850): valid, inside their sector,
    covering it without overlap, and sharing vertices exactly with the next sector's, so the
    adjacency crosses sector borders."""
    city = demo.simulate_city()
    sec = city["sectors"].set_index("sector")
    cu = demo.cuadrantes(city["sectors"])
    assert len(cu) == 864 and cu.cuadrante.is_unique
    assert (cu.groupby("sector").size() == 12).all()
    for s, g in cu.groupby("sector"):
        polys = g.geometry.to_numpy()
        assert all(p.is_valid and p.area > 0 for p in polys)
        union = shapely.union_all(polys)
        assert union.symmetric_difference(sec.geometry[s]).area < 1e-12
        assert sum(p.area for p in polys) == pytest.approx(sec.geometry[s].area, rel=1e-9)  # no overlap
    tree = shapely.STRtree(cu.geometry.to_numpy())
    a, b = tree.query(cu.geometry.to_numpy(), predicate="touches")
    across = {(cu.sector[i], cu.sector[j]) for i, j in zip(a, b) if cu.sector[i] != cu.sector[j]}
    assert ("D01", "D02") in across and ("D01", "D10") in across  # east and north neighbours (9 columns)


def _demo_panels(demo_dir):
    inc = [demo_dir / "incidents" / "victimas_fgj_demo.csv"]
    geo, ro = demo_dir / "geography" / "sectores_demo.geojson", demo_dir / "program" / "rollout.csv"
    cu = demo_dir / "geography" / "cuadrantes_demo.geojson"
    by_sector = build_panel(inc, geo, ro, last_month="2023-12")
    by_cuadrante = build_panel(inc, geo, ro, cuadrantes_path=cu, last_month="2023-12", unit="cuadrante")
    return by_sector, by_cuadrante


def test_demo_panel_by_cuadrante_adds_up_to_the_sector_panel(demo_dir):
    """Every input row is in the panel or in the quarantine with a reason, the same rows as by
    sector (the demo's FGJ records are placed by their coordinates; a record without them names
    no place and is set aside either way); the cuadrantes of a sector add up to the sector's
    counts month by month; each cuadrante starts with its sector; the adjacency is between
    cuadrantes."""
    s, c = _demo_panels(demo_dir)
    a = c.audit
    assert a["unit"] == "cuadrante" and s.audit["unit"] == "sector"
    assert a["rows_in"] == a["rows_used"] + a["rows_quarantined"] == s.audit["rows_in"]
    assert c.panel.unit.nunique() == 864 and len(c.quarantine) == a["rows_quarantined"]
    assert a["quarantined_by_reason"] == s.audit["quarantined_by_reason"] and a["rows_used"] == s.audit["rows_used"]
    assert a["quarantined_by_reason"]["no_location"] > 0
    parent = a["unit_sectors"]
    cols = ["gun_homicides", "gun_injuries", "shootings"]
    summed = c.panel.assign(unit=c.panel.unit.map(parent)).groupby(["unit", "period"])[cols].sum()
    pd.testing.assert_frame_equal(s.panel.set_index(["unit", "period"])[cols], summed, check_dtype=False)
    starts = c.panel.drop_duplicates("unit").set_index("unit").treat_start
    sector_start = s.panel.drop_duplicates("unit").set_index("unit").treat_start
    assert all(starts[u] == sector_start[parent[u]] or (pd.isna(starts[u]) and pd.isna(sector_start[parent[u]]))
               for u in starts.index)
    assert starts.notna().sum() == 12 * sector_start.notna().sum()
    adj = c.adjacency
    assert set(adj.iloc[:, 0]) <= set(parent) and len(adj) > 4 * 864


@needs_shared
def test_real_panel_by_cuadrante_adds_up_to_the_real_sector_panel():
    """The real SSC incident points of 2013-2016 by the 2016 cuadrantes: 847 cuadrantes, and
    summed by sector exactly the sector panel (these records carry cuadrante ids, so the same
    rows are placed either way)."""
    inc = [SHARED / "incidents_gun_2013_2016.csv.gz"]
    geo, cu = SHARED / "sectores.geojson", SHARED / "cuadrantes.geojson"
    c = build_panel(inc, geo, cuadrantes_path=cu, unit="cuadrante", last_month="2016-08")
    s = build_panel(inc, geo, cuadrantes_path=cu, last_month="2016-08")
    assert c.panel.unit.nunique() == 847 and s.panel.unit.nunique() == 72
    assert c.audit["rows_used"] == s.audit["rows_used"] and c.audit["rows_in"] == 9312
    cols = ["all_homicides", "gun_injuries"]
    summed = c.panel.assign(unit=c.panel.unit.map(c.audit["unit_sectors"])).groupby(["unit", "period"])[cols].sum()
    pd.testing.assert_frame_equal(s.panel.set_index(["unit", "period"])[cols], summed, check_dtype=False)


def test_cuadrante_file_naming_an_unknown_sector_is_refused_with_file_and_feature(tmp_path, demo_dir):
    fc = json.loads((demo_dir / "geography" / "cuadrantes_demo.geojson").read_text())
    fc["features"][5]["properties"]["sector"] = "Z99"
    bad = tmp_path / "cuadrantes_bad.geojson"
    bad.write_text(json.dumps(fc))
    inc = [demo_dir / "incidents" / "victimas_fgj_demo.csv"]
    geo = demo_dir / "geography" / "sectores_demo.geojson"
    with pytest.raises(InputError, match=r"cuadrantes_bad.geojson: feature 5 \(cuadrante 'D01-06'\): sector 'Z99'"):
        build_panel(inc, geo, cuadrantes_path=bad, unit="cuadrante", last_month="2023-12")
    with pytest.raises(ValueError, match="needs the cuadrante polygons"):
        build_panel(inc, geo, unit="cuadrante", last_month="2023-12")
    with pytest.raises(ValueError, match="'sector' or 'cuadrante'"):
        build_panel(inc, geo, unit="colonia", last_month="2023-12")


def test_cli_data_by_cuadrante_writes_its_own_folder_and_needs_the_polygons(tmp_path, demo_dir, capsys):
    raw = tmp_path / "raw"
    shutil.copytree(demo_dir, raw, ignore=shutil.ignore_patterns("truth.parquet", "demo.json"))
    out = tmp_path / "out"
    assert cli(["data", "--raw", str(raw), "--out", str(out), "--last-month", "2023-12", "--unit", "cuadrante"]) == 0
    printed = capsys.readouterr().out
    assert "(864 cuadrantes)" in printed
    panel = pd.read_parquet(out / "panel.parquet")
    assert panel.unit.nunique() == 864 and json.loads((out / "audit.json").read_text())["unit"] == "cuadrante"
    # the same inputs by sector are another panel: the fingerprint holds the unit
    assert cli(["data", "--raw", str(raw), "--out", str(out), "--last-month", "2023-12"]) == 0
    assert "Panel up to date" not in capsys.readouterr().out
    assert pd.read_parquet(out / "panel.parquet").unit.nunique() == 72
    (raw / "geography" / "cuadrantes_demo.geojson").unlink()
    assert cli(["data", "--raw", str(raw), "--out", str(out), "--unit", "cuadrante"]) == 2
    assert "needs the cuadrante polygons" in capsys.readouterr().err
    assert np.isfinite(panel.shootings).all()


def test_a_run_by_cuadrante_has_its_own_draws_unless_given():
    """One place for the defaults: a cuadrante panel's run takes fewer draws (UNIT_DEFAULTS), an
    option given on the command line wins, and --help says both defaults."""
    from analysis.options import UNIT_DEFAULTS, RunOptions

    assert RunOptions.for_unit("sector") == RunOptions()
    cu = RunOptions.for_unit("cuadrante")
    assert {k: getattr(cu, k) for k in UNIT_DEFAULTS["cuadrante"]} == UNIT_DEFAULTS["cuadrante"]
    assert cu.method == RunOptions().method and cu.seed == RunOptions().seed
    assert RunOptions.for_unit("cuadrante", n_perm=999, outcome=None).n_perm == 999
    flags = dict(RunOptions.cli_arguments())
    assert "(default: 999) (cuadrante panels: 199)" in flags["--n-perm"]["help"]


def test_leave_one_out_by_cuadrante_leaves_a_whole_sector_out():
    """On a panel by cuadrante "does one sector carry the result?" leaves out all of a sector's
    cuadrantes at once: one row per sector, the estimate without its units."""
    from analysis import impact
    from analysis.evaluation.influence import leave_one_out

    rng = np.random.default_rng(0)
    units = [f"S{s}-{k}" for s in range(8) for k in range(3)]
    periods = pd.period_range("2020-01", periods=20, freq="M")
    p = pd.MultiIndex.from_product([units, periods], names=["unit", "period"]).to_frame(index=False)
    p["y"] = rng.poisson(5.0, len(p)).astype(float)
    start = {"S0": periods[10], "S1": periods[12]}
    p["treat_start"] = pd.Series([start.get(u.split("-")[0], pd.NaT) for u in p.unit], dtype="period[M]")
    groups = {u: u.split("-")[0] for u in units}
    loo = leave_one_out(p, outcome="y", n_perm=19, groups=groups)
    assert list(loo.left_out) == ["S0", "S1"] and list(loo.start) == ["2020-11", "2021-01"]
    want = impact.estimate(p[~p.unit.str.startswith("S0-")], outcome="y", method="ppml", n_perm=19, ci=False)
    assert loo.percent.iloc[0] == pytest.approx(want.att_percent)
    assert len(leave_one_out(p, outcome="y", n_perm=19)) == 6  # by unit: each cuadrante alone


def test_the_build_by_cuadrante_makes_no_unit_pages_unless_asked_and_says_what_it_is(tmp_path, demo_dir):
    """About 100 cuadrantes are in the program: no page each by default (SECTORS=... asks for
    some); every section opens with the research-run banner."""
    from analysis.report import build, content
    from analysis.report.build import BuildOptions

    raw = demo_dir
    b = build_panel([raw / "incidents" / "victimas_fgj_demo.csv"], raw / "geography" / "sectores_demo.geojson",
                    raw / "program" / "rollout.csv", cuadrantes_path=raw / "geography" / "cuadrantes_demo.geojson",
                    last_month="2023-12", unit="cuadrante")
    b.audit["demo"] = json.loads((raw / "demo.json").read_text())
    b.write(tmp_path / "processed")
    panel = tmp_path / "processed" / "panel.parquet"
    st = build.stage("2023Q4", panel, tmp_path / "s1", BuildOptions())
    assert sorted(j.notebook for j in st.jobs) == ["checks", "program"]
    st = build.stage("2023Q4", panel, tmp_path / "s2", BuildOptions(sectors=["D36-01"]))
    assert [j.stem for j in st.jobs if j.notebook == "sector"] == ["sector_D36-01"]
    ctx = content.load_context(panel, "2023Q4")
    text = content.banner(ctx)
    assert text.startswith("**Research run by police cuadrante**") and "864 cuadrantes (96 in the program" in text
    assert "simulated city" in text


def test_a_map_of_cuadrantes_names_none_of_them():
    """Ids are written on a map of sectors (72), not on one of 864 cuadrantes, even when fewer
    than 100 of them (the 96 in the program) would be named: they would cover the map."""
    import geopandas as gpd
    import matplotlib.pyplot as plt

    from analysis.report import maps

    city = demo.simulate_city()
    cu = demo.cuadrantes(city["sectors"]).rename(columns={"cuadrante": "unit"})
    named = gpd.GeoDataFrame(cu.head(96), geometry="geometry")
    for among, texts in ((len(cu), 0), (72, 96)):
        fig, ax = plt.subplots()
        maps._names(ax, named, among=among)
        assert len(ax.texts) == texts
        plt.close(fig)


def test_make_knows_the_unit_and_refuses_another():
    """`make report UNIT=cuadrante` reads and writes the unit's own folders; a unit that is not
    one stops make with one line naming the valid ones."""
    import subprocess

    from conftest import ROOT

    r = subprocess.run(["make", "-n", "report", "UNIT=cuadrante"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "-m analysis data --unit 'cuadrante'" in r.stdout
    assert "--panel 'data/processed/cuadrante/panel.parquet' --reports 'reports/cuadrante'" in r.stdout
    r = subprocess.run(["make", "-n", "report", "UNIT=colonia"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode != 0 and "UNIT='colonia' is not valid: sector or cuadrante" in r.stderr
