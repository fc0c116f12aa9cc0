"""Calendar helpers: reporting quarters and the months they close.

A report is always for a *complete* quarter: one whose last day has passed and whose
last month the data cover. Everything here is pure and takes ``today`` as an argument
so that tests and reruns can pin the date.
"""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd

_QUARTER_RE = re.compile(r"^(\d{4})\s*-?\s*Q([1-4])$", re.IGNORECASE)


class QuarterError(ValueError):
    """A reporting quarter that is malformed, unknown or not yet complete."""


def parse_quarter(text: str) -> pd.Period:
    """Parse ``'2024Q2'`` (also ``'2024-Q2'``, ``'2024q2'``) into a quarterly Period.

    Raises
    ------
    QuarterError
        If the text is not a year followed by Q1-Q4.
    """
    m = _QUARTER_RE.match(str(text).strip())
    if not m:
        raise QuarterError(f"quarter {text!r} is not of the form YYYYQn with n in 1-4 (for example 2024Q2)")
    return pd.Period(year=int(m.group(1)), quarter=int(m.group(2)), freq="Q")


def quarter_label(q: pd.Period) -> str:
    """The folder and file label of a quarter: ``2024Q2``."""
    return f"{q.year}Q{q.quarter}"


def latest_complete_quarter(today: dt.date | None = None) -> pd.Period:
    """The last quarter whose final day is before ``today``."""
    today = today or dt.date.today()
    return pd.Period(today, freq="Q") - 1


def quarter_months(q: pd.Period) -> pd.PeriodIndex:
    """The three monthly periods of a quarter."""
    return pd.period_range(q.asfreq("M", "start"), q.asfreq("M", "end"), freq="M")


def check_reportable(
    q: pd.Period,
    *,
    first_month: pd.Period,
    last_month: pd.Period,
    today: dt.date | None = None,
) -> None:
    """Raise ``QuarterError`` unless quarter ``q`` is complete and covered by the data.

    Parameters
    ----------
    q : Period
        The quarter asked for.
    first_month, last_month : Period
        First and last complete months in the panel.
    today : date, optional
        The date the report is built (default: today).
    """
    latest = latest_complete_quarter(today)
    label = quarter_label(q)
    if q > latest:
        raise QuarterError(
            f"quarter {label} is not complete yet (the latest complete quarter on "
            f"{(today or dt.date.today()).isoformat()} is {quarter_label(latest)})"
        )
    q_start, q_end = q.asfreq("M", "start"), q.asfreq("M", "end")
    if q_end > last_month:
        raise QuarterError(
            f"quarter {label} ends in {q_end} but the data end in {last_month}: "
            f"the latest quarter the data cover is {quarter_label(_last_covered_quarter(last_month))}"
        )
    if q_start < first_month:
        raise QuarterError(f"quarter {label} starts before the data do ({first_month}): unknown quarter")


def _last_covered_quarter(last_month: pd.Period) -> pd.Period:
    q = last_month.asfreq("Q")
    return q if q.asfreq("M", "end") == last_month else q - 1


def latest_reportable_quarter(last_month: pd.Period, today: dt.date | None = None) -> pd.Period:
    """The newest quarter that is both complete on the calendar and covered by the data."""
    return min(latest_complete_quarter(today), _last_covered_quarter(last_month))
