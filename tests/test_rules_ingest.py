"""Rules of reading the incident files and building the panel that decide a published number (issue 14).

Each test builds the smallest input where the rule it names decides the result: what a reader
takes from a file (separator, encoding, dates, counts, coordinates), the pace rule that ends an
extract, which file supplies which months, and the audit's figures.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from test_rules_audit import _extract
from test_rules_panel import SQUARES, _fgj, _geography, _monthly

from analysis.data.panel import build_panel, extract_end
from analysis.data.readers import InputError, read_incidents

HEADER = "fecha_hecho,delito,categoria_delito,latitud,longitud"
GUN_ROW = "HOMICIDIO POR ARMA DE FUEGO,HOMICIDIO DOLOSO"
SSC_HEADER = '"cuadrante","crime","date","hour","year","month","lat","long","id"'


def _write(tmp_path, lines: list[str], name: str = "v.csv"):
    f = tmp_path / name
    f.write_text("\n".join(lines) + "\n")
    return f


def _ssc(path, rows: list[tuple[str, str, object, object]]):
    """SSC incident points: rows of (date, cuadrante id, lat, lon), one gun injury each."""
    lines = [SSC_HEADER] + [f'"{cid}","LESIONES POR ARMA DE FUEGO",{d},"10:00",{d[:4]},{int(d[5:7])},{lat},{lon},{k}'
                            for k, (d, cid, lat, lon) in enumerate(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _in(sector: str) -> tuple[float, float]:
    x, y = SQUARES[sector]
    return y + 0.005, x + 0.005


# -- the shape of the file: separator, header, encoding ------------------------------------------
def test_rule_a_file_with_a_header_and_no_rows_reads_as_no_records(tmp_path):
    """A header-only file is a table with no records (the panel step then says no row can be
    used): it is not an unreadable file, and nothing is read from a row that is not there."""
    rec, info = read_incidents(_write(tmp_path, [HEADER]))
    assert len(rec) == 0 and info["rows"] == 0 and info["source"] == "fgj"


def test_rule_the_separator_is_decided_by_the_header_row(tmp_path):
    """A ';' file with decimal commas and a place name holding a comma: its data row holds as
    many commas as semicolons, but the header (row 0) has only ';', so ';' separates the fields."""
    f = _write(tmp_path, [HEADER.replace(",", ";") + ";colonia",
                          "2020-01-05;HOMICIDIO POR ARMA DE FUEGO;HOMICIDIO DOLOSO;19,405;-99,195;CENTRO, CUAUHTEMOC"])
    rec, _ = read_incidents(f)
    assert rec.outcome.tolist() == ["gun_homicides"]
    assert (rec.lat.iloc[0], rec.lon.iloc[0]) == (19.405, -99.195)


def test_rule_values_are_read_as_written_text_with_or_without_a_bom(tmp_path):
    """Every column is read as text: an SSC cuadrante id '007' stays '007' (not the number 7),
    and a UTF-8 byte-order mark (Excel's 'CSV UTF-8') in front of that first column changes
    nothing: the same file with and without the mark gives the same records."""
    lat, lon = _in("A")
    text = SSC_HEADER + f'\n007,"LESIONES POR ARMA DE FUEGO",2020-01-05,"10:00",2020,1,{lat},{lon},1\n'
    plain, bom = tmp_path / "plain.csv", tmp_path / "bom.csv"
    plain.write_bytes(text.encode("utf-8"))
    bom.write_bytes(text.encode("utf-8-sig"))
    (a, _), (b, info) = read_incidents(plain), read_incidents(bom)
    assert a.location_id.tolist() == b.location_id.tolist() == ["007"]
    assert info["encoding"] == "utf-8"


def test_rule_a_header_cell_with_a_line_break_does_not_stop_the_file(tmp_path):
    """Spreadsheet exports may wrap a header cell over two lines (quoted): the file is still one
    table and every value of that column is kept as text."""
    lat, lon = _in("A")
    f = _write(tmp_path, [HEADER + ',"nota\nlibre"', f"2020-01-05,{GUN_ROW},{lat},{lon},7"])
    rec, _ = read_incidents(f)
    assert rec.outcome.tolist() == ["gun_homicides"] and rec.date.iloc[0] == pd.Timestamp("2020-01-05")


def _with_byte_at(at: int, token: bytes, filler: bytes = b"2020-01-06,ROBO,DELITO DE BAJO IMPACTO,,\n") -> bytes:
    """An FGJ file with one gun homicide, then non-outcome rows, and `token` starting at byte `at`
    inside a crime label."""
    lat, lon = _in("A")
    body = f"{HEADER}\n2020-01-05,{GUN_ROW},{lat},{lon}\n".encode()
    line = b"2020-01-07,ROBO "
    body += filler * ((at - len(body) - len(line)) // len(filler))
    body += line + b"X" * (at - len(body) - len(line))
    assert len(body) == at
    return body + token + b",DELITO DE BAJO IMPACTO,,\n"


@pytest.mark.parametrize("at,binary", [(4095, True), (4096, False)])
def test_rule_binary_content_is_judged_from_the_first_4096_bytes(tmp_path, at, binary):
    """A NUL byte in the first 4096 bytes (UTF-16, a spreadsheet, a zip) marks a binary file; the
    sniff reads only that much, so a NUL further in (byte 4097 on) is data of a text table."""
    f = tmp_path / "v.csv"
    f.write_bytes(_with_byte_at(at, b"\x00"))
    if binary:
        with pytest.raises(InputError, match="binary content"):
            read_incidents(f)
    else:
        rec, _ = read_incidents(f)
        assert rec.outcome.notna().sum() == 1


def test_rule_a_character_cut_by_the_sniff_sample_is_not_an_encoding_error(tmp_path):
    """The encoding is guessed from the first 64 KiB; a 4-byte UTF-8 character that sample cuts
    after its third byte is a cut, not a wrong encoding: the file is UTF-8, and its accented
    labels are read as written (no mojibake to repair)."""
    f = tmp_path / "v.csv"
    f.write_bytes(_with_byte_at((1 << 16) - 3, "\U0001F642".encode(),
                                "2020-01-06,ROBO A TRANSEÚNTE,DELITO DE BAJO IMPACTO,,\n".encode()))
    rec, info = read_incidents(f)
    assert info["encoding"] == "utf-8" and info["mojibake_repaired"] == 0
    assert rec.crime.iloc[1] == "ROBO A TRANSEÚNTE"


def test_rule_a_file_that_stops_being_utf8_after_the_sniff_sample_is_read_as_cp1252(tmp_path):
    """The first 64 KiB guess UTF-8, but a cp1252 byte ('Ñ' = 0xD1) comes later: the reader falls
    back to cp1252 for the whole file rather than refusing it, and says so."""
    f = tmp_path / "v.csv"
    f.write_bytes(_with_byte_at(70_000, b"\xd1"))
    rec, info = read_incidents(f)
    assert info["encoding"] == "cp1252"
    assert rec.crime.iloc[-1].endswith("X\u00d1") and rec.outcome.notna().sum() == 1


# -- counts in aggregated files -------------------------------------------------------------------
def test_rule_one_negative_count_among_good_ones_stops_a_count_file(tmp_path):
    """A count is a whole number >= 0 on every row: '-1' is refused even when whole and even
    when the other rows are fine (it would subtract an event from its sector-month)."""
    f = _write(tmp_path, ["cuadrante,crime,date,count,year,sector,population",
                          "X-1,HOMICIDIO DOLOSO,2020-01-01,2,2020,A,1",
                          "X-1,HOMICIDIO DOLOSO,2020-02-01,-1,2020,A,1"], "c.csv")
    with pytest.raises(InputError, match=r"c\.csv: row 2, column 'count': '-1' is not a count"):
        read_incidents(f)


# -- coordinates ----------------------------------------------------------------------------------
@pytest.mark.parametrize("first,bad", [((90.0, -99.1), (19.4, 200.0)), ((19.4, -180.0), (95.0, -99.1))])
def test_rule_the_refusal_names_the_first_row_beyond_the_degree_limits(tmp_path, first, bad):
    """Latitude 90 and longitude 180 are still degrees: a row exactly at a limit is fine, and
    the refusal names the row that is beyond one."""
    f = _write(tmp_path, [HEADER, f"2020-03-05,{GUN_ROW},{first[0]},{first[1]}",
                          f"2020-03-06,{GUN_ROW},{bad[0]},{bad[1]}"])
    with pytest.raises(InputError, match=r"v\.csv: row 2, columns"):
        read_incidents(f)


@pytest.mark.parametrize("lat,lon,swapped", [(-99.1, 19.4, True), (180.0, 19.4, True), (-99.1, 90.0, True),
                                             (180.5, 19.4, False), (-99.1, 90.5, False), (-99.1, 500000.0, False)])
def test_rule_coordinates_are_called_swapped_only_when_swapping_makes_them_degrees(tmp_path, lat, lon, swapped):
    """The hint says 'swapped' when the latitude column holds a valid longitude (|x| <= 180) and
    the longitude column a valid latitude (|y| <= 90), limits included; otherwise the numbers
    are not degrees either way (projected coordinates)."""
    f = _write(tmp_path, [HEADER, f"2020-03-05,{GUN_ROW},{lat},{lon}"])
    with pytest.raises(InputError) as e:
        read_incidents(f)
    assert ("look swapped" in str(e.value)) == swapped
    assert ("projected coordinates" in str(e.value)) == (not swapped)


# -- dates ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("n_iso,listed", [(3, "rows 1, 2, 3, e.g."), (4, "rows 1, 2, 3 and 1 more, e.g.")])
def test_rule_a_refusal_lists_three_rows_then_how_many_more(tmp_path, n_iso, listed):
    """A refusal shows the first three rows of each kind, then counts the rest: exactly three
    rows are all shown, with no 'and 0 more'."""
    lat, lon = _in("A")
    lines = [HEADER] + [f"2020-01-0{k + 1},{GUN_ROW},{lat},{lon}" for k in range(n_iso)]
    lines.append(f"05/01/2020,{GUN_ROW},{lat},{lon}")
    with pytest.raises(InputError, match="mixes date formats") as e:
        read_incidents(_write(tmp_path, lines))
    assert f"YYYY-MM-DD ({listed}" in str(e.value)


def test_rule_a_second_number_of_13_settles_month_first(tmp_path):
    """13 cannot be a month: '01/13/2020' proves the column is month-first."""
    lat, lon = _in("A")
    lines = [HEADER] + [f"{d},{GUN_ROW},{lat},{lon}" for d in ("01/13/2020", "02/13/2020", "03/05/2020")]
    rec, _ = read_incidents(_write(tmp_path, lines))
    assert rec.date.dt.strftime("%Y-%m-%d").tolist() == ["2020-01-13", "2020-02-13", "2020-03-05"]


def test_rule_a_tenth_of_the_rows_is_enough_evidence_of_day_first(tmp_path):
    """Day-first is settled when at least a tenth of the rows have a first number above 12 (one
    typo in a long column is not enough): 2 of 20 rows is exactly a tenth."""
    lat, lon = _in("A")
    dates = ["13/01/2020", "14/01/2020"] + [f"{d:02d}/02/2020" for d in range(1, 13)] + \
            [f"{d:02d}/03/2020" for d in range(1, 7)]
    rec, _ = read_incidents(_write(tmp_path, [HEADER] + [f"{d},{GUN_ROW},{lat},{lon}" for d in dates]))
    assert len(dates) == 20
    assert rec.date.iloc[0] == pd.Timestamp("2020-01-13") and rec.date.iloc[2] == pd.Timestamp("2020-02-01")


# -- where an extract ends: the usual pace ----------------------------------------------------------
def _days(counts: list[int], start: str = "2019-01-01") -> pd.Series:
    """Event dates from records per day, from `start` on."""
    days = pd.date_range(start, periods=len(counts), freq="D")
    return pd.Series(np.repeat(days.to_numpy(), counts))


def _last(dates: pd.Series, back: int = 0) -> pd.Timestamp:
    return dates.max() - pd.Timedelta(days=back)


def test_rule_the_pace_window_is_set_by_the_mean_of_the_last_365_days_only():
    """The last 365 days hold exactly 10 records a day on average: 30 records take 3 days. An empty
    day just before them is not part of the mean (it would make the window 4 days). With a tail
    of 4 a day, the 3-day window ending on the tail's second day holds 10+4+4 = 18 >= 15 (half of
    the usual 30) and the next one 12 < 15: the extract ends on the tail's second day."""
    last_year = [11] * 24 + [10] * 337 + [4] * 4
    assert sum(last_year) == 3650
    d = _days([10, 0] + last_year)
    assert extract_end(d) == _last(d, 2)


def test_rule_the_pace_window_is_at_most_fourteen_days():
    """Two records a day would need a 15-day window for 30 records; it is capped at 14 days
    (usual 28, half 14). After the last regular day D one stray record on D+8: the 14 days ending
    there hold 6 x 2 + 1 = 13 < 14, so the extract ends on D+7 (7 x 2 = 14)."""
    d = _days([2] * 365 + [0] * 7 + [1])
    assert extract_end(d) == _last(d, 1)


def test_rule_the_usual_pace_is_the_median_over_the_365_days_before_the_last_window():
    """One-day windows (over 30 records a day). The 365 days before the last one vote: 183 days of
    30 records and 182 of 40, the two oldest of them 30s, so the usual pace is 30 and the last
    day's 16 records are above half of it. The day before those 365 (40 records) has no say:
    with it the median would be 35, and without the two oldest days 40; 16 would then be
    below half."""
    votes = [30, 30] + [30, 40] * 181 + [40]
    assert len(votes) == 365 and votes.count(30) == 183
    d = _days([40] + votes + [16])
    assert extract_end(d) == _last(d)


def test_rule_the_last_window_does_not_vote_on_the_usual_pace():
    """The last window is the one judged: it is not part of the median it is judged against.
    365 voting days of 182 x 30 and 183 x 40 records make the usual pace 40; a last day of 18
    is below half of it (with its own vote the median would fall to 35 and 18 would pass)."""
    votes = [40] + [30, 40] * 182
    assert len(votes) == 365 and votes.count(30) == 182
    d = _days([40] + votes + [18])
    assert extract_end(d) == _last(d, 1)


def test_rule_in_an_extract_shorter_than_a_year_every_earlier_window_votes():
    """Ten days, one-day windows: the first nine days vote (40, then 30 and 40 four times each),
    so the usual pace is 40 and a last day of 18 is below half: the extract ends on day nine."""
    d = _days([40] + [30, 40] * 4 + [18])
    assert extract_end(d) == _last(d, 1)


# -- successive extracts of one source: which file supplies which month ---------------------------
def _month_counts(build, months: list[str]) -> list[int]:
    p = build.panel[build.panel.unit == "A"].set_index("period").gun_homicides
    return [int(p[pd.Period(m, "M")]) for m in months]


SIX = ["2020-01", "2020-02", "2020-03", "2020-04", "2020-05", "2020-06"]

#: (older file, newer file, gun homicides by month in sector A). A record is a day: the same day
#: in both files is the same record. The newer file supplies the months both cover when at
#: least half of the older file's records there are also in the newer one.
SUPERSEDE_CASES = {
    # share 4 of 8 over January to March, but all of it in the first month (then 0 and 0)
    "shared_records_in_the_first_month": (
        {"2020-01": [1, 2, 3, 4], "2020-02": [5, 6], "2020-03": [5, 6]},
        {m: [1, 2, 3, 4] for m in SIX}, SIX, [4] * 6, 8),
    # the same, all of it in the last month
    "shared_records_in_the_last_month": (
        {"2020-01": [5, 6], "2020-02": [5, 6], "2020-03": [1, 2, 3, 4]},
        {m: [1, 2, 3, 4] for m in SIX}, SIX, [4] * 6, 8),
    # the older file runs April to September, the newer July to December: only July to
    # September are superseded (3 of 4 shared, day 9 revised away); April to June stay
    "older_file_reaches_before_the_newer": (
        {**{m: [1, 2, 3, 4] for m in ("2020-04", "2020-05", "2020-06")},
         **{m: [1, 2, 3, 9] for m in ("2020-07", "2020-08", "2020-09")}},
        {str(p): [1, 2, 3, 4] for p in pd.period_range("2020-07", "2020-12", freq="M")},
        ["2020-04", "2020-06", "2020-07", "2020-09", "2020-12"], [4, 4, 4, 4, 4], 12),
    # both end in June; the one with more records comes first and supersedes the other in every
    # month, June included
    "same_last_month": (
        {m: [1, 2, 3, 9] for m in SIX}, {m: [1, 2, 3, 4, 5] for m in SIX}, SIX, [5] * 6, 24),
}


@pytest.mark.parametrize("case", list(SUPERSEDE_CASES))
def test_rule_a_newer_extract_supplies_exactly_the_months_both_cover(tmp_path, case):
    """The share of shared records is taken over all the older file's records in the months
    both files cover (first and last month included), and only those months are superseded:
    they are then counted from the newer file alone, the older file's other months stay."""
    old_days, new_days, months, expected, n_superseded = SUPERSEDE_CASES[case]
    old = _extract(tmp_path / "old.csv", old_days)
    new = _extract(tmp_path / "new.csv", new_days)
    last = max([*old_days, *new_days])
    b = build_panel([old, new], _geography(tmp_path), last_month=last)
    assert _month_counts(b, months) == expected
    q = b.quarantine
    assert (q.reason == "superseded").sum() == n_superseded
    assert set(q.file[q.reason == "superseded"]) == {str(old)}


# -- different sources may not cover the same months -------------------------------------------------
def _fgj_months(path, months: list[str]):
    return _extract(path, {m: [1, 2, 3, 4] for m in months})


def _ssc_months(path, months: list[str]):
    lat, lon = _in("A")
    return _ssc(path, [(f"{m}-{d:02d}", "A", lat, lon) for m in months for d in (5, 6, 7, 8)])


def _span(first: str, last: str) -> list[str]:
    return [str(p) for p in pd.period_range(first, last, freq="M")]


def test_rule_sources_covering_different_months_are_both_used(tmp_path):
    """FGJ victims for January to June and SSC points for September to December describe
    different months: nothing is counted twice, so both are kept."""
    fgj = _fgj_months(tmp_path / "fgj.csv", _span("2020-01", "2020-06"))
    ssc = _ssc_months(tmp_path / "ssc.csv", _span("2020-09", "2020-12"))
    b = build_panel([fgj, ssc], _geography(tmp_path), last_month="2020-12")
    p = b.panel[b.panel.unit == "A"].set_index("period")
    assert p.gun_homicides[pd.Period("2020-03", "M")] == 4 and p.gun_injuries[pd.Period("2020-10", "M")] == 4


@pytest.mark.parametrize("fgj_months,ssc_months", [(("2020-01", "2020-06"), ("2020-06", "2020-12")),
                                                   (("2020-06", "2020-12"), ("2020-01", "2020-06"))],
                         ids=["ssc_starts_in_the_fgj_last_month", "ssc_ends_in_the_fgj_first_month"])
def test_rule_sources_sharing_a_single_month_are_refused(tmp_path, fgj_months, ssc_months):
    """One month covered by both sources is enough: its events would be added together."""
    fgj = _fgj_months(tmp_path / "fgj.csv", _span(*fgj_months))
    ssc = _ssc_months(tmp_path / "ssc.csv", _span(*ssc_months))
    with pytest.raises(InputError, match=r"different sources covering the same months \(2020-06 to 2020-06\)"):
        build_panel([fgj, ssc], _geography(tmp_path), last_month="2020-12")


@pytest.mark.parametrize("ssc_months", [("2020-01", "2020-02"), ("2020-10", "2020-11")],
                         ids=["inside_the_first_file_only", "inside_the_second_file_only"])
def test_rule_a_source_covers_the_months_of_all_its_files(tmp_path, ssc_months):
    """FGJ files for January to June and April to December (no shared records, so both are kept):
    the source covers January to December, and SSC points in months only one of the files
    covers are refused as well."""
    f1 = _fgj_months(tmp_path / "fgj1.csv", _span("2020-01", "2020-06"))
    f2 = _extract(tmp_path / "fgj2.csv", {m: [10, 11, 12, 13] for m in _span("2020-04", "2020-12")})
    ssc = _ssc_months(tmp_path / "ssc.csv", _span(*ssc_months))
    with pytest.raises(InputError, match="different sources covering the same months"):
        build_panel([f1, f2, ssc], _geography(tmp_path), last_month="2020-12")


# -- the audit ------------------------------------------------------------------------------------
def test_rule_the_window_warning_names_only_the_months_beyond_the_records(tmp_path):
    """A window opened two months before the records start, ending where they end: the warning
    names the two early months as unobserved zeros, and no month at the end."""
    f = _fgj(tmp_path / "v.csv", _monthly("2020-01", "2020-12", per_month=1))
    b = build_panel([f], _geography(tmp_path), first_month="2019-11")
    assert b.audit["window"] == {"first_month": "2019-11", "last_month": "2020-12", "months": 14}
    assert b.audit["warnings"] == [
        "the window 2019-11 to 2020-12 reaches beyond the months the records cover completely (2020-01 to "
        "2020-12): its counts in 2019-11 to 2019-12 are zeros that were not observed"]


def test_rule_the_audit_counts_rows_placed_by_point_and_by_id_apart(tmp_path):
    """Three records with a point in a sector and one with only a recorded id: 3 placed by
    point, 1 by id."""
    lat, lon = _in("A")
    f = _ssc(tmp_path / "ssc.csv", [("2020-01-01", "A", lat, lon), ("2020-01-02", "ZZZ", lat, lon),
                                    ("2020-01-03", "B", lat, lon), ("2020-01-04", "B", "NA", "NA")])
    loc = build_panel([f], _geography(tmp_path), last_month="2020-01").audit["location"]
    assert (loc["by_point"], loc["by_id"], loc["unassigned"]) == (3, 1, 0)


def test_rule_the_point_match_rate_is_zero_when_no_record_has_coordinates(tmp_path):
    """Records placed by id only: no point to match, the rate is 0 (a number: audit.json stays
    valid JSON, which has no NaN)."""
    f = _ssc(tmp_path / "ssc.csv", [("2020-01-01", "A", "NA", "NA"), ("2020-01-02", "B", "NA", "NA")])
    audit = build_panel([f], _geography(tmp_path), last_month="2020-01").audit
    assert audit["location"]["points_with_coordinates"] == 0
    assert audit["location"]["point_match_rate"] == 0.0
    json.dumps(audit["location"], allow_nan=False)
