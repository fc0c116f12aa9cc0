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

# %% [markdown] tags=["notebook-only"]
# # Two-page brief
#
# The key messages, one figure and one map (where the program operates), read from the results files the other notebooks
# wrote (run it after them; it computes no estimate).

# %% tags=["parameters"] editable=false
# Locked: these are the build's defaults. To try other values, set them in a cell below.
quarter = ""  # reporting quarter, YYYYQn; empty: the latest complete quarter the data cover, as `make report`
outcome = "shootings"  # panel column: shootings, gun_homicides or gun_injuries
panel_path = "../data/processed/panel.parquet"  # output of `make data`
results_dir = "results"  # where the other notebooks wrote their results; this one reads them
geography_path = ""  # sector polygons (GeoJSON); empty: no map
languages = "en"  # languages of the texts shown: "en", "es" or "en es" (the build shows both editions)
edition = "public"  # "internal" shows counts from 1 to 4 (CONFIDENTIAL)

# %%
from analysis.report import brief, content, disclosure, figures, maps
from analysis.report.i18n import set_languages, show
from analysis.report.workbench import interactive

interactive()  # in JupyterLab: edits to src/analysis are picked up without a restart
set_languages(languages)  # each text below is shown once per language, from the same numbers
disclosure.set_edition(edition)
ctx = content.load_context(panel_path, quarter)  # a bad quarter stops here, in one line
content.check_parameters(ctx, outcome)  # and a bad outcome here, listing the valid ones
show(lambda: content.banner(ctx))
show(lambda: brief.brief_md(results_dir, ctx))

# %%
quarter_table, program = brief.quarters(results_dir), brief.headline(results_dir)
if len(quarter_table) and program is not None:
    show(lambda: figures.by_quarter(quarter_table, program, demo=ctx.is_demo, figsize=(7.2, 2.5)))

# %%
if geography_path:  # where the program operates (the effect map's classes hide each sector's interval)
    polygons = maps.load_sectors(geography_path)
    adjacency = content.load_adjacency(panel_path)
    show(lambda: maps.program_map(polygons, ctx, adjacency, demo=ctx.is_demo, figsize=(7.2, 3.4)))
show(brief.closing)
