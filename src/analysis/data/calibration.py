"""Summary figures of real Mexico City gun violence that calibrate the demo city.

Measured on the SSC incident points 2013-01 to 2016-08 in
``../shared/data/cdmx-hoyodecrimen`` (incidents assigned to the 72 sectors of 2016 by their
recorded cuadrante), with ``tests/test_calibration.py`` recomputing them from that file.
Only these aggregates are kept in code; the records themselves never enter the repo.
"""

from __future__ import annotations

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
