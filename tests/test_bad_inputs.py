"""The corpus of bad inputs (issue 8): every case an analyst met, or could meet, with real files.

Each case is made from the demo city by one change and ends one of three ways:
- ``error``: the panel step stops with one clear message naming the file (and the row or the
  column, the feature or the sector) — the regex must match it;
- ``quarantine``: the rows are set aside with their own reason and the panel is what it would
  be without them (the window does not move, nothing is counted twice);
- ``repaired``: the input is fixed, and the audit says what was fixed and where.

Add a case here for every bad input you meet.
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from analysis.data.panel import build_panel
from analysis.data.readers import InputError

LAST = "2023-12"
BUILD_DATE = "2024-01-31"


@dataclass
class Inputs:
    incidents: list[Path]
    geography: Path
    rollout: Path
    kwargs: dict = field(default_factory=dict)


def _base(demo_dir: Path, tmp: Path) -> Inputs:
    d = tmp / "raw"
    shutil.copytree(demo_dir, d, dirs_exist_ok=True)
    return Inputs([d / "incidents" / "victimas_fgj_demo.csv"], d / "geography" / "sectores_demo.geojson",
                  d / "program" / "rollout.csv")


def _victims(i: Inputs) -> pd.DataFrame:
    return pd.read_csv(i.incidents[0], dtype=str, keep_default_na=False)


def _gun(v: pd.DataFrame) -> pd.DataFrame:
    return v[v.delito.isin(["HOMICIDIO POR ARMA DE FUEGO", "LESIONES DOLOSAS POR DISPARO DE ARMA DE FUEGO"])
             & v.latitud.ne("")]


def _geo(i: Inputs) -> dict:
    return json.loads(i.geography.read_text())


def _set_geo(i: Inputs, fc: dict) -> None:
    i.geography.write_text(json.dumps(fc))


# -- the cases ---------------------------------------------------------------------------------
def mixed_iso_and_day_first(i: Inputs) -> None:
    v = _victims(i)
    d = pd.to_datetime(v.fecha_hecho.iloc[100:900])
    v.loc[v.index[100:900], "fecha_hecho"] = d.dt.strftime("%d/%m/%Y").to_numpy()
    v.to_csv(i.incidents[0], index=False)


def day_first_and_month_first(i: Inputs) -> None:
    v = _victims(i).iloc[:3000].copy()
    d = pd.to_datetime(v.fecha_hecho)
    v["fecha_hecho"] = d.dt.strftime("%d/%m/%Y")
    v.loc[v.index[1500:], "fecha_hecho"] = d.iloc[1500:].dt.strftime("%m/%d/%Y").to_numpy()
    v.to_csv(i.incidents[0], index=False)


def ambiguous_day_month(i: Inputs) -> None:
    v = _victims(i)
    d = pd.to_datetime(v.fecha_hecho)
    v = v[d.dt.day <= 12].copy()
    v["fecha_hecho"] = pd.to_datetime(v.fecha_hecho).dt.strftime("%d/%m/%Y")
    v.to_csv(i.incidents[0], index=False)


def rollout_day_first(i: Inputs) -> None:
    r = pd.read_csv(i.rollout, dtype=str, keep_default_na=False)
    r.loc[0, "start"] = "01/06/2014"
    r.to_csv(i.rollout, index=False)


def rollout_header_only(i: Inputs) -> None:
    i.rollout.write_text("sector,component,start,end\n")


def truncated_gzip(i: Inputs) -> None:
    raw = gzip.compress(i.incidents[0].read_bytes())
    gz = i.incidents[0].with_suffix(".csv.gz")
    gz.write_bytes(raw[: len(raw) // 2])
    i.incidents[0].unlink()
    i.incidents[0] = gz


def corrupt_gzip(i: Inputs) -> None:
    raw = bytearray(gzip.compress(i.incidents[0].read_bytes()))
    raw[len(raw) // 2: len(raw) // 2 + 64] = bytes(64)
    gz = i.incidents[0].with_suffix(".csv.gz")
    gz.write_bytes(bytes(raw))
    i.incidents[0].unlink()
    i.incidents[0] = gz


def empty_file(i: Inputs) -> None:
    i.incidents[0].write_text("")


def binary_file(i: Inputs) -> None:
    i.incidents[0].write_bytes(b"PK\x03\x04\x00\x00" + bytes(200))


def unknown_header(i: Inputs) -> None:
    i.incidents[0].write_text("a,b,c\n1,2,3\n")


def null_geometry(i: Inputs) -> None:
    fc = _geo(i)
    fc["features"][3]["geometry"] = None
    _set_geo(i, fc)


def point_geometry(i: Inputs) -> None:
    fc = _geo(i)
    fc["features"][5]["geometry"] = {"type": "Point", "coordinates": [-99.1, 19.4]}
    _set_geo(i, fc)


def not_geojson(i: Inputs) -> None:
    i.geography.write_text("{ this is not json")


def _map_coords(fc: dict, f: Callable) -> dict:
    for feat in fc["features"]:
        g = feat["geometry"]
        rings = g["coordinates"] if g["type"] == "Polygon" else [r for p in g["coordinates"] for r in p]
        for ring in rings:
            ring[:] = [f(x, y) for x, y in ring]
    return fc


def projected_geometry(i: Inputs) -> None:
    _set_geo(i, _map_coords(_geo(i), lambda x, y: [483000 + (x + 99.1) * 105000, 2145000 + (y - 19.4) * 110000]))


def swapped_geometry(i: Inputs) -> None:
    _set_geo(i, _map_coords(_geo(i), lambda x, y: [y, x]))


def overlapping_sectors(i: Inputs) -> None:
    """One sector grown to take most of its neighbours (664 victims moved in the issue's case)."""
    import shapely
    from shapely.geometry import mapping, shape

    fc = _geo(i)
    g = shape(fc["features"][10]["geometry"])
    fc["features"][10]["geometry"] = mapping(shapely.buffer(g, 0.01))
    _set_geo(i, fc)


def swapped_incident_coordinates(i: Inputs) -> None:
    v = _victims(i)
    v["latitud"], v["longitud"] = v.longitud.copy(), v.latitud.copy()
    v.to_csv(i.incidents[0], index=False)


def wrong_city_coordinates(i: Inputs) -> None:
    v = _victims(i)
    has = v.latitud.ne("")
    v.loc[has, "latitud"] = (pd.to_numeric(v.latitud[has]) + 1.0).astype(str)
    v.to_csv(i.incidents[0], index=False)


def placeholder_dates(i: Inputs) -> None:
    """30 gun rows dated 1900-01-01 (the issue: the window stretched to 1900 and the sign flipped)."""
    v = _victims(i)
    extra = _gun(v).head(30).copy()
    extra["fecha_hecho"] = "1900-01-01"
    pd.concat([v, extra]).to_csv(i.incidents[0], index=False)


def epoch_dates(i: Inputs) -> None:
    v = _victims(i)
    extra = _gun(v).head(40).copy()
    extra["fecha_hecho"] = "1970-01-01"
    pd.concat([v, extra]).to_csv(i.incidents[0], index=False)


def typo_far_ahead(i: Inputs) -> None:
    v = _victims(i)
    extra = _gun(v).head(3).copy()
    extra["fecha_hecho"] = "2023-11-20"
    extra2 = extra.copy()
    extra2["fecha_hecho"] = "2061-02-03"
    pd.concat([v, extra2]).to_csv(i.incidents[0], index=False)
    i.kwargs["build_date"] = "2099-01-01"


def partial_last_month_with_a_late_row(i: Inputs) -> None:
    """The extract stops on 2023-12-20; one row is dated 2023-12-31. The issue: the partial
    month then counted as complete."""
    v = _victims(i)
    d = pd.to_datetime(v.fecha_hecho)
    v = v[d <= "2023-12-20"].copy()
    late = _gun(v).head(1).copy()
    late["fecha_hecho"] = "2023-12-31"
    pd.concat([v, late]).to_csv(i.incidents[0], index=False)
    i.kwargs["last_month"] = None


def impossible_dates(i: Inputs) -> None:
    v = _victims(i)
    extra = _gun(v).head(4).copy()
    extra["fecha_hecho"] = ["2020-02-30", "2021-13-01", "2019-04-31", "sin dato"]
    pd.concat([v, extra]).to_csv(i.incidents[0], index=False)


def csv_beside_its_gzip(i: Inputs) -> None:
    gz = i.incidents[0].with_suffix(".csv.gz")
    gz.write_bytes(gzip.compress(i.incidents[0].read_bytes()))
    i.incidents.append(gz)


def cumulative_release_beside_the_old_one(i: Inputs) -> None:
    """The old extract stops at 2022-12; the new cumulative one covers everything to 2023-12,
    with a few revised records in the old months."""
    v = _victims(i)
    old = v[pd.to_datetime(v.fecha_hecho) < "2023-01-01"]
    old_f = i.incidents[0].with_name("victimas_2022.csv")
    old.to_csv(old_f, index=False)
    i.incidents.append(old_f)


def same_record_in_two_files_outside_their_spans(i: Inputs) -> None:
    """Two yearly-style files (to 2019, from 2020); one record of December 2019 was also
    released again in the later file, where it lies outside the file's own span."""
    v = _victims(i)
    d = pd.to_datetime(v.fecha_hecho)
    a, b = v[d < "2020-01-01"].copy(), v[d >= "2020-01-01"].copy()
    late = _gun(a[pd.to_datetime(a.fecha_hecho) >= "2019-12-01"]).head(2)
    b = pd.concat([late, b])
    a.to_csv(i.incidents[0], index=False)
    f2 = i.incidents[0].with_name("victimas_2020_on.csv")
    b.to_csv(f2, index=False)
    i.incidents.append(f2)


def self_intersecting_polygon(i: Inputs) -> None:
    """A bow-tie ring: two corners swapped (the issue: 242 events moved and 112 dropped)."""
    fc = _geo(i)
    ring = fc["features"][7]["geometry"]["coordinates"][0]
    ring[1], ring[2] = ring[2], ring[1]
    _set_geo(i, fc)


def older_release_with_other_column_names(i: Inputs) -> None:
    """The previous release, to 2022, in the older spelling of the columns (FechaHecho, Delito,
    Categoria): a new release of the same period all the same, and superseded."""
    v = _victims(i)
    old = v[pd.to_datetime(v.fecha_hecho) < "2023-01-01"].rename(
        columns={"fecha_hecho": "FechaHecho", "delito": "Delito", "categoria_delito": "Categoria"})
    old.to_csv(i.incidents[0].with_name("victimas_2022_old_names.csv"), index=False)
    i.incidents.append(i.incidents[0].with_name("victimas_2022_old_names.csv"))


def revised_release(i: Inputs) -> None:
    """The new release revised one record in ten (its place moved) in the months the old one
    covers: the old one is still superseded, and the revised places count."""
    v = _victims(i)
    old = v[pd.to_datetime(v.fecha_hecho) < "2023-01-01"].copy()
    f = i.incidents[0].with_name("victimas_2022_before_revision.csv")
    keep = old.copy()
    gun = _gun(keep).index[::10]
    keep.loc[gun, "edad"] = "77"  # the old release had another age on these records
    keep.to_csv(f, index=False)
    i.incidents.append(f)


def two_sources_same_months(i: Inputs) -> None:
    """FGJ victims beside SSC incident points of the same events (the reviewer's SSC points +
    SSC counts case): adding them would double every month."""
    v = _victims(i)
    crime = v.delito.map({"HOMICIDIO POR ARMA DE FUEGO": "HOMICIDIO DOLOSO",
                          "LESIONES DOLOSAS POR DISPARO DE ARMA DE FUEGO": "LESIONES POR ARMA DE FUEGO"}).fillna("ROBO")
    d = pd.to_datetime(v.fecha_hecho)
    pts = pd.DataFrame({"cuadrante": "C-0", "crime": crime, "date": v.fecha_hecho, "hour": "12:00", "year": d.dt.year,
                        "month": d.dt.month, "lat": v.latitud.replace("", "NA"), "long": v.longitud.replace("", "NA"),
                        "id": range(1, len(v) + 1)})
    f = i.incidents[0].with_name("ssc_points.csv")
    pts.to_csv(f, index=False)
    i.incidents.append(f)


def yearly_files_by_filing_year(i: Inputs) -> None:
    """One file per year of filing: 30 % of each December's cases are filed in January and sit in
    the next year's file (the reviewer's case: they superseded 70 % of each December)."""
    v = _victims(i)
    d = pd.to_datetime(v.fecha_hecho)
    year = d.dt.year.copy()
    late = (d.dt.month == 12) & (pd.Series(range(len(v))) % 10 < 3).to_numpy()
    year[late] += 1
    i.incidents[0].unlink()
    i.incidents[:] = []
    for y, part in v.groupby(year.to_numpy()):
        f = i.geography.parent.parent / "incidents" / f"victimas_inicio_{y}.csv"
        part.to_csv(f, index=False)
        i.incidents.append(f)


def cut_four_days_early_with_a_stray_last_day(i: Inputs) -> None:
    v = _victims(i)
    d = pd.to_datetime(v.fecha_hecho)
    v = v[d <= "2023-12-27"].copy()
    late = _gun(v).head(1).copy()
    late["fecha_hecho"] = "2023-12-31"
    late["edad"] = "99"
    pd.concat([v, late]).to_csv(i.incidents[0], index=False)
    i.kwargs["last_month"] = None


def one_typo_decides_day_first(i: Inputs) -> None:
    v = _victims(i)
    d = pd.to_datetime(v.fecha_hecho)
    v = v[d.dt.day <= 12].copy()
    v["fecha_hecho"] = pd.to_datetime(v.fecha_hecho).dt.strftime("%m/%d/%Y")
    v.iloc[5, v.columns.get_loc("fecha_hecho")] = "13/05/2019"
    v.to_csv(i.incidents[0], index=False)


def excel_serial_dates(i: Inputs) -> None:
    v = _victims(i)
    v["fecha_hecho"] = (pd.to_datetime(v.fecha_hecho) - pd.Timestamp("1899-12-30")).dt.days.astype(str)
    v.to_csv(i.incidents[0], index=False)


def ragged_row(i: Inputs) -> None:
    lines = i.incidents[0].read_text().splitlines()
    lines[2000] += ",EXTRA"
    i.incidents[0].write_text("\n".join(lines) + "\n")


def dos_codepage_byte(i: Inputs) -> None:
    # an 'É' written in code page 850 (0x90), a byte cp1252 leaves undefined, far from the start
    data = bytearray(i.incidents[0].read_bytes())
    lines = data.split(b"\n")
    lines[1500] = lines[1500].replace(b",", b",\x90", 1)
    i.incidents[0].write_bytes(b"\n".join(lines))


def ragged_row_quoting_utf8(i: Inputs) -> None:
    # the row arrow quotes in its message mentions 'utf8' and 'row 7': the message is still the ragged row's
    lines = i.incidents[0].read_text().splitlines()
    lines[2000] += ",utf8 row 7"
    i.incidents[0].write_text("\n".join(lines) + "\n")


def repeated_sector_id(i: Inputs) -> None:
    fc = _geo(i)
    fc["features"][1]["properties"]["sector"] = fc["features"][0]["properties"]["sector"]
    _set_geo(i, fc)


def population_not_a_number(i: Inputs) -> None:
    fc = _geo(i)
    fc["features"][2]["properties"]["population"] = "n/d"
    _set_geo(i, fc)


def single_feature_not_a_collection(i: Inputs) -> None:
    _set_geo(i, _geo(i)["features"][0])


def window_beyond_the_records(i: Inputs) -> None:
    i.kwargs["last_month"] = "2024-06"
    i.kwargs["build_date"] = "2024-12-31"


def empty_window(i: Inputs) -> None:
    i.kwargs["first_month"] = "2023-12"
    i.kwargs["last_month"] = "2023-01"


def month_option_not_a_month(i: Inputs) -> None:
    i.kwargs["last_month"] = "2020-13"


def junk_victim_fields(i: Inputs) -> None:
    """Sex, age and case-file date are optional: junk there ('N/D', '-3', 'ayer') never sets a
    row aside nor moves a count (they feed only the report's sex and age table and its note on
    late case files)."""
    v = _victims(i)
    # by value, so the file's repeated records stay exact repeats (a repeat that differed in one
    # column would be a second record, and counted)
    v.loc[v.edad == "31", "sexo"] = "N/D"
    v.loc[v.edad == "32", "edad"] = "-3"
    v.loc[v.edad == "33", "edad"] = "ochenta"
    v.loc[v.edad == "34", "fecha_inicio"] = "ayer"
    v.to_csv(i.incidents[0], index=False)


CASES = {
    # name: (make, outcome, expectation)
    "mixed_iso_and_day_first": (mixed_iso_and_day_first, "error",
                                r"victimas_fgj_demo\.csv: column 'fecha_hecho': mixes date formats: YYYY-MM-DD \(rows 1, 2, 3 .*DD/MM/YYYY or MM/DD/YYYY \(rows 101, 102, 103"),
    "day_first_and_month_first": (day_first_and_month_first, "error",
                                  r"column 'fecha_hecho': mixes day-first and month-first dates: day-first in rows \d+.*month-first in rows \d+"),
    "ambiguous_day_month": (ambiguous_day_month, "error", r"column 'fecha_hecho': .*could be day-first or month-first"),
    "rollout_day_first": (rollout_day_first, "error", r"rollout\.csv: row 1, column 'start': '01/06/2014' is not a date written YYYY-MM-DD"),
    "rollout_header_only": (rollout_header_only, "error", r"rollout\.csv: the rollout has a header but no rows"),
    "truncated_gzip": (truncated_gzip, "error", r"victimas_fgj_demo\.csv\.gz: a truncated or corrupt gzip file"),
    "corrupt_gzip": (corrupt_gzip, "error", r"victimas_fgj_demo\.csv\.gz: (a truncated or corrupt gzip file|not a readable table)"),
    "empty_file": (empty_file, "error", r"victimas_fgj_demo\.csv: the file is empty"),
    "binary_file": (binary_file, "error", r"victimas_fgj_demo\.csv: not a text table"),
    "unknown_header": (unknown_header, "error", r"victimas_fgj_demo\.csv: header row \(row 0\) does not match a known source"),
    "null_geometry": (null_geometry, "error", r"sectores_demo\.geojson: feature 3 \(sector '\w+'\) has no geometry"),
    "point_geometry": (point_geometry, "error", r"sectores_demo\.geojson: feature 5 \(sector '\w+'\): geometry is Point"),
    "not_geojson": (not_geojson, "error", r"sectores_demo\.geojson: not GeoJSON"),
    "projected_geometry": (projected_geometry, "error", r"sectores_demo\.geojson: sector '\w+': .*not degrees: projected"),
    "swapped_geometry": (swapped_geometry, "error", r"sectores_demo\.geojson: sector '\w+': .*latitude and longitude are swapped"),
    "overlapping_sectors": (overlapping_sectors, "error", r"sectores_demo\.geojson: sector polygons overlap: '\w+' and '\w+' share [\d.]+ km2"),
    "swapped_incident_coordinates": (swapped_incident_coordinates, "error",
                                     r"victimas_fgj_demo\.csv: row \d+, columns 'longitud'/'latitud': .* not WGS84 degrees: latitude and longitude look swapped"),
    "wrong_city_coordinates": (wrong_city_coordinates, "error", r"victimas_fgj_demo\.csv: only 0\.0% of .*another city"),
    "placeholder_dates": (placeholder_dates, "quarantine", ("implausible_date", 30, "placeholder date")),
    "epoch_dates": (epoch_dates, "quarantine", ("implausible_date", 40, "placeholder date")),
    "typo_far_ahead": (typo_far_ahead, "quarantine", ("implausible_date", 3, "outside the months the records regularly cover")),
    "partial_last_month_with_a_late_row": (partial_last_month_with_a_late_row, "window", "2023-11"),
    "impossible_dates": (impossible_dates, "quarantine", ("unparseable_date", 4, "see date_raw")),
    "csv_beside_its_gzip": (csv_beside_its_gzip, "same_panel", "superseded"),
    "cumulative_release_beside_the_old_one": (cumulative_release_beside_the_old_one, "same_panel", "superseded"),
    "same_record_in_two_files_outside_their_spans": (same_record_in_two_files_outside_their_spans, "same_panel", "duplicate"),
    "self_intersecting_polygon": (self_intersecting_polygon, "repaired", r"sector '\w+' \(feature 7\): invalid polygon \(Self-intersection"),
    "two_sources_same_months": (two_sources_same_months, "error",
                                r"(ssc_points\.csv \(ssc\) and \S*victimas_fgj_demo\.csv \(fgj\)|victimas_fgj_demo\.csv \(fgj\) and \S*ssc_points\.csv \(ssc\)) are different sources covering the same months"),
    "yearly_files_by_filing_year": (yearly_files_by_filing_year, "same_panel", None),
    "junk_victim_fields": (junk_victim_fields, "same_panel", None),
    "older_release_with_other_column_names": (older_release_with_other_column_names, "same_panel", "superseded"),
    "revised_release": (revised_release, "same_panel", "superseded"),
    "cut_four_days_early_with_a_stray_last_day": (cut_four_days_early_with_a_stray_last_day, "window", "2023-11"),
    "one_typo_decides_day_first": (one_typo_decides_day_first, "error",
                                   r"column 'fecha_hecho': dates could be day-first or month-first: only rows 6 have a number above 12 in the first place"),
    "excel_serial_dates": (excel_serial_dates, "error", r"column 'fecha_hecho': no value is a date in a known format \(e\.g\. row 1: '42\d\d\d'\)"),
    "ragged_row": (ragged_row, "error", r"victimas_fgj_demo\.csv: not a readable table: row 2000 has 23 fields, the header 22"),
    "dos_codepage_byte": (dos_codepage_byte, "error",
                          r"victimas_fgj_demo\.csv: cannot decode as UTF-8 or cp1252: row 1500 \(byte 0x90\) is not UTF-8, row \d+ \(byte 0x[0-9A-F]{2}\) is not cp1252; re-export the file as UTF-8"),
    "ragged_row_quoting_utf8": (ragged_row_quoting_utf8, "error",
                                r"victimas_fgj_demo\.csv: not a readable table: row 2000 has 23 fields, the header 22"),
    "repeated_sector_id": (repeated_sector_id, "error", r"sectores_demo\.geojson: sector id\(s\) repeated: 'D01' in features 0, 1"),
    "population_not_a_number": (population_not_a_number, "error", r"feature 2 \(sector 'D03'\): population 'n/d' is not a number"),
    "single_feature_not_a_collection": (single_feature_not_a_collection, "error", r"a GeoJSON FeatureCollection of sector polygons is expected, not a Feature"),
    "window_beyond_the_records": (window_beyond_the_records, "warning", r"reaches beyond the months the records cover completely \(2016-01 to 2023-12\): its counts in 2024-01 to 2024-06 are zeros that were not observed"),
    "empty_window": (empty_window, "error", r"the study window is empty: its first month 2023-12 is after its last month 2023-01"),
    "month_option_not_a_month": (month_option_not_a_month, "error", r"last_month '2020-13' is not a month written YYYY-MM"),
}


def _build(i: Inputs):
    kw = {"last_month": LAST, "build_date": BUILD_DATE, **i.kwargs}
    return build_panel(i.incidents, i.geography, i.rollout, **kw)


@pytest.fixture(scope="module")
def clean(tmp_path_factory, demo_dir):
    return _build(_base(demo_dir, tmp_path_factory.mktemp("clean")))


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input(name, tmp_path, demo_dir, clean):
    make, outcome, expect = CASES[name]
    i = _base(demo_dir, tmp_path)
    make(i)
    if outcome == "error":
        with pytest.raises(InputError, match=expect) as e:
            _build(i)
        assert "\n" not in str(e.value)  # one line
        return
    b = _build(i)
    a = b.audit
    assert a["rows_in"] == a["rows_used"] + a["rows_quarantined"] == len(b.quarantine) + a["rows_used"]
    if outcome == "quarantine":
        reason, n, detail = expect
        q = b.quarantine[b.quarantine.reason == reason]
        assert (q.detail.str.contains(detail, regex=False)).sum() == n, q.detail.value_counts()
        assert a["window"] == clean.audit["window"]  # the window never moves
        pd.testing.assert_frame_equal(b.panel, clean.panel)
    elif outcome == "window":
        assert a["window"]["last_month"] == expect
    elif outcome == "warning":
        assert any(pd.Series(a["warnings"]).str.contains(expect, regex=True)), a["warnings"]
    elif outcome == "same_panel":
        # nothing counted twice, nothing lost: the panel is the one the single clean file gives
        pd.testing.assert_frame_equal(b.panel, clean.panel)
        if expect is None:
            assert "superseded" not in a["quarantined_by_reason"]
            return
        assert a["quarantined_by_reason"].get(expect, 0) > clean.audit["quarantined_by_reason"].get(expect, 0)
        if expect == "duplicate":
            assert a["duplicates_across_files"] == 2
            assert b.quarantine.detail.str.startswith("same record as victimas_2020_on.csv row").sum() == 2  # the newest copy is kept
        assert a["months_supplied_by_file"]
    elif outcome == "repaired":
        assert any(pd.Series(a["warnings"]).str.contains(expect, regex=True)), a["warnings"]
        assert a["geography"]["repaired"]


def test_every_case_is_checked():
    """The corpus covers each kind of outcome."""
    kinds = {v[1] for v in CASES.values()}
    assert {"error", "quarantine", "repaired", "same_panel", "window", "warning"} <= kinds
