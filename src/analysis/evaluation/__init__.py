"""What is built on ``analysis.impact.estimate``: calibration of a test's size on placebo
adoptions, power for planning the expansion, spillover to neighbouring sectors, and the
sensitivity of the event study to violations of parallel trends (with ``honest``, the
Rambachan-Roth confidence sets). Above the estimators: nothing in ``analysis.impact`` imports it.
"""
