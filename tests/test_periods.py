import datetime as dt

import pandas as pd
import pytest

from analysis.periods import (
    QuarterError,
    check_reportable,
    latest_complete_quarter,
    latest_reportable_quarter,
    parse_quarter,
    quarter_label,
)


def test_parse_quarter_forms():
    assert parse_quarter("2024Q2") == pd.Period("2024Q2", "Q")
    assert parse_quarter("2024-q2") == pd.Period("2024Q2", "Q")
    assert quarter_label(parse_quarter(" 2019Q4 ")) == "2019Q4"


@pytest.mark.parametrize("bad", ["2024Q5", "2024", "Q2-2024", "", "2024Q0", "24Q1"])
def test_parse_quarter_rejects(bad):
    with pytest.raises(QuarterError, match="YYYYQn"):
        parse_quarter(bad)


def test_latest_complete_quarter():
    assert latest_complete_quarter(dt.date(2026, 11, 27)) == pd.Period("2026Q3", "Q")
    assert latest_complete_quarter(dt.date(2026, 10, 1)) == pd.Period("2026Q3", "Q")
    assert latest_complete_quarter(dt.date(2026, 9, 30)) == pd.Period("2026Q2", "Q")


def test_check_reportable():
    first, last = pd.Period("2016-01", "M"), pd.Period("2026-09", "M")
    today = dt.date(2026, 11, 27)
    check_reportable(pd.Period("2024Q2", "Q"), first_month=first, last_month=last, today=today)
    with pytest.raises(QuarterError, match="not complete yet"):
        check_reportable(pd.Period("2026Q4", "Q"), first_month=first, last_month=last, today=today)
    with pytest.raises(QuarterError, match="data end in 2025-08"):
        check_reportable(pd.Period("2025Q3", "Q"), first_month=first, last_month=pd.Period("2025-08", "M"), today=today)
    with pytest.raises(QuarterError, match="before the data"):
        check_reportable(pd.Period("2015Q4", "Q"), first_month=first, last_month=last, today=today)


def test_latest_reportable_quarter():
    today = dt.date(2026, 11, 27)
    assert latest_reportable_quarter(pd.Period("2026-09", "M"), today) == pd.Period("2026Q3", "Q")
    assert latest_reportable_quarter(pd.Period("2026-08", "M"), today) == pd.Period("2026Q2", "Q")
