"""The panel step: every row accounted for, bad files get errors that name file, row and column."""

import json

import numpy as np
import pandas as pd
import pytest

from analysis.data.panel import build_panel
from analysis.data.readers import InputError
from analysis.data.rollout import read_rollout

from conftest import SHARED, needs_shared


def test_counts_reconcile(demo_build):
    a = demo_build.audit
    assert a["rows_in"] == a["rows_used"] + a["rows_quarantined"]
    assert a["rows_quarantined"] == len(demo_build.quarantine) == sum(a["quarantined_by_reason"].values())
    assert a["rows_used"] == demo_build.panel[["gun_homicides", "gun_injuries"]].to_numpy().sum()
    by_month = sum(sum(v.values()) for v in a["by_month"].values())
    assert by_month == a["rows_in"]


def test_panel_contract(demo_panel):
    p = demo_panel
    assert not p.duplicated(["unit", "period"]).any()
    assert len(p) == p.unit.nunique() * p.period.nunique()  # months without events are zero rows
    assert (p.shootings == p.gun_homicides + p.gun_injuries).all()
    assert str(p.period.dtype) == "period[M]" and str(p.treat_start.dtype) == "period[M]"
    assert p.population.notna().all()
    assert (p.groupby("unit").treat_start.nunique() <= 1).all()


def test_demo_quarantine_reasons(demo_build):
    r = demo_build.audit["quarantined_by_reason"]
    assert r["duplicate"] > 0 and r["no_location"] > 0 and r["not_an_outcome"] > 0


def _write_fgj(path, rows):
    from analysis.data.demo import FGJ_COLUMNS

    df = pd.DataFrame(rows).reindex(columns=FGJ_COLUMNS).astype(object).fillna("")
    df.to_csv(path, index=False)
    return path


def _row(date="2020-03-05", delito="HOMICIDIO POR ARMA DE FUEGO", cat="HOMICIDIO DOLOSO", lat=None, lon=None):
    return {"fecha_hecho": date, "delito": delito, "categoria_delito": cat, "latitud": lat, "longitud": lon}


def test_every_bad_row_has_its_reason(tmp_path, demo_dir):
    geo = demo_dir / "geography" / "sectores_demo.geojson"
    g = json.loads(geo.read_text())["features"][0]["geometry"]["coordinates"][0]
    cx, cy = np.mean([c[0] for c in g]), np.mean([c[1] for c in g])
    rows = [
        _row(lat=cy, lon=cx),                                    # used
        _row(lat=cy, lon=cx),                                    # exact duplicate
        _row(date="not a date", lat=cy, lon=cx),                 # unparseable
        _row(date="2031-01-01", lat=cy, lon=cx),                 # after the window
        _row(delito="ROBO A NEGOCIO", cat="ROBO", lat=cy, lon=cx),  # not an outcome
        _row(),                                                  # no coordinates
        _row(lat=10.0, lon=-80.0),                               # outside every polygon
        _row(date="2020-04-30", delito="LESIONES DOLOSAS POR DISPARO DE ARMA DE FUEGO", cat="X", lat=cy, lon=cx),
    ]
    f = _write_fgj(tmp_path / "v.csv", rows)
    b = build_panel([f], geo, last_month="2020-06", first_month="2020-01")
    q = b.quarantine.set_index("row").reason.to_dict()
    assert q == {2: "duplicate", 3: "unparseable_date", 4: "implausible_date", 5: "not_an_outcome",
                 6: "no_location", 7: "no_location"}
    assert b.audit["rows_used"] == 2
    assert b.panel.gun_homicides.sum() == 1 and b.panel.gun_injuries.sum() == 1
    assert b.panel.period.max() == pd.Period("2020-06", "M") and len(b.panel) == 72 * 6


def test_encodings_are_read(tmp_path, demo_dir):
    geo = demo_dir / "geography" / "sectores_demo.geojson"
    ring = json.loads(geo.read_text())["features"][0]["geometry"]["coordinates"][0]
    cx, cy = np.mean([c[0] for c in ring]), np.mean([c[1] for c in ring])
    text = ("fecha_hecho,delito,categoria_delito,latitud,longitud\n"
            "2020-01-03,FEMINICIDIO POR DISPARO DE ARMA DE FUEGO,HOMICIDIO DOLOSO,,\n"
            f"2020-01-04,HOMICIDIO POR ARMA DE FUEGO,HOMICIDIO DOLOSO,{cy},{cx}\n")
    for enc in ("utf-8", "utf-8-sig", "cp1252"):
        f = tmp_path / f"{enc}.csv"
        f.write_bytes(text.replace("FEMINICIDIO", "FEMINICIDIO").encode(enc))
        b = build_panel([f], geo, last_month="2020-01")
        assert b.audit["rows_in"] == 2 and b.audit["quarantined_by_reason"] == {"no_location": 1}


def test_clear_errors(tmp_path, demo_dir):
    geo = demo_dir / "geography" / "sectores_demo.geojson"
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match=r"empty\.csv: the file is empty"):
        build_panel([empty], geo)
    nocol = tmp_path / "nocol.csv"
    nocol.write_text("fecha_hecho,delito,latitud\n2020-01-01,X,19.3\n")
    with pytest.raises(InputError, match=r"nocol\.csv: header row \(row 0\).*'fgj'.*needs lon \(one of: longitud, coord_x"):
        build_panel([nocol], geo)
    binary = tmp_path / "x.csv"
    binary.write_bytes(b"\x00\x01\x02PK\x00")
    with pytest.raises(InputError, match="not a text table"):
        build_panel([binary], geo)


def test_rollout_errors(tmp_path, demo_dir):
    sectors = ["D01", "D02"]
    f = tmp_path / "rollout.csv"
    f.write_text("sector,component,start,end\nD01,Justicia,2020-01-01,\nD99,Justicia,2020-01-01,\n")
    with pytest.raises(InputError, match=r"rollout\.csv: row 2, column 'sector': sector 'D99' is not in the geography"):
        read_rollout(f, sectors)
    f.write_text("sector,component,start,end\nD01,Justicia,2020-01-01,2021-01-01\nD01,Justicia,2020-06-01,\n")
    with pytest.raises(InputError, match=r"row 2, column 'start': Justicia in sector D01 overlaps the period of row 1"):
        read_rollout(f, sectors)
    f.write_text("sector,component,start\nD01,Justicia,soon\n")
    with pytest.raises(InputError, match=r"row 1, column 'start': 'soon' is not a date"):
        read_rollout(f, sectors)
    f.write_text("sector,start\nD01,2020-01-01\n")
    with pytest.raises(InputError, match="missing required column"):
        read_rollout(f, sectors)


def test_partial_output_is_never_left(tmp_path, demo_build, monkeypatch):
    out = tmp_path / "processed"

    def boom(*a, **k):
        raise OSError("disk full")

    import analysis.data.panel as panel_mod

    monkeypatch.setattr(panel_mod, "_write_csv", boom)
    with pytest.raises(OSError):
        demo_build.write(out)
    assert not (out / "panel.parquet").exists()


def test_adjacency_is_symmetric(demo_dir):
    from analysis.data.geography import read_geography

    adj = read_geography(demo_dir / "geography" / "sectores_demo.geojson").adjacency()
    pairs = set(map(tuple, adj.to_numpy()))
    assert all((b, a) in pairs for a, b in pairs)
    deg = adj.groupby("sector").size()
    assert deg.min() >= 2 and deg.max() <= 8  # a jittered grid: corners 3, interior about 8


@needs_shared
def test_real_points_match_polygons():
    b = build_panel([SHARED / "incidents_gun_2013_2016.csv.gz"], SHARED / "sectores.geojson")
    assert b.audit["window"]["last_month"] == "2016-08"  # September 2016 is partial
    assert b.audit["rows_in"] == 9312 == b.audit["rows_used"] + b.audit["rows_quarantined"]
    assert "gun_homicides" not in b.panel and "all_homicides" in b.panel  # SSC homicides are all weapons
    b = build_panel([SHARED / "incidents_gun_2013_2016.csv.gz"], SHARED / "sectores.geojson", last_month="2016-09")
    loc = b.audit["location"]
    # the shared README: 8,249 points with coordinates, 8,205 inside a 2016 sector polygon
    assert loc["points_with_coordinates"] == 8249 and loc["points_inside_a_polygon"] == 8205
    assert loc["point_match_rate"] > 0.99
