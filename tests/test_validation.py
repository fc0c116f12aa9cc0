"""Issue 13: the realistic-city validation study, in small (``make validate`` runs it in full)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import SHARED, needs_shared


@pytest.fixture(scope="module")
def rates():
    from analysis.validation import real_sector_rates

    return real_sector_rates(SHARED)


def test_city_wide_factor_has_the_citys_shape():
    from analysis.validation import MONTHS, city_factor

    f = pd.Series(city_factor(MONTHS), index=MONTHS)
    yearly = f.groupby(f.index.year).mean()
    assert yearly.idxmax() == 2019 and yearly[2019] / yearly[2016] > 1.3  # the rise to 2019
    assert yearly[2026] / yearly[2019] < 0.5  # the long decline after it
    assert f["2020-05"] < f["2020-02"] * 0.85  # the COVID dip


@needs_shared
def test_cities_are_built_as_the_issue_describes(rates):
    from analysis.validation import simulate_city

    assert len(rates) == 72 and rates.gun_injuries.sum() > rates.gun_homicides.sum() > 30
    top40 = set(rates.sector[np.argsort(-(rates.gun_homicides + rates.gun_injuries).to_numpy(), kind="stable")[:40]])
    for scenario, truth in (("zero", 0.0), ("constant", -25.0)):
        c = simulate_city(rates, scenario, seed=3)
        ts = c.panel.drop_duplicates("unit").set_index("unit").treat_start.dropna()
        assert len(ts) == 15 and set(ts.index) <= top40
        assert sorted(ts.value_counts().to_dict().items()) == [(pd.Period("2019-07", "M"), 3), (pd.Period("2020-02", "M"), 4),
                                                               (pd.Period("2022-04", "M"), 4), (pd.Period("2024-01", "M"), 4)]
        assert c.truth_percent == pytest.approx(truth)
    g = simulate_city(rates, "growing", seed=3)
    assert -40 < g.truth_percent < -15
    h = simulate_city(rates, "cohort", seed=3)
    assert -40 < h.truth_percent < -10


@needs_shared
@pytest.mark.slow
def test_small_study_shows_the_additive_bias_and_the_poisson_fix(rates):
    """12 cities without an effect: the additive imputation finds a fall that is not there
    (treated sectors are the most violent and the city-wide change is proportional); the
    Poisson imputation does not. The full study is ``make validate``."""
    from analysis.validation import run, summarise

    runs = run(rates, n_cities=12, scenarios=("zero",), methods=("ppml", "imputation"), workers=1,
               options={"ppml": {"n_perm": 39}, "imputation": {"n_perm": 39}})
    s = summarise(runs).set_index("method")
    assert (s.cities == 12).all()
    assert s.loc["imputation", "bias"] < -5  # a fall of more than 5 % where there is none
    assert abs(s.loc["ppml", "bias"]) < 3 * s.loc["ppml", "bias_mc_se"] + 1.0
