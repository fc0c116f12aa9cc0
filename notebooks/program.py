# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Alto al Fuego (.venv)
#     language: python
#     name: alto-al-fuego
# ---

# %% [markdown]
# # Program-wide impact
#
# How much did gun violence fall in the sectors where Alto al Fuego operates, compared with
# what would have happened without the program? The estimates cover every month from each
# sector's start to the end of the reporting quarter.

# %% tags=["parameters"] editable=false
# Locked: these are the build's defaults. To try other values, set them in a cell below.
quarter = ""  # reporting quarter, YYYYQn; empty: the latest complete quarter the data cover, as `make report`
outcome = "shootings"  # panel column: shootings, gun_homicides or gun_injuries
panel_path = "../data/processed/panel.parquet"  # output of `make data`
results_dir = "results"  # where the estimates are written as data
reports_dir = "../reports"  # published reports: the latest earlier quarter's is compared with this one
activities_path = ""  # program activities (data/raw/program/activities.csv); empty: none given
cost_config = "../config/cost.toml"  # cost parameters and their sources
method = "ppml"  # the headline's method: ppml (validated as the headline), imputation, gardner, cs, sa, sdid, sc, twfe
n_perm = 999  # calendar reassignments for the randomization tests (headline, additive imputation, TWFE)
n_placebo = 200  # placebo draws for the SDID comparison interval
seed = 0  # seed of every random draw
languages = "en"  # languages of the texts shown: "en", "es" or "en es" (the build shows both editions)
edition = "public"  # "internal" shows counts from 1 to 4 (CONFIDENTIAL)
geography_path = ""  # sector polygons (GeoJSON, the build's snapshot); empty: no map

# %%
import pandas as pd

from analysis import impact
from analysis.evaluation.cost import load_costs
from analysis.evaluation.influence import leave_one_out
from analysis.evaluation.pretrends import anticipation, pretrend_test
from analysis.report import (
    breakdown,
    content,
    diagnostics,
    disclosure,
    figures,
    history,
    implementation,
    maps,
    results_files,
)
from analysis.report.i18n import set_languages, show
from analysis.report.workbench import interactive

interactive()  # in JupyterLab: edits to src/analysis are picked up without a restart
set_languages(languages)  # each text below is shown once per language, from the same numbers
disclosure.set_edition(edition)
ctx = content.load_context(panel_path, quarter)  # a bad quarter stops here, in one line
content.check_parameters(ctx, outcome, method=method)  # and a bad outcome or sector here, listing the valid ones
noun = content.record_noun(ctx)  # 'victims' or 'incidents': a key, shown in each language
show(lambda: content.banner(ctx))

# %% [markdown]
# ## Headline

# %%
main = impact.estimate(ctx.panel, outcome=outcome, method=method, n_perm=n_perm, seed=seed)
show(lambda: content.headline(main, ctx))
show(lambda: content.method_note(method))  # nothing with the validated headline method
pre = pretrend_test(ctx.panel, outcome=outcome, n_perm=n_perm, seed=seed)  # shown in full under the event study
show(lambda: diagnostics.headline_caveat(pre))
if geography_path:  # where the program is: its sectors by start date and their neighbours
    polygons = maps.load_sectors(geography_path)
    adjacency = content.load_adjacency(panel_path)
    show(lambda: maps.program_map(polygons, ctx, adjacency, demo=ctx.is_demo))

# %% [markdown]
# ## This quarter and the trend
#
# The headline pools every month since each start. Below, the same estimate is taken apart by
# calendar period: the reporting quarter, the last four quarters and each year.

# %%
trend = breakdown.trend_rows(main, ctx)
show(lambda: breakdown.trend_md(trend, noun, ctx.label)[0])
show(lambda: breakdown.trend_md(trend, noun, ctx.label)[1], caption="The effect by period")
quarters = breakdown.quarter_rows(main, ctx)
show(lambda: figures.by_quarter(quarters, main.att_percent, demo=ctx.is_demo))

# %% [markdown]
# ### Since the last report

# %%
previous = history.find_previous(reports_dir, ctx.label)
changes = history.month_changes(previous, ctx.panel) if previous else None
same_window = None
if previous is not None:  # the earlier report's months and sectors, on today's records
    before = history.cut_to(ctx.panel, pd.Period(previous.label, "Q").asfreq("M", "end"),
                            history.treated_then(previous))
    same_window = impact.estimate(before, outcome=outcome, method=method, n_perm=n_perm, seed=seed)
show(lambda: history.previous_md(previous, main, changes, same_window)[0])
show(lambda: history.previous_md(previous, main, changes, same_window)[1], caption="This report and the last")

# %% [markdown]
# ## By outcome and by start cohort
#
# Gun homicides and non-fatal gun injuries apart, each with the headline's method (Poisson
# imputation, a count model) and inference; then the headline by the month the sectors started.

# %%
by_outcome = {o: impact.estimate(ctx.panel, outcome=o, method=method, n_perm=n_perm, seed=seed)
              for o in breakdown.outcomes_to_show(ctx, outcome)}
by_outcome[outcome] = main
outcomes = breakdown.outcome_rows(by_outcome, ctx)
show(lambda: breakdown.outcome_md(outcomes, ctx), caption="The effect by outcome")
cohorts = breakdown.cohort_rows(main, ctx)
show(lambda: breakdown.cohort_text(cohorts))
show(lambda: breakdown.cohort_md(cohorts), caption="The effect by start cohort")

# %% [markdown]
# ## Rates and who the victims were
#
# Counts per 100,000 inhabitants per year (the sectors' population from the geography file),
# and the victims in the program's sectors since each start by sex and age group. Counts from 1
# to 4 are shown as "<5", and a count that would give one away as "n/p".

# %%
rates = breakdown.rate_rows(main, ctx)
show(lambda: breakdown.rate_md(rates, noun), caption="Rates per 100,000 inhabitants per year")
sex_age = breakdown.sex_age_rows(ctx, outcome)
show(lambda: breakdown.sex_age_md(sex_age, noun), caption="Victims by sex and age group")

# %% [markdown]
# ## What the program did
#
# Activities by component: Justice (Justicia), Community (Comunidad) and Direct communication
# (Comunicación directa).

# %%
acts = implementation.load_activities(activities_path, ctx)
show(lambda: implementation.activity_md(acts, ctx)[0])
if acts is not None:
    show(lambda: implementation.activity_md(acts, ctx)[1], caption="Activities by component and quarter")
    show(lambda: implementation.sector_md(acts, ctx), caption="Activities this quarter by sector and component")
    activity_outcome = implementation.activity_vs_outcome(acts, main, ctx)
    show(lambda: figures.activity_vs_outcome(activity_outcome, demo=ctx.is_demo))
    show(implementation.activity_caveat)

# %% [markdown]
# ## What the violence averted is worth

# %%
costs = load_costs(cost_config)
fatal, nonfatal = breakdown.averted(outcomes, "gun_homicides"), breakdown.averted(outcomes, "gun_injuries")
cost = implementation.cost_rows(fatal, nonfatal, costs)
show(lambda: implementation.cost_md(cost, costs, fatal, nonfatal, noun))

# %% [markdown]
# ## Estimates by method
#
# The headline method is the Poisson imputation (PPML): it learns each sector's usual level and
# each month's city-wide level from months without the program only, as multiplicative factors,
# and compares what was recorded with that prediction. The imputation difference-in-differences
# of Borusyak, Jaravel and Spiess (2024) does the same with additive levels; synthetic
# difference-in-differences (SDID) is a differently built comparison; the classic two-way
# fixed-effects regression (TWFE) is shown for reference. Each row names the test behind its
# interval and p-value; the calibration section checks the headline's.

# %%
others = {m: impact.estimate(ctx.panel, outcome=outcome, method=m, seed=seed,
                             **({"n_placebo": n_placebo} if m == "sdid" else {"n_perm": n_perm}))
          for m in content.COMPARISON_METHODS if m != method}  # ppml, imputation, sdid, twfe
by_method = [main, *others.values()]  # the headline first
show(lambda: content.estimates_table(by_method, noun=noun), caption="Estimates by method")

# %% [markdown]
# ## What the comparison assumes: trends in proportions or in numbers

# %%
validation = content.validation_figures()
poisson, additive = ({**others, method: main}[m] for m in ("ppml", "imputation"))
show(lambda: content.assumptions_text(poisson, additive, ctx, validation))

# %% [markdown]
# ## Effect over time since the start
#
# Each point is the gap between recorded and predicted victims, in percent of the predicted,
# by months since a sector's start (shown up to 24 months; the headline pools all months).
# Points before the start show how well the prediction fitted the treated sectors beforehand:
# they should hover around zero. A run of points above zero just before the start would suggest
# sectors were chosen after a rise, and part of the later fall could be a return to normal.

# %%
show(lambda: figures.event_study(main, demo=ctx.is_demo, noun=noun))
show(lambda: diagnostics.pretrend_md(pre, main, noun))

# %% [markdown]
# ### Anticipation, and how much a departure from parallel trends could change this
#
# The sensitivity table allows the parallel-trends assumption to fail after the start by up to a
# multiple of the largest quarter-to-quarter departure seen before it, and shows the range of
# effects still consistent with the data, on the headline's own scale. Method: relative
# magnitudes (Rambachan and Roth 2023).

# %%
antic = [anticipation(ctx.panel, outcome=outcome, months=m, n_perm=n_perm, seed=seed) for m in (3, 12)]
loo = leave_one_out(ctx.panel, outcome=outcome, n_perm=n_perm, seed=seed,  # does one sector carry the result?
                    groups=content.unit_groups(ctx))
sens, sens_quarters = content.relative_magnitudes_or_none(main, mbar=(0.0, 0.25, 0.5, 1.0))
show(lambda: diagnostics.robustness_md(main, antic, sens, sens_quarters, loo).split("\n\n")[0])
show(lambda: diagnostics.robustness_md(main, antic, sens, sens_quarters, loo).split("\n\n")[1],
     caption="Anticipation and leaving one sector out")
show(lambda: content.sensitivity_text(sens, sens_quarters)[0])
if not sens.empty:
    show(lambda: figures.sensitivity(sens, demo=ctx.is_demo, noun=noun))
    show(lambda: content.sensitivity_text(sens, sens_quarters)[1], caption="Sensitivity to departures from parallel trends")

# %%
saved = [  # the results files (analysis.report.results_files); nothing is shown
    results_files.save_results(by_method, results_dir, "program", ctx=ctx),  # the headline's row first
    results_files.save_sensitivity(sens, results_dir),
    *breakdown.save(results_dir, trend=trend, quarters=quarters, outcomes=outcomes, cohorts=cohorts, rates=rates,
                    sex_age=sex_age, pretrends=pre, anticipations=antic, main=main, leave_one_out=loo),
    implementation.save(results_dir, acts, ctx, cost),
    history.save(results_dir, previous, main, same_window, changes),
]
