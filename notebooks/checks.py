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
# # Context, checks and planning

# %% tags=["parameters"] editable=false
# Locked: these are the build's defaults. To try other values, set them in a cell below.
quarter = ""  # reporting quarter, YYYYQn; empty: the latest complete quarter the data cover, as `make report`
outcome = "shootings"  # panel column: shootings, gun_homicides or gun_injuries
panel_path = "../data/processed/panel.parquet"  # output of `make data`
results_dir = "results"  # where the estimates are written as data
method = "ppml"  # the headline's method: ppml (validated as the headline), imputation, gardner, cs, sa, sdid, sc, twfe
n_perm = 999  # calendar reassignments for the randomization tests (headline, additive imputation, TWFE)
n_calibration = 500  # placebo runs of the calibration check
n_power = 60  # simulated rollouts per cell of the planning table
seed = 0  # seed of every random draw
languages = "en"  # languages of the texts shown: "en", "es" or "en es" (the build shows both editions)
edition = "public"  # "internal" shows counts from 1 to 4 (CONFIDENTIAL)

# %%
from analysis import impact
from analysis.evaluation.calibration import program_calibration
from analysis.evaluation.power import planning
from analysis.evaluation.spillover import spillover
from analysis.report import content, diagnostics, disclosure, figures, limitations, results_files
from analysis.report.i18n import set_languages, show
from analysis.report.workbench import interactive

interactive()  # in JupyterLab: edits to src/analysis are picked up without a restart
set_languages(languages)  # each text below is shown once per language, from the same numbers
disclosure.set_edition(edition)
ctx = content.load_context(panel_path, quarter)  # a bad quarter stops here, in one line
content.check_parameters(ctx, outcome, method=method)  # and a bad outcome or sector here, listing the valid ones
noun = content.record_noun(ctx)
show(lambda: content.banner(ctx))

# %% [markdown]
# ## Context: the whole city

# %%
show(lambda: content.city_text(ctx))
show(lambda: figures.city_series(ctx.panel, outcome, demo=ctx.is_demo, noun=noun))

# %% [markdown]
# ## Neighbouring sectors: displacement or diffusion?
#
# Violence pushed out of a sector may reappear next door; or calm may spread. In this check,
# sectors that border a sector in the program are left out of the comparison (the headline keeps
# them), and their own change is estimated from the first start among their neighbours.

# %%
spill = spillover(ctx.panel, content.load_adjacency(panel_path), outcome=outcome, n_perm=n_perm, seed=seed)
show(lambda: content.spillover_text(spill))
show(lambda: content.spillover_table(spill, noun=noun), caption="The program's sectors and their neighbours")

# %% [markdown]
# ## Calibration: can the tests be trusted with so few sectors?
#
# With only a handful of sectors in the program, some standard methods find effects that are
# not there. To check, the headline's test is run many times on the sectors never in the
# program, each time giving the program's own calendar of starts to sectors drawn at random:
# there is no effect to find. A common alternative, the regression with standard errors
# clustered by sector, is checked the same way for contrast.

# %%
never = content.calibration_panel(ctx)
calendar = content.program_calendar(ctx)
headline_check, _ = program_calibration(never, outcome=outcome, method=method, calendar=calendar,
                                               n_runs=n_calibration, n_perm=n_perm, ci=False, seed=seed,
                                               event_window=None)  # the p-value needs no event study
headline_check.name = content.HEADLINE_TEST
cluster_check, _ = program_calibration(never, outcome=outcome, method="twfe", inference="cluster",
                                              calendar=calendar, n_runs=n_calibration, seed=seed, event_window=None)
cluster_check.name = content.CLUSTER_TEST
checks = [headline_check, cluster_check]
point = impact.estimate(ctx.panel, outcome=outcome, method=method, n_perm=n_perm, seed=seed, ci=False)  # the headline's point
def design():  # the design in words, in the language being shown
    return diagnostics.calibration_design(ctx, calendar, n_calibration, n_perm,
                                          pool=diagnostics.pool_size(headline_check.inference),
                                          headline_pool=diagnostics.pool_size(point.inference.label))
show(lambda: diagnostics.calibration_md(checks, design()))
show(lambda: figures.calibration(checks, demo=ctx.is_demo))

# %% [markdown]
# ## Planning the expansion: what effect could be detected?
#
# The smallest reduction in victims that the headline's kind of test would detect four times out
# of five (80% power, 5% test), by the number of sectors in the program and the months observed
# after the start, and for the program as it is. Simulated on this city's sectors never in the
# program, with their own month-to-month variation.

# %%
plan, current, _ = planning(never, outcome=outcome, calendar=content.calendar_positions(ctx, never),
                            n_sims=n_power, seed=seed)
show(lambda: diagnostics.planning_md(plan, current), caption="Smallest fall detected four times in five")
show(lambda: diagnostics.planning_sentence(plan, current, point))

# %% [markdown]
# ## Limitations

# %%
show(lambda: limitations.limitations_md(ctx))

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
# (measured in the validation study; synthetic control, not shown here, has the opposite bias).
#
# **Two-way fixed effects** compares treated and other sectors with sector and month
# effects, with randomization inference. It can be biased with staggered starts; it is shown
# for reference.

# %%
show(lambda: content.data_text(ctx))
show(lambda: content.data_note(ctx))
saved = [  # the results files (analysis.report.results_files); nothing is shown
    results_files.save_calibration(checks, results_dir),
    results_files.save_spillover(spill, results_dir, ctx),
    results_files.save_power(plan.assign(design="grid"), results_dir, current),
]
