"""Rules of the panel's audit and its refusals, one small input per rule (issue 14)."""

from __future__ import annotations

import pandas as pd
import pytest
from test_rules_panel import SQUARES, _fgj, _geography, _monthly, _sector_file


def test_rule_the_audit_counts_rows_by_month_and_fate(tmp_path):
    from analysis.data.panel import build_panel

    rows = _monthly("2020-01", "2020-12") + [("2020-02-30", "A"), ("2020-05-02", "A")]  # a bad day, a repeat
    b = build_panel([_fgj(tmp_path / "v.csv", rows)], _geography(tmp_path), first_month="2020-03", last_month="2020-12")
    by = b.audit["by_month"]
    assert by["2020-01"] == {"outside_window": 3} and by["2020-02"] == {"outside_window": 3}
    assert by["2020-05"] == {"used": 3, "duplicate": 1}
    assert by["2020-12"] == {"used": 3}
    assert by["unparseable"] == {"unparseable_date": 1}
    assert sum(n for d in by.values() for n in d.values()) == b.audit["rows_in"] == len(rows)


def test_rule_the_ssc_homicide_note_appears_only_for_that_source(tmp_path):
    from analysis.data.panel import build_panel

    xa, ya = SQUARES["A"]
    f = tmp_path / "ssc.csv"
    f.write_text('"cuadrante","crime","date","hour","year","month","lat","long","id"\n'
                 + "".join(f'"A","{c}",2020-01-0{k + 1},"10:00",2020,1,{ya + 0.005},{xa + 0.005},{k}\n'
                           for k, c in enumerate(["HOMICIDIO DOLOSO", "LESIONES POR ARMA DE FUEGO"])))
    ssc = build_panel([f], _geography(tmp_path), last_month="2020-01").audit["notes"]
    fgj = build_panel([_fgj(tmp_path / "v.csv", _monthly("2020-01", "2020-03"))], _geography(tmp_path),
                      last_month="2020-03").audit["notes"]
    assert len(ssc) == 2 and "all_homicides" in ssc[1]
    assert len(fgj) == 1 and "duplicates" in fgj[0]


@pytest.mark.parametrize("inside,ok", [(10, True), (9, False)])
def test_rule_a_file_needs_half_its_points_in_a_sector(tmp_path, inside, ok):
    """20 points with coordinates: half inside passes, fewer is refused (points far outside
    every sector mean swapped columns or another city's geography)."""
    from analysis.data.panel import build_panel
    from analysis.data.readers import InputError

    xa, ya = SQUARES["A"]
    lines = ["fecha_hecho,delito,categoria_delito,latitud,longitud"]
    for k in range(20):
        lat, lon = (ya + 0.005, xa + 0.005) if k < inside else (19.30, -99.10)
        lines.append(f"2020-01-{k + 1:02d},HOMICIDIO POR ARMA DE FUEGO,HOMICIDIO DOLOSO,{lat},{lon}")
    f = tmp_path / "v.csv"
    f.write_text("\n".join(lines) + "\n")
    if ok:
        b = build_panel([f], _geography(tmp_path), last_month="2020-01")
        assert b.audit["quarantined_by_reason"] == {"no_location": 20 - inside}
    else:
        with pytest.raises(InputError, match=r"v\.csv: only 45\.0% of 20 outcome records"):
            build_panel([f], _geography(tmp_path), last_month="2020-01")


def test_rule_fewer_than_twenty_points_are_not_judged(tmp_path):
    from analysis.data.panel import build_panel

    lines = ["fecha_hecho,delito,categoria_delito,latitud,longitud"]
    xa, ya = SQUARES["A"]
    lines += [f"2020-01-{k + 1:02d},HOMICIDIO POR ARMA DE FUEGO,HOMICIDIO DOLOSO,{ya + 0.005},{xa + 0.005}" for k in range(1)]
    lines += [f"2020-01-{k + 2:02d},HOMICIDIO POR ARMA DE FUEGO,HOMICIDIO DOLOSO,19.30,-99.10" for k in range(18)]
    f = tmp_path / "v.csv"
    f.write_text("\n".join(lines) + "\n")
    b = build_panel([f], _geography(tmp_path), last_month="2020-01")
    assert b.audit["quarantined_by_reason"] == {"no_location": 18}


def test_rule_swapped_columns_are_named_in_the_refusal(tmp_path):
    from analysis.data.panel import build_panel
    from analysis.data.readers import InputError

    xa, ya = SQUARES["A"]
    lines = ["fecha_hecho,delito,categoria_delito,latitud,longitud"]
    lines += [f"2020-01-{k + 1:02d},HOMICIDIO POR ARMA DE FUEGO,HOMICIDIO DOLOSO,{xa + 0.005},{ya + 0.005}" for k in range(20)]
    f = tmp_path / "v.csv"
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="look swapped"):
        build_panel([f], _geography(tmp_path), last_month="2020-01")


def test_rule_the_audit_counts_events_and_locations_of_the_rows_it_used(tmp_path):
    from analysis.data.panel import build_panel

    xa, ya = SQUARES["A"]
    f = tmp_path / "ssc.csv"
    rows = ['"cuadrante","crime","date","hour","year","month","lat","long","id"']
    spec = [("A", ya + 0.005, xa + 0.005),   # point and id agree
            ("B", ya + 0.005, xa + 0.005),   # disagree: point A wins
            ("B", "NA", "NA"),               # id only
            ("ZZZ", 19.30, -99.10),          # a point outside every sector, unknown id: unassigned
            ("A", ya + 0.005, "NA")]         # latitude without longitude: no usable point, by id
    for k, (sec, lat, lon) in enumerate(spec):
        rows.append(f'"{sec}","LESIONES POR ARMA DE FUEGO",2020-01-0{k + 1},"10:00",2020,1,{lat},{lon},{k}')
    f.write_text("\n".join(rows) + "\n")
    b = build_panel([f], _geography(tmp_path), last_month="2020-01")
    a = b.audit
    assert a["events_quarantined_by_reason"] == a["quarantined_by_reason"] == {"no_location": 1}
    loc = a["location"]
    assert (loc["by_point"], loc["by_id"], loc["unassigned"]) == (2, 2, 1)
    assert (loc["point_and_id_agree"], loc["point_and_id_disagree"]) == (1, 1)
    assert loc["points_with_coordinates"] == 3 and loc["points_inside_a_polygon"] == 2
    assert loc["point_match_rate"] == pytest.approx(2 / 3)
    q = b.quarantine
    assert q.detail.iloc[0].startswith("coordinates outside every sector polygon")
    assert a["used_by_outcome"] == {"gun_injuries": 4}


def _extract(path, days_by_month: dict[str, list[int]], shift: float = 0.0):
    xa, ya = SQUARES["A"]
    lines = ["fecha_hecho,delito,categoria_delito,latitud,longitud"]
    for month, days in days_by_month.items():
        lines += [f"{month}-{d:02d},HOMICIDIO POR ARMA DE FUEGO,HOMICIDIO DOLOSO,{ya + 0.005 + shift:.6f},{xa + 0.005 + shift:.6f}"
                  for d in days]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("shared,superseded", [(2, True), (1, False)])
def test_rule_an_older_extract_is_superseded_when_half_its_records_are_in_the_newer(tmp_path, shared, superseded):
    from analysis.data.panel import build_panel

    months = [str(p) for p in pd.period_range("2020-01", "2020-06", freq="M")]
    old = _extract(tmp_path / "old.csv", {m: [1, 2, 3, 4] for m in months})
    newer_days = [1, 2, 10, 11] if shared == 2 else [1, 10, 11, 12]
    new = _extract(tmp_path / "new.csv", {**{m: newer_days for m in months}, "2020-07": [1, 2, 3, 4]})
    b = build_panel([old, new], _geography(tmp_path), last_month="2020-07")
    reasons = b.audit["quarantined_by_reason"]
    jan = int(b.panel.loc[(b.panel.unit == "A") & (b.panel.period == pd.Period("2020-01", "M")), "gun_homicides"].iloc[0])
    if superseded:  # the newer release alone supplies 2020-01 to 2020-06
        assert reasons == {"superseded": 24} and jan == 4
        assert b.audit["duplicates_across_files"] == 0
        assert b.audit["months_supplied_by_file"][str(new)] == ["2020-01 to 2020-07"]
    else:  # files that add records: both kept, the shared record counted once
        assert reasons == {"duplicate": 6} and jan == 7


def test_rule_a_record_moved_by_less_than_a_metre_is_the_same_record(tmp_path):
    """Releases write coordinates with different precision: 0.000003 degrees (about 30 cm)
    apart is the same record for the supersede rule (rounded to 5 decimals)."""
    from analysis.data.panel import build_panel

    months = [str(p) for p in pd.period_range("2020-01", "2020-06", freq="M")]
    old = _extract(tmp_path / "old.csv", {m: [1, 2, 3, 4] for m in months}, shift=0.000003)
    new = _extract(tmp_path / "new.csv", {**{m: [1, 2, 3, 4] for m in months}, "2020-07": [1, 2, 3, 4]})
    b = build_panel([old, new], _geography(tmp_path), last_month="2020-07")
    assert b.audit["quarantined_by_reason"] == {"superseded": 24}


# -- the pace rule of extract_end, at its edges ---------------------------------------------------
def test_rule_a_day_at_exactly_half_the_usual_pace_still_counts():
    from test_rules_panel import _daily

    from analysis.data.panel import extract_end

    d = pd.concat([_daily("2019-01-01", "2019-12-31", 40), _daily("2020-01-01", "2020-01-07", 20),
                   _daily("2020-01-08", "2020-01-14", 19)])
    assert extract_end(d) == pd.Timestamp("2020-01-07")


def test_rule_the_pace_window_holds_thirty_records_not_more():
    """About 10.1 records a day: thirty records fill 3 days (31 would need 4). With a 3-day
    window the tail of 4 a day falls below half the usual pace one day earlier than with 4."""
    import numpy as np
    from test_rules_panel import _daily

    from analysis.data.panel import extract_end

    days = pd.date_range("2019-01-01", "2019-12-31")
    n = np.where(np.arange(len(days)) % 6 == 0, 11, 10)
    d = pd.concat([pd.Series(np.repeat(days.to_numpy(), n)), _daily("2020-01-01", "2020-01-04", 4)])
    assert extract_end(d) == pd.Timestamp("2020-01-02")
    assert extract_end(d, base=31.0) == pd.Timestamp("2020-01-03")


@pytest.mark.parametrize("raw,expected", [("17/05/20", "2020-05-17"), ("17/05/68", "2068-05-17"),
                                          ("17/05/69", "1969-05-17"), ("17/05/99", "1999-05-17"),
                                          ("17/05/00", "2000-05-17")])
def test_rule_two_digit_years_pivot_at_69_as_strptime(tmp_path, raw, expected):
    from analysis.data.readers import read_incidents

    xa, ya = SQUARES["A"]
    f = tmp_path / "v.csv"
    f.write_text("fecha_hecho,delito,categoria_delito,latitud,longitud\n"
                 f"{raw},HOMICIDIO POR ARMA DE FUEGO,HOMICIDIO DOLOSO,{ya},{xa}\n")
    rec, _ = read_incidents(f)
    assert rec.date.iloc[0].strftime("%Y-%m-%d") == expected


def test_rule_the_usual_pace_is_the_last_years():
    """Four years at 2 records a day, then a year at 40: the pace window is one day (from the
    last year's mean), so a tail of 15 a day (below half of 40) is past the extract's end. Over
    all five years the window would be 4 days and the tail would count."""
    from test_rules_panel import _daily

    from analysis.data.panel import extract_end

    d = pd.concat([_daily("2015-01-01", "2018-12-31", 2), _daily("2019-01-01", "2019-12-31", 40),
                   _daily("2020-01-01", "2020-01-03", 15)])
    assert extract_end(d) == pd.Timestamp("2019-12-31")


def test_rule_the_covered_span_is_chosen_by_all_its_records():
    """The early span holds 1,600 records, 500 of them in its last month; the later one 1,400:
    the early span wins only when its last month is counted."""
    from test_rules_panel import _months, _run, _span

    from analysis.data.panel import regular_coverage

    m = _months({**_run("2010-01", "2010-11", 100), "2010-12": 500, **_run("2016-01", "2017-02", 100)})
    assert _span(regular_coverage(m)) == ("2010-01", "2010-12")


def test_rule_months_supplied_are_written_as_ranges():
    from analysis.data.panel import _ranges

    o = [pd.Period(m, "M").ordinal for m in ("2020-05", "2020-01", "2020-02", "2020-03", "2020-09")]
    assert _ranges(o) == ["2020-01 to 2020-03", "2020-05", "2020-09"]
    assert _ranges([]) == []


def test_rule_a_record_dated_on_the_build_date_is_kept(tmp_path):
    from analysis.data.panel import build_panel

    f = _fgj(tmp_path / "v.csv", _monthly("2020-01", "2020-12") + [("2021-01-31", "B"), ("2021-02-01", "B")])
    b = build_panel([f], _geography(tmp_path), last_month="2021-01", build_date="2021-01-31")
    assert b.audit["quarantined_by_reason"] == {"implausible_date": 1}
    assert _count_b(b, "2021-01") == 1


def _count_b(build, month):
    p = build.panel
    return int(p.loc[(p.unit == "B") & (p.period == pd.Period(month, "M")), "gun_homicides"].iloc[0])


def test_rule_months_outside_the_geographys_validity_are_those_before_its_first_or_after_its_last_month(tmp_path):
    from analysis.data.geography import read_geography

    geo = read_geography(_geography(tmp_path), version="t", valid_from="2020-03-15", valid_to="2020-06-30")
    months = pd.period_range("2020-01", "2020-08", freq="M")
    assert geo.months_outside_validity(months) == ["2020-01", "2020-02", "2020-07", "2020-08"]


@pytest.mark.parametrize("x,y,inside", [(-99.20, 19.40, True), (-99.20, 19.905, False), (-99.705, 19.40, False),
                                        (-98.595, 19.40, False), (-99.20, 18.79, False)])
def test_rule_sector_polygons_must_lie_in_mexico_city(tmp_path, x, y, inside):
    from analysis.data.geography import read_geography
    from analysis.data.readers import InputError

    w, h = 0.004, 0.004
    if x + 0.004 > -98.6:  # the east edge: the polygon reaches beyond the bound from inside
        x -= 0.004
    if y < 18.8:
        h = 0.02
    p = _sector_file(tmp_path / "g.geojson", {"S": (x, y, w, h, {})})
    if inside:
        assert read_geography(p).names == ["S"]
    else:
        with pytest.raises(InputError, match="not in Mexico City"):
            read_geography(p)


def test_rule_a_two_column_file_is_a_table_missing_columns_not_a_non_table(tmp_path):
    from analysis.data.readers import InputError, read_incidents

    f = tmp_path / "v.csv"
    f.write_text("fecha_hecho,delito\n2020-01-01,HOMICIDIO POR ARMA DE FUEGO\n")
    with pytest.raises(InputError) as e:
        read_incidents(f)
    assert "not a table" not in str(e.value)
    g = tmp_path / "w.csv"
    g.write_text("fecha_hecho\n2020-01-01\n")
    with pytest.raises(InputError, match="not a table"):
        read_incidents(g)


def test_rule_repairs_in_crime_and_category_both_count(tmp_path):
    from analysis.data.readers import read_incidents

    xa, ya = SQUARES["A"]
    f = tmp_path / "v.csv"
    f.write_text("fecha_hecho,delito,categoria_delito,latitud,longitud\n"
                 f"2020-01-05,VIOLACIàN,DELITO DE ALTO IMPACTO,{ya},{xa}\n"
                 f"2020-01-06,ROBO,DELITO DE ALTO IMPACTO CON VIOLACIàN,{ya},{xa}\n"
                 f"2020-01-07,VIOLACIàN,CATEGORÃ\u0153A,{ya},{xa}\n")
    _, info = read_incidents(f)
    assert info["mojibake_repaired"] == 4
    assert info["columns"] == {"date": "fecha_hecho", "crime": "delito", "category": "categoria_delito",
                               "lat": "latitud", "lon": "longitud"}


@pytest.mark.parametrize("props,error", [({"type": "Feature"}, "expected, not a Feature"),
                                         ({"type": "FeatureCollection", "features": {"a": 1}}, "'features' is not a list"),
                                         ({"type": "FeatureCollection", "features": []}, "no features")])
def test_rule_the_geography_must_be_a_feature_collection_with_a_list_of_features(tmp_path, props, error):
    import json

    from analysis.data.geography import read_geography
    from analysis.data.readers import InputError

    p = tmp_path / "g.geojson"
    p.write_text(json.dumps(props))
    with pytest.raises(InputError, match=error):
        read_geography(p)


@pytest.mark.parametrize("pop,expected", [("", None), (None, None), ("1200", 1200.0)])
def test_rule_an_empty_population_is_unknown(tmp_path, pop, expected):
    from analysis.data.geography import read_geography

    x, y = SQUARES["A"]
    p = _sector_file(tmp_path / "g.geojson", {"S": (x, y, 0.01, 0.01, {"population": pop})})
    got = read_geography(p).sectors.population.iloc[0]
    assert (pd.isna(got) if expected is None else got == expected)


@pytest.mark.parametrize("bound", ["west", "south", "east", "north"])
def test_rule_a_polygon_on_the_mexico_city_bound_is_inside(tmp_path, bound):
    from analysis.data.geography import CDMX_BOUNDS, read_geography

    x0, y0, x1, y1 = CDMX_BOUNDS
    x, y = {"west": (x0, 19.4), "south": (-99.2, y0), "east": (x1 - 0.01, 19.4), "north": (-99.2, y1 - 0.01)}[bound]
    p = _sector_file(tmp_path / "g.geojson", {"S": (x, y, 0.01, 0.01, {})})
    assert read_geography(p).names == ["S"]


def test_rule_overlap_is_judged_against_the_smaller_sector(tmp_path):
    """A small sector half inside a large one overlaps by 50 % of the smaller (refused), though
    by far less than 0.1 % of the larger."""
    from analysis.data.geography import read_geography
    from analysis.data.readers import InputError

    p = _sector_file(tmp_path / "g.geojson", {"BIG": (-99.3, 19.3, 0.2, 0.2, {}),
                                              "SMALL": (-99.1 - 0.001, 19.35, 0.002, 0.002, {})})
    with pytest.raises(InputError, match="overlap"):
        read_geography(p)


@pytest.mark.parametrize("raw", ["2020-00-05", "2020-03-00", "2020-13-01", "2020-02-30"])
def test_rule_a_month_or_day_out_of_range_is_unparseable_never_rolled(tmp_path, raw):
    from analysis.data.readers import read_incidents

    xa, ya = SQUARES["A"]
    f = tmp_path / "v.csv"
    f.write_text("fecha_hecho,delito,categoria_delito,latitud,longitud\n"
                 f"2020-03-05,HOMICIDIO POR ARMA DE FUEGO,HOMICIDIO DOLOSO,{ya},{xa}\n"
                 f"{raw},HOMICIDIO POR ARMA DE FUEGO,HOMICIDIO DOLOSO,{ya},{xa}\n")
    rec, _ = read_incidents(f)
    assert rec.date.iloc[0] == pd.Timestamp("2020-03-05") and pd.isna(rec.date.iloc[1])


@pytest.mark.parametrize("lat,lon,ok", [(90.0, -99.1, True), (90.5, -99.1, False), (19.4, -180.0, True),
                                        (19.4, 180.5, False), (19.4, -181.0, False)])
def test_rule_coordinates_must_be_degrees_on_every_row(tmp_path, lat, lon, ok):
    """One bad row among good ones stops the file (latitude within 90, longitude within 180)."""
    from analysis.data.readers import InputError, read_incidents

    xa, ya = SQUARES["A"]
    f = tmp_path / "v.csv"
    f.write_text("fecha_hecho,delito,categoria_delito,latitud,longitud\n"
                 f"2020-03-05,HOMICIDIO POR ARMA DE FUEGO,HOMICIDIO DOLOSO,{ya},{xa}\n"
                 f"2020-03-06,HOMICIDIO POR ARMA DE FUEGO,HOMICIDIO DOLOSO,{lat},{lon}\n")
    if ok:
        assert len(read_incidents(f)[0]) == 2
    else:
        with pytest.raises(InputError, match="row 2"):
            read_incidents(f)


@pytest.mark.parametrize("last,ok", [("2015-12", False), ("2016-01", True), ("2036-01", False)])
def test_rule_the_demo_city_runs_from_2016_to_its_horizon(tmp_path, last, ok):
    from analysis.data import demo

    if ok:
        assert demo.write_demo_city(tmp_path, last)["last_month"] == last
    else:
        with pytest.raises(ValueError, match="demo months run from 2016-01 to 2035-12"):
            demo.write_demo_city(tmp_path, last)


def test_rule_the_true_effect_counts_treated_months_up_to_and_including_the_last(demo_truth):
    from analysis.data import demo

    t = demo_truth[demo_truth.treated]
    last = t.period.min() + 2
    got = demo.true_effect(demo_truth, last_month=last)
    assert got["n_cells"] == int((t.period <= last).sum()) and got["n_cells"] > int((t.period < last).sum())
