"""Summary figures of real Mexico City gun violence that calibrate the demo city.

Measured on the SSC incident points 2013-01 to 2016-08 in
``../shared/data/cdmx-hoyodecrimen`` (incidents assigned to the 72 sectors of 2016 by their
recorded cuadrante), with ``tests/test_demo.py::test_calibration_figures_match_the_real_data`` recomputing them.
Only these aggregates are kept in code; the records themselves never enter the repo.
"""

from __future__ import annotations

import numpy as np

#: Mean and standard deviation across sectors of log(monthly mean count + 0.05).
#: HOMICIDIO DOLOSO in this source counts *all* intentional homicides.
HOMICIDE_LOG_RATE = (0.032, 0.638)
FIREARM_INJURY_LOG_RATE = (0.018, 1.000)
#: Correlation across sectors of the two log rates.
LOG_RATE_CORRELATION = 0.684
#: Negative-binomial shape k (variance = mu + mu^2 / k) of sector-month counts around
#: sector x month-of-series expected values, method of moments.
HOMICIDE_NB_SHAPE = 99.4
FIREARM_INJURY_NB_SHAPE = 14.7
#: City-wide monthly counts, 2013-01 to 2016-08.
CITY_MONTHLY_HOMICIDES = 86.3
CITY_MONTHLY_FIREARM_INJURIES = 115.3
#: Calendar-month factors of the two crimes together (January..December, mean 1).
SEASONALITY = (0.943, 0.914, 1.037, 0.990, 0.955, 1.009, 0.956, 1.047, 1.079, 0.992, 1.027, 1.052)
#: Sector population (2010 census): mean and sd of log population over the 72 sectors.
SECTOR_LOG_POPULATION = (11.532, 0.636)

#: Assumption, not a measurement from the file above: the share of intentional homicides
#: committed with a firearm, used to turn the all-homicide rate into a gun-homicide rate.
GUN_SHARE_OF_HOMICIDES = 0.65

#: Assumption, not a measurement from the file above (it ends in 2016): the city-wide
#: multiplier of every sector's rate over the program's years, as (decimal year, factor) knots
#: joined log-linearly and flat outside them. A rise of 45 % from 2016 to mid-2019 and a decline
#: to 60 % of the 2016 level by late 2026: a swing of the size Mexico City's homicides went
#: through. Because it multiplies every sector's rate, the most violent sectors (the program's)
#: rise and fall most in numbers of victims; the demo city and the validation study
#: (``analysis.validation``) both carry it, so they show what additive comparisons do with it.
CITY_TREND = ((2016.0, 1.0), (2019.5, 1.45), (2026.75, 0.60))


def city_trend(months) -> np.ndarray:
    """``CITY_TREND`` at each month of a monthly PeriodIndex."""
    t = np.asarray(months.year + (months.month - 1) / 12, float)
    knots_t, knots_v = zip(*CITY_TREND)
    return np.exp(np.interp(t, knots_t, np.log(knots_v)))
