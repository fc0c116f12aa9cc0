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
# # Sectors
#
# Each sector's effect since its start, from its own estimate (Poisson imputation against
# sectors never in the program, placebo inference; the sector pages in the appendix show each
# one's event study and path). With a single sector, an interval is wide and a p-value cannot
# fall below one over the number of placebo calendars plus one.

# %% tags=["parameters"]
quarter = "2024Q2"  # reporting quarter, YYYYQn
outcome = "shootings"  # panel column: shootings, gun_homicides or gun_injuries
panel_path = "../data/processed/panel.parquet"  # output of `make data`
results_dir = "results"  # where the sector notebooks wrote their estimates; this one reads them
seed = 0  # unused here: the estimates are read, not computed

# %%
from IPython.display import Markdown, display

from analysis.report import content, figures, results_files, sectors

ctx = content.load_context(panel_path, quarter)  # a bad quarter stops here, in one line
content.check_parameters(ctx, outcome)  # and a bad outcome or sector here, listing the valid ones
display(Markdown(content.banner(ctx)))

# %%
table = sectors.sector_rows(results_dir, ctx, outcome)
display(figures.forest(table, sectors.program_row(results_dir), demo=ctx.is_demo))
display(Markdown(sectors.sector_text(table)))
display(Markdown(sectors.sector_md(table)))

# %% [markdown]
# ### Counts and rates in the program's sectors
#
# Counts from 1 to 4 are shown as "<5" to protect the people involved, and a count that would
# give one away when set against another figure of this report as "n/p" (not published). Rates
# are per 100,000 inhabitants per year.

# %%
display(Markdown(content.sector_table(ctx, outcome)))

# %%
saved = results_files.save_table(table, results_dir, "sectors", ("percent", "ci_low", "ci_high", "p_value"))
