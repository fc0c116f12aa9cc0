# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Program-wide impact
#
# How much did gun violence fall in the sectors where Alto al Fuego operates, compared with
# what would have happened without the program? The estimates cover every month from each
# sector's start to the end of the reporting quarter.

# %% tags=["parameters"]
quarter = "2024Q2"  # reporting quarter, YYYYQn; the data are cut at its last month
outcome = "shootings"  # panel column: shootings, gun_homicides or gun_injuries
panel_path = "../data/processed/panel.parquet"  # output of `make data`
results_dir = "results"  # where the estimates are written as data
n_placebo = 100  # placebo draws for the SDID interval
n_perm = 999  # calendar reassignments for the TWFE randomization test
seed = 0  # seed of the placebo and permutation draws

# %%
from IPython.display import Markdown, display

from analysis import impact
from analysis.report import content, figures

ctx = content.load_context(panel_path, quarter)
display(Markdown(content.banner(ctx)))

# %% [markdown]
# ## Headline

# %%
main = impact.estimate(ctx.panel, outcome=outcome, method="sdid", n_placebo=n_placebo, seed=seed)
display(Markdown(content.headline(main, ctx)))

# %% [markdown]
# ## Estimates by method
#
# Synthetic difference-in-differences (SDID) is the headline method: it builds, for each
# group of sectors that joined the program in the same month, a weighted comparison from
# sectors never in the program that tracks them before the start. The two-way fixed-effects
# regression (TWFE) is shown as the familiar baseline.

# %%
twfe = impact.estimate(ctx.panel, outcome=outcome, method="twfe", n_perm=n_perm, seed=seed)
display(Markdown(content.estimates_table([main, twfe])))

# %% [markdown]
# ## Effect over time since the start
#
# Each point is the average gap between recorded and counterfactual victims, by months since
# a sector's start (shown up to 24 months; the headline averages all months). Points before
# the start show how well the comparison tracked the treated sectors beforehand: they should
# hover around zero. A run of points above zero just before the start would suggest sectors
# were chosen after a rise, and part of the later fall could be a return to normal.

# %%
fig = figures.event_study(main, demo=ctx.is_demo)
display(fig)

# %% [markdown]
# ## Treated sectors and their counterfactual
#
# Solid: victims recorded in each sector in the program, as rolling 12-month totals. Dashed:
# the SDID estimate of what would have been recorded without the program. The vertical line
# marks the start. Totals from 1 to 4 are not drawn.

# %%
fig = figures.trends(main, demo=ctx.is_demo)
display(fig)

# %% [markdown]
# ## Counts in the treated sectors
#
# Counts from 1 to 4 are shown as "<5" to protect the people involved.

# %%
display(Markdown(content.sector_table(ctx, outcome)))

# %% [markdown]
# ## Context: the whole city
#
# Monthly victims in the sectors in the program and in all other sectors together (3-month
# averages). City-wide swings, such as the 2020 dip, affect both groups; the estimates above
# compare like with like.

# %%
fig = figures.city_series(ctx.panel, outcome, demo=ctx.is_demo)
display(fig)

# %% [markdown]
# ## Data and methods
#
# **Data.** Victim records are classified as gun homicides or non-fatal gun injuries by the
# crime-label table shipped with the workbook, placed in a police sector by the coordinates
# of the event, and counted by sector and month of the event; months without events count
# as zero. Records that could not be used are kept aside with a reason, and the counts
# reconcile.
#
# **Synthetic difference-in-differences** (Arkhangelsky et al., 2021) re-weights sectors
# never in the program, and pre-program months, so that the comparison follows the treated
# sectors before the start; the effect is the change in the gap after the start. Sectors
# that joined in different months are estimated separately and averaged, weighted by their
# treated sector-months. The interval comes from placebo runs in which sectors never in the
# program stand in for the treated ones; each stand-in is drawn among the never-treated
# sectors closest to its treated sector in pre-program level, because count noise grows with
# the level. The SDID p-value uses a normal approximation with that placebo standard error.
#
# **Two-way fixed effects** compares treated and other sectors with sector and month
# effects. Its interval comes from randomization inference: the observed calendar of starts
# is given to randomly chosen sectors many times; its p-value cannot be smaller than one over
# the number of draws plus one. With staggered starts and effects that change over time TWFE
# can be biased; it is shown for reference.
#
# **Units.** Counts are victims (one record per victim), by sector and month of the event.
# Percent effects and their intervals are relative to the estimated victims without the
# program in the treated sector-months.

# %%
display(Markdown(content.data_note(ctx)))
saved = content.save_results([main, twfe], results_dir, "program")
