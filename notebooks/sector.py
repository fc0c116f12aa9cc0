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
# # Sector report
#
# The effect of Alto al Fuego in one sector, against sectors never in the program
# (Poisson imputation, placebo inference).

# %% tags=["parameters"] editable=false
# Locked: these are the build's defaults. To try other values, set them in a cell below.
sector = "D36"  # police sector id, as in the panel's `unit` column
quarter = ""  # reporting quarter, YYYYQn; empty: the latest complete quarter the data cover, as `make report`
outcome = "shootings"  # panel column: shootings, gun_homicides or gun_injuries
panel_path = "../data/processed/panel.parquet"  # output of `make data`
results_dir = "results"  # where the estimates are written as data
method = "ppml"  # the headline's method: ppml (validated as the headline), imputation, gardner, cs, sa, sdid, sc, twfe
n_perm = 999  # calendar reassignments for the randomization test
seed = 0  # seed of the reassignments
languages = "en"  # languages of the texts shown: "en", "es" or "en es" (the build shows both editions)
edition = "public"  # "internal" shows counts from 1 to 4 (CONFIDENTIAL)
geography_path = ""  # sector polygons (GeoJSON, the build's snapshot); empty: no map

# %%
from analysis import impact
from analysis.report import content, disclosure, figures, maps, results_files
from analysis.report.i18n import set_languages, show, tr
from analysis.report.workbench import interactive

interactive()  # in JupyterLab: edits to src/analysis are picked up without a restart
set_languages(languages)  # each text below is shown once per language, from the same numbers
disclosure.set_edition(edition)

ctx = content.load_context(panel_path, quarter)  # a bad quarter stops here, in one line
content.check_parameters(ctx, outcome, sector=sector, method=method)  # and a bad outcome or sector here, listing the valid ones
show(lambda: "## " + tr("Sector {sector}", sector=content.md_escape(sector)))

# %% tags=["notebook-only"]
show(lambda: content.banner(ctx))

# %%
res = impact.estimate(impact.for_unit(ctx.panel, sector), outcome=outcome, method=method,
                      n_perm=n_perm, seed=seed)
# the figure first, its sentence after: in print the heading then stays on the page of its figure
if not content.hidden(ctx, outcome, sector):  # a sector too small to publish gets no path either
    polygons = maps.load_sectors(geography_path) if geography_path else None
    show(lambda: figures.sector_panel(res, sector, demo=ctx.is_demo, noun=content.record_noun(ctx), sectors=polygons))

# %%
show(lambda: content.headline(res, ctx, sector=sector, short=True))
show(lambda: content.method_note(method))  # nothing with the validated headline method

# %%
saved = results_files.save_results([res], results_dir, f"sector_{content.file_stem(sector)}", ctx=ctx, sector=sector)
