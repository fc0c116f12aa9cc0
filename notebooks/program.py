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
n_perm = 999  # calendar reassignments for the randomization tests (headline, additive imputation, TWFE)
n_placebo = 200  # placebo draws for the SDID comparison interval
n_calibration = 100  # placebo runs of the calibration check
n_power = 60  # simulated rollouts per cell of the planning table
seed = 0  # seed of every random draw

# %%
from IPython.display import Markdown, display

from analysis import impact
from analysis.evaluation.calibration import placebo_size
from analysis.evaluation.spillover import spillover
from analysis.report import content, figures, results_files

ctx = content.load_context(panel_path, quarter)
display(Markdown(content.banner(ctx)))

# %% [markdown]
# ## Headline

# %%
main = impact.estimate(ctx.panel, outcome=outcome, method="ppml", n_perm=n_perm, seed=seed)
display(Markdown(content.headline(main, ctx)))

# %% [markdown]
# ## Estimates by method
#
# The headline method is the Poisson imputation (PPML): it learns each sector's usual level and
# each month's city-wide level from months without the program only, as multiplicative factors,
# and compares what was recorded with that prediction. The imputation difference-in-differences
# of Borusyak, Jaravel and Spiess (2024) does the same with additive levels; synthetic
# difference-in-differences (SDID) is a differently built comparison; the classic two-way
# fixed-effects regression (TWFE) is shown for reference. Why the headline is the Poisson one is
# the subject of the next section.

# %%
additive = impact.estimate(ctx.panel, outcome=outcome, method="imputation", n_perm=n_perm, seed=seed)
sdid = impact.estimate(ctx.panel, outcome=outcome, method="sdid", n_placebo=n_placebo, seed=seed)
twfe = impact.estimate(ctx.panel, outcome=outcome, method="twfe", n_perm=n_perm, seed=seed)
display(Markdown(content.estimates_table([main, additive, sdid, twfe], noun=content.record_noun(ctx))))

# %% [markdown]
# ## What the comparison assumes: trends in proportions or in numbers

# %%
display(Markdown(content.assumptions_text(main, additive, ctx, content.validation_figures())))

# %% [markdown]
# ## Effect over time since the start
#
# Each point is the gap between recorded and predicted victims, in percent of the predicted,
# by months since a sector's start (shown up to 24 months; the headline pools all months).
# Points before the start show how well the prediction fitted the treated sectors beforehand:
# they should hover around zero. A run of points above zero just before the start would suggest
# sectors were chosen after a rise, and part of the later fall could be a return to normal.

# %%
fig = figures.event_study(main, demo=ctx.is_demo, noun=content.record_noun(ctx))
display(fig)

# %% [markdown]
# ### How much could a departure from parallel trends change this?
#
# The headline assumes that, without the program, treated sectors would have followed the
# same proportional trend as the others. The table allows that assumption to fail after the
# start by up to a multiple of the largest quarter-to-quarter departure seen before it, and
# shows the range of effects still consistent with the data, on the headline's own scale
# (percent of the predicted victims, first year). Method: relative magnitudes (Rambachan and
# Roth 2023).

# %%
sens, sens_quarters = content.relative_magnitudes_or_none(main, mbar=(0.0, 0.25, 0.5, 1.0))
sens_text, sens_table = content.sensitivity_text(sens, sens_quarters)
display(Markdown(sens_text))
if not sens.empty:
    display(figures.sensitivity(sens, demo=ctx.is_demo, noun=content.record_noun(ctx)))
    display(Markdown(sens_table))

# %% [markdown]
# ## Treated sectors and their counterfactual
#
# Solid: victims recorded in each sector in the program, as rolling 12-month totals. Dashed:
# the predicted victims without the program. The vertical line marks the start. Totals from
# 1 to 4 are not drawn.

# %%
fig = figures.trends(main, demo=ctx.is_demo, exclude=content.hidden_sectors(ctx, outcome), noun=content.record_noun(ctx))
display(fig)

# %% [markdown]
# ## Counts in the treated sectors
#
# Counts from 1 to 4 are shown as "<5" to protect the people involved, and a count that would
# give one away when set against another figure of this report as "n/p" (not published).

# %%
display(Markdown(content.sector_table(ctx, outcome)))

# %% [markdown]
# ## Context: the whole city

# %%
display(Markdown(content.city_text(ctx)))
fig = figures.city_series(ctx.panel, outcome, demo=ctx.is_demo, noun=content.record_noun(ctx))
display(fig)

# %% [markdown]
# ## Calibration: can the method be trusted with so few sectors?
#
# With only a handful of sectors in the program, some standard methods find effects that are
# not there. To check, the headline method is run many times on the sectors never in the
# program, each time pretending that three random sectors started it in a random month. A
# well-calibrated 5% test finds an "effect" in about 5% of these runs. The classic regression
# with clustered standard errors is shown for contrast. (The check on 200 simulated cities with
# the program's own design is in the section on assumptions above.)

# %%
never = content.calibration_panel(ctx)
checks = [
    placebo_size(never, outcome=outcome, method="ppml", n_runs=n_calibration, n_perm=199, ci=False, seed=seed),
    placebo_size(never, outcome=outcome, method="twfe", inference="cluster", n_runs=n_calibration, seed=seed,
                 event_window=None),
]
display(Markdown(content.calibration_text(checks)))
fig = figures.calibration(checks, demo=ctx.is_demo)
display(fig)

# %% [markdown]
# ## Neighbouring sectors: displacement or diffusion?
#
# Violence pushed out of a sector may reappear next door; or calm may spread. Sectors that
# border a sector in the program are therefore not used as comparisons, and their own change
# is estimated from the first start among their neighbours.

# %%
spill = spillover(ctx.panel, content.load_adjacency(panel_path), outcome=outcome, n_perm=n_perm, seed=seed)
display(Markdown(content.spillover_text(spill)))
display(Markdown(content.estimates_table([spill.main, spill.exposed], noun=content.record_noun(ctx),
                                         labels=["Sectors in the program", "Their neighbours"])))

# %% [markdown]
# ## Planning the expansion: what effect could be detected?
#
# The smallest reduction in victims that the headline test would detect four times out of
# five (80% power, 5% test), by the number of sectors in the program and the months observed
# after the start. Simulated on this city's sectors never in the program, with their own
# month-to-month variation.

# %%
plan_md, plan = content.planning_table(never, outcome, n_sims=n_power, seed=seed)
display(Markdown(plan_md))

# %% [markdown]
# ## Data and methods
#
# **Poisson imputation** (the headline; Wooldridge 2023, the multiplicative form of Borusyak,
# Jaravel and Spiess 2024) fits a sector factor and a month factor to the sector-months without
# the program by Poisson (pseudo) maximum likelihood, predicts each treated sector-month as
# their product, and reports recorded / predicted - 1 over the treated sector-months. It never
# compares treated sectors with sectors already treated, so staggered starts and effects that
# change over time do not bias it. Its interval and p-value come from placebo runs: the
# observed calendar of starts is given many times to sectors never in the program that were at
# least as violent before it as the least violent of its sectors (the program chose among the
# most violent). The gap between recorded and predicted victims of the program's sectors, in
# standard deviations (Poisson, plus the placebos' variance beyond it), is set against the
# placebos' gaps; the interval collects the percent effects that comparison does not reject.
#
# **Imputation difference-in-differences** (Borusyak, Jaravel and Spiess, 2024) does the same
# with an additive sector level and month level, and averages recorded minus predicted, with
# randomization inference over all sectors. It assumes parallel trends in numbers of victims
# (see the section on assumptions).
#
# **Synthetic difference-in-differences** (Arkhangelsky et al., 2021) re-weights sectors never
# in the program, and pre-program months, so that the comparison follows the treated sectors
# before the start; cohorts that started in different months are averaged by treated
# sector-months. Its interval comes from placebo runs in which sectors never in the program
# stand in for the treated ones (normal approximation). Like the additive imputation it
# compares numbers of victims, and it overstates a fall when city-wide changes are proportional
# (measured in reports/validation/; synthetic control, not shown here, has the opposite bias).
#
# **Two-way fixed effects** compares treated and other sectors with sector and month
# effects, with randomization inference. It can be biased with staggered starts; it is shown
# for reference.

# %%
display(Markdown(content.data_text(ctx)))
display(Markdown(content.data_note(ctx)))
saved = [  # the results files (analysis.report.results_files); nothing is shown
    results_files.save_results([main, additive, sdid, twfe], results_dir, "program", ctx=ctx),
    results_files.save_calibration(checks, results_dir),
    results_files.save_spillover(spill, results_dir, ctx),
    results_files.save_power(plan, results_dir),
    results_files.save_sensitivity(sens, results_dir),
]
