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
# # Sectors
#
# Each sector's effect since its start, from its own estimate (Poisson imputation against
# sectors never in the program, placebo inference; the sector pages in the appendix show each
# one's event study and path). With a single sector, an interval is wide and a p-value cannot
# fall below one over the number of placebo calendars plus one.

# %% tags=["parameters"] editable=false
# Locked: these are the build's defaults. To try other values, set them in a cell below.
quarter = ""  # reporting quarter, YYYYQn; empty: the latest complete quarter the data cover, as `make report`
outcome = "shootings"  # panel column: shootings, gun_homicides or gun_injuries
panel_path = "../data/processed/panel.parquet"  # output of `make data`
results_dir = "results"  # where the sector notebooks wrote their estimates; this one reads them
seed = 0  # unused here: the estimates are read, not computed
languages = "en"  # languages of the texts shown: "en", "es" or "en es" (the build shows both editions)
edition = "public"  # "internal" shows counts from 1 to 4 (CONFIDENTIAL)
geography_path = ""  # sector polygons (GeoJSON, the build's snapshot); empty: no map

# %%
from analysis.report import content, disclosure, figures, maps, results_files, sectors
from analysis.report.i18n import set_languages, show
from analysis.report.workbench import interactive

interactive()  # in JupyterLab: edits to src/analysis are picked up without a restart
set_languages(languages)  # each text below is shown once per language, from the same numbers
disclosure.set_edition(edition)

ctx = content.load_context(panel_path, quarter)  # a bad quarter stops here, in one line
content.check_parameters(ctx, outcome)  # and a bad outcome or sector here, listing the valid ones
show(lambda: content.banner(ctx))

# %%
table = sectors.sector_rows(results_dir, ctx, outcome)
program = sectors.program_row(results_dir)
show(lambda: figures.forest(table, program, demo=ctx.is_demo))
if geography_path:
    polygons = maps.load_sectors(geography_path)
    show(lambda: maps.effect_map(polygons, table, demo=ctx.is_demo))
show(lambda: sectors.sector_text(table))
show(lambda: sectors.sector_md(table), caption="The effect in each sector")

# %% [markdown]
# ### Counts and rates in the program's sectors
#
# Counts from 1 to 4 are shown as "<5" to protect the people involved, and a count that would
# give one away when set against another figure of this report as "n/p" (not published). Rates
# are per 100,000 inhabitants per year.

# %%
show(lambda: content.sector_table(ctx, outcome), caption="Counts and rates in the program's sectors")

# %%
saved = results_files.save_table(table, results_dir, "sectors", ("percent", "ci_low", "ci_high", "p_value"))
