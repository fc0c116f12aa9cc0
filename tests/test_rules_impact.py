"""Rules of the impact layer that decide a published number, one small input per rule (issue 14).

Companion of test_rules.py: each test names the rule it guards and is built so that breaking
that rule, and only it, fails it.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest


# -- calibration: the placebo design and the rejection rate -------------------------------------
def _null_panel(n_units=12, n_periods=20):
    units = [f"U{i:02d}" for i in range(n_units)]
    periods = pd.period_range("2018-01", periods=n_periods, freq="M")
    idx = pd.MultiIndex.from_product([units, periods], names=["unit", "period"])
    return pd.DataFrame({"y": 1.0}, index=idx).reset_index()


def test_rule_calibration_gives_three_sectors_a_start_with_six_months_before_and_three_after(monkeypatch):
    """The report's calibration uses the defaults: 3 placebo sectors, at least 6 periods before
    the start and 3 from it on; every allowed start is drawn, none outside."""
    import analysis.impact as impact
    from analysis.impact.calibration import placebo_size

    seen = []

    def fake_estimate(p, **kw):
        ts = p.drop_duplicates("unit").set_index("unit").treat_start.dropna()
        seen.append((len(ts), ts.iloc[0], ts.nunique(), kw["alpha"]))
        return SimpleNamespace(p_value=0.5, inference=kw.get("inference") or "default")

    monkeypatch.setattr(impact, "estimate", fake_estimate)
    panel = _null_panel()
    chk = placebo_size(panel, outcome="y", method="ppml", n_runs=400, seed=1)
    periods = pd.period_range("2018-01", periods=20, freq="M")
    assert {n for n, *_ in seen} == {3}
    assert {u for _, _, u, _ in seen} == {1}  # one start date per run, shared by the chosen sectors
    starts = {s for _, s, _, _ in seen}
    assert starts == set(periods[6: 20 - 3 + 1])  # 6 periods before the first possible start, 3 from the last
    assert {a for *_, a in seen} == {0.05}
    assert len(chk.p_values) == 400  # the default number of runs is not used here; n_runs is


def test_rule_calibration_default_number_of_runs_is_500(monkeypatch):
    import analysis.impact as impact
    from analysis.impact.calibration import placebo_size

    monkeypatch.setattr(impact, "estimate", lambda p, **kw: SimpleNamespace(p_value=0.5, inference="x"))
    assert len(placebo_size(_null_panel(), outcome="y", method="ppml").p_values) == 500


def test_rule_calibration_refuses_a_panel_too_short_for_its_design():
    from analysis.impact.calibration import placebo_size

    with pytest.raises(ValueError, match="at least 9"):
        placebo_size(_null_panel(n_periods=8), outcome="y", method="ppml", n_runs=1)
    # 9 periods are enough for 6 before and 3 after (the only start is the 7th period)
    import analysis.impact as impact

    seen = []
    orig = impact.estimate
    try:
        impact.estimate = lambda p, **kw: seen.append(p.treat_start.dropna().iloc[0]) or SimpleNamespace(p_value=1.0, inference="x")
        placebo_size(_null_panel(n_periods=9), outcome="y", method="ppml", n_runs=5)
    finally:
        impact.estimate = orig
    assert set(seen) == {pd.Period("2018-07", "M")}


@pytest.mark.parametrize("k,n", [(0, 20), (1, 20), (7, 100), (100, 100), (3, 7)])
def test_rule_rejection_rate_and_its_wilson_interval(k, n):
    """A p-value equal to alpha rejects; the interval is Wilson's (statsmodels as the reference)."""
    from statsmodels.stats.proportion import proportion_confint

    from analysis.impact.calibration import SizeCheck

    p = np.r_[np.full(k, 0.05), np.full(n - k, 0.0501)]
    chk = SizeCheck(method="m", inference="i", alpha=0.05, p_values=p)
    assert chk.rejection_rate == pytest.approx(k / n)
    lo, hi = proportion_confint(k, n, alpha=0.05, method="wilson")
    assert chk.interval == pytest.approx((lo, hi), abs=1e-6)
    row = chk.to_frame().iloc[0]
    assert (row.runs, row.rate_ci_low, row.rate_ci_high) == (n, pytest.approx(lo, abs=1e-6), pytest.approx(hi, abs=1e-6))
