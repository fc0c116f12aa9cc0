"""Rules of the panel step that decide which months and rows count, one small input per rule.

Each test builds the smallest input where the rule it names, and only that rule, decides the
result (issue 14). The end-to-end checks on the demo city are in test_panel.py and test_ingest.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.data.panel import extract_end, last_complete_month, regular_coverage


def _daily(first: str, last: str, per_day: int) -> pd.Series:
    days = pd.date_range(first, last, freq="D")
    return pd.Series(np.repeat(days.to_numpy(), per_day))


def _months(counts: dict[str, int]) -> np.ndarray:
    """Month ordinals repeated by their count: {'2016-01': 50, ...}."""
    return np.concatenate([np.full(n, pd.Period(m, "M").ordinal) for m, n in counts.items()])


def _run(first: str, last: str, n: int) -> dict[str, int]:
    return {str(p): n for p in pd.period_range(first, last, freq="M")}


# -- last complete month ------------------------------------------------------------------------
def test_rule_monthly_data_cover_their_last_month():
    dates = pd.Series(pd.to_datetime(["2020-01-01", "2020-02-01", "2020-03-01"]))
    assert last_complete_month(dates) == pd.Period("2020-03", "M")


def test_rule_an_extract_ending_on_the_months_last_day_keeps_that_month():
    assert last_complete_month(_daily("2019-01-01", "2020-03-31", 40)) == pd.Period("2020-03", "M")


def test_rule_an_extract_cut_before_the_months_end_leaves_that_month_out():
    assert last_complete_month(_daily("2019-01-01", "2020-03-30", 40)) == pd.Period("2020-02", "M")


def test_rule_a_stray_record_on_the_last_day_does_not_complete_a_cut_month():
    d = pd.concat([_daily("2019-01-01", "2020-03-25", 40), pd.Series(pd.to_datetime(["2020-03-31"]))])
    assert extract_end(d) == pd.Timestamp("2020-03-25")
    assert last_complete_month(d) == pd.Period("2020-02", "M")


def test_rule_the_extract_ends_where_records_fall_below_half_their_usual_pace():
    # 40 a day for a year, then 21 a day (above half) for a week, then 19 a day (below half)
    d = pd.concat([_daily("2019-01-01", "2019-12-31", 40), _daily("2020-01-01", "2020-01-07", 21),
                   _daily("2020-01-08", "2020-01-14", 19)])
    assert extract_end(d) == pd.Timestamp("2020-01-07")


def test_rule_the_pace_window_spans_the_days_that_usually_hold_thirty_records():
    # 10 records a day: the window is 3 days, so one empty day does not end the extract
    d = _daily("2019-01-01", "2020-01-31", 10)
    d = d[d != pd.Timestamp("2020-01-30")]
    assert extract_end(d) == pd.Timestamp("2020-01-31")
    # with 40 a day the window is one day: the empty day before the last ends it there
    d = _daily("2019-01-01", "2020-01-31", 40)
    d = d[d != pd.Timestamp("2020-01-31")]
    d = pd.concat([d, pd.Series(pd.to_datetime(["2020-01-31"]))])
    assert extract_end(d) == pd.Timestamp("2020-01-30")


# -- regularly covered months -------------------------------------------------------------------
def _span(lo_hi: tuple[int, int]) -> tuple[str, str]:
    return tuple(str(pd.Period(ordinal=o, freq="M")) for o in lo_hi)


def test_rule_a_stray_early_record_does_not_open_the_span():
    m = _months({"1998-06": 1, **_run("2016-01", "2019-12", 50)})
    assert _span(regular_coverage(m)) == ("2016-01", "2019-12")


@pytest.mark.parametrize("n,covered", [(5, True), (4, False)])
def test_rule_a_month_is_covered_from_a_tenth_of_the_median_month(n, covered):
    # the median month holds 50 records: the last month counts with 5 records, not with 4
    m = _months({**_run("2016-01", "2019-11", 50), "2019-12": n})
    assert _span(regular_coverage(m))[1] == ("2019-12" if covered else "2019-11")


@pytest.mark.parametrize("gap,joined", [(2, True), (3, False)])
def test_rule_covered_months_up_to_two_empty_months_apart_form_one_span(gap, joined):
    after = pd.Period("2017-12", "M") + gap + 1
    m = _months({**_run("2016-01", "2017-12", 50), **_run(str(after), str(after + 11), 50)})
    lo, hi = _span(regular_coverage(m))
    assert lo == "2016-01"
    assert hi == (str(after + 11) if joined else "2017-12")


def test_rule_the_span_with_most_records_wins():
    # a short early span with many records beats a longer later one with fewer
    m = _months({**_run("2010-01", "2010-12", 200), **_run("2016-01", "2017-06", 100)})
    assert _span(regular_coverage(m)) == ("2010-01", "2010-12")
    m = _months({**_run("2010-01", "2010-12", 100), **_run("2016-01", "2017-06", 100)})
    assert _span(regular_coverage(m)) == ("2016-01", "2017-06")


# -- rows: duplicates, window, dates, location --------------------------------------------------
# Two square sectors side by side in Mexico City, and FGJ-style victim rows placed in them.
SQUARES = {"A": (-99.20, 19.40), "B": (-99.19, 19.40)}
GUN = "HOMICIDIO POR ARMA DE FUEGO,HOMICIDIO DOLOSO"


def _sector_file(path, sectors: dict[str, tuple[float, float, float, float, dict]]):
    """A GeoJSON of rectangles: {name: (west, south, width, height, extra properties)}."""
    import json

    feats = [{"type": "Feature", "properties": {"sector": s, **props},
              "geometry": {"type": "Polygon", "coordinates": [[[x, y], [x + w, y], [x + w, y + h], [x, y + h], [x, y]]]}}
             for s, (x, y, w, h, props) in sectors.items()]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    return path


def _geography(tmp_path) -> Path:
    return _sector_file(tmp_path / "sectors.geojson",
                        {s: (x, y, 0.01, 0.01, {"population": 1000}) for s, (x, y) in SQUARES.items()})


def _fgj(path, rows: list[tuple[str, str]], header: str = "fecha_hecho,delito,categoria_delito,latitud,longitud"):
    """rows: (date, sector) -> one gun homicide at the centre of that sector (sector '' : no point)."""
    lines = [header]
    for date, sector in rows:
        x, y = SQUARES.get(sector, (None, None))
        lines.append(f"{date},{GUN},{'' if y is None else y + 0.005},{'' if x is None else x + 0.005}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _monthly(first: str, last: str, per_month: int = 3, sector: str = "A") -> list[tuple[str, str]]:
    return [(f"{p}-{d:02d}", sector) for p in pd.period_range(first, last, freq="M") for d in range(1, per_month + 1)]


def _count(build, sector: str, month: str) -> int:
    p = build.panel
    return int(p.loc[(p.unit == sector) & (p.period == pd.Period(month, "M")), "gun_homicides"].iloc[0])


def test_rule_an_exact_repeat_within_a_file_counts_once(tmp_path):
    from analysis.data.panel import build_panel

    rows = _monthly("2020-01", "2020-12") + [("2020-06-15", "B"), ("2020-06-15", "B")]
    b = build_panel([_fgj(tmp_path / "v.csv", rows)], _geography(tmp_path), last_month="2020-12")
    assert _count(b, "B", "2020-06") == 1
    assert b.audit["quarantined_by_reason"] == {"duplicate": 1}
    assert b.quarantine.row.tolist() == [len(rows)]  # the later copy is the one set aside


def test_rule_the_same_record_in_two_files_is_kept_from_the_newest_file(tmp_path):
    from analysis.data.panel import build_panel

    geo = _geography(tmp_path)
    main = _fgj(tmp_path / "main.csv", _monthly("2020-01", "2020-12") + [("2020-06-15", "B")])
    # late reports: a few records over the same months, one of them also in the main file
    late = _fgj(tmp_path / "late.csv", _monthly("2020-01", "2020-12", 1, "B")[1:] + [("2020-06-15", "B")])
    b = build_panel([late, main], geo, last_month="2020-12")
    assert _count(b, "B", "2020-06") == 2  # the late report of 2020-06-01 and the shared record once
    assert b.audit["duplicates_across_files"] == 1
    q = b.quarantine
    assert q.reason.tolist() == ["duplicate"] and q.file.tolist() == [str(late)]
    assert "main.csv" in q.detail.iloc[0]


def test_rule_rows_outside_the_study_window_are_set_aside(tmp_path):
    from analysis.data.panel import build_panel

    f = _fgj(tmp_path / "v.csv", _monthly("2020-01", "2020-12"))
    b = build_panel([f], _geography(tmp_path), first_month="2020-03", last_month="2020-10")
    assert (str(b.panel.period.min()), str(b.panel.period.max())) == ("2020-03", "2020-10")
    assert b.audit["quarantined_by_reason"] == {"outside_window": 4 * 3}
    assert _count(b, "A", "2020-03") == 3 and _count(b, "A", "2020-10") == 3


@pytest.mark.parametrize("date,why", [("1900-01-01", "placeholder"), ("2021-02-01", "after the build date")])
def test_rule_placeholder_and_future_dates_are_implausible(tmp_path, date, why):
    from analysis.data.panel import build_panel

    f = _fgj(tmp_path / "v.csv", _monthly("2020-01", "2020-12") + [(date, "A")])
    b = build_panel([f], _geography(tmp_path), last_month="2020-12", build_date="2021-01-31")
    assert b.audit["quarantined_by_reason"] == {"implausible_date": 1}
    assert why in b.quarantine.detail.iloc[0]
    assert b.audit["window"]["first_month"] == "2020-01"


def test_rule_the_default_window_ends_at_the_last_complete_month(tmp_path):
    from analysis.data.panel import build_panel

    # every day of 2020-01 to 2020-03-20: March is cut, so the window ends in February
    rows = [(str(d.date()), "A") for d in pd.date_range("2019-01-01", "2020-03-20")]
    b = build_panel([_fgj(tmp_path / "v.csv", rows)], _geography(tmp_path), build_date="2021-01-31")
    assert b.audit["window"]["last_month"] == "2020-02"
    assert b.audit["quarantined_by_reason"] == {"outside_window": 20}


@pytest.mark.parametrize("locate,point_wins", [("point", True), ("id", False)])
def test_rule_location_priority_and_fallback(tmp_path, locate, point_wins):
    """A record whose point is in A but whose recorded id says B counts where the priority says;
    a record with only one usable location counts there whatever the priority."""
    from analysis.data.panel import build_panel

    xa, ya = SQUARES["A"]
    f = tmp_path / "ssc.csv"
    rows = ['"cuadrante","crime","date","hour","year","month","lat","long","id"']
    for k, (sec, lat, lon) in enumerate([("B", ya + 0.005, xa + 0.005),   # disagree: point A, id B
                                         ("B", "NA", "NA"),                # id only: B
                                         ("ZZZ", ya + 0.005, xa + 0.005)]):  # point only: A (unknown id)
        rows.append(f'"{sec}","LESIONES POR ARMA DE FUEGO",2020-01-0{k + 1},"10:00",2020,1,{lat},{lon},{k}')
    f.write_text("\n".join(rows) + "\n")
    b = build_panel([f], _geography(tmp_path), last_month="2020-01", locate=locate)
    counts = b.panel.set_index("unit").gun_injuries
    assert (counts["A"], counts["B"]) == ((2, 1) if point_wins else (1, 2))
    assert b.audit["location"]["point_and_id_disagree"] == 1
