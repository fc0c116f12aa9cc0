"""End to end: build a small demo report and check what is in it, not only that it exists."""

import base64
import dataclasses
import datetime as dt
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.options import RunOptions
from analysis.periods import QuarterError
from analysis.report.build import BuildOptions, ReportError, build_report
from analysis.report.content import DEMO_LABEL, fmt_num, fmt_pct

QUARTER = "2021Q4"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory, demo_dir, demo_build):
    proc = tmp_path_factory.mktemp("processed")
    with_demo = dataclasses.replace(demo_build, audit={**demo_build.audit, "demo": json.loads((demo_dir / "demo.json").read_text())})
    with_demo.write(proc)
    reports = tmp_path_factory.mktemp("reports")
    opts = BuildOptions(run=RunOptions(n_placebo=6, n_perm=99, n_calibration=20, n_power=10), sectors=["D36"])
    manifest = build_report(QUARTER, proc / "panel.parquet", reports, opts)
    return {"manifest": manifest, "dir": reports / QUARTER, "reports": reports, "panel": proc / "panel.parquet", "opts": opts}


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_html_shows_the_estimate_in_the_results_file(built):
    d = built["dir"]
    res = pd.read_csv(d / "results" / "program.csv").set_index("method")
    html = (d / f"alto-al-fuego_{QUARTER}_en.html").read_text()
    text = _text(html)
    head = res.loc["ppml"]  # the headline method
    m = re.search(r"Cumulative estimate through 2021Q4 .{0,300}? were ([\d.]+)% lower", text)
    assert m, text[:2000]
    assert float(m.group(1)) == pytest.approx(abs(head.att_percent), abs=0.051)
    assert f"{fmt_pct(head.ci_percent_low)} to {fmt_pct(head.ci_percent_high)}" in text
    assert fmt_num(res.loc["twfe"].att) in text  # the comparison table
    total = abs(head.att * head.n_treated_periods)
    assert f"about {total:,.0f} fewer victims" in text
    # the assumptions paragraph gives the headline under both readings of parallel trends
    add = res.loc["imputation"]
    m = re.search(r"Under parallel trends in proportions \(the headline\) the change is (\S+) .{0,200}?under parallel "
                  r"trends in levels \(the additive imputation\) it is (\S+) ", text)
    assert m, text
    assert (m.group(1), m.group(2)) == (fmt_pct(head.att_percent), fmt_pct(add.att_percent))


def test_html_is_self_contained_with_embedded_figures(built):
    html = (built["dir"] / f"alto-al-fuego_{QUARTER}_en.html").read_text()
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)=["']?https?://""", html)
    imgs = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(imgs) >= 5  # event study, program trends, city series, calibration, sector trends
    assert all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in imgs)
    assert html.count(DEMO_LABEL) >= 3
    assert "def " not in html and "import " not in _text(html)  # code is hidden


def test_pdf_has_the_headline_and_demo_label_on_every_page(built):
    from pypdf import PdfReader

    res = pd.read_csv(built["dir"] / "results" / "program.csv").set_index("method")
    pdf = PdfReader(str(built["dir"] / f"alto-al-fuego_{QUARTER}_en.pdf"))
    pages = [p.extract_text() or "" for p in pdf.pages]
    assert len(pages) >= 3
    assert all("DEMO DATA (synthetic)" in p for p in pages), [i for i, p in enumerate(pages) if "DEMO" not in p]
    alltext = re.sub(r"\s+", " ", " ".join(pages))
    assert f"{abs(res.loc['ppml'].att_percent):.1f}% lower" in alltext
    n_images = sum(len(p.images) for p in pdf.pages)
    assert n_images >= 4


def test_manifest(built):
    m = json.loads((built["dir"] / "manifest.json").read_text())
    assert m["quarter"] == QUARTER and m["data"] == "demo"
    from analysis.data.geography import sha256

    assert m["inputs_sha256"]["panel.parquet"] == sha256(built["panel"])
    assert len(m["inputs_sha256"]) >= 4  # panel, incidents, geography, rollout
    assert m["parameters"]["n_placebo"] == 6 and m["parameters"]["sectors"] == ["D36"]
    assert m["packages"]["linearmodels"] and m["packages"]["synthdid-py"]
    assert {"notebook program", "render html en", "render pdf es", "render brief en", "total"} <= set(m["timings_seconds"])
    assert m["languages"] == ["en", "es"] and m["edition"] == "public"
    assert {"html_en", "pdf_en", "html_es", "pdf_es", "brief_en", "brief_es"} <= set(m["outputs"])
    assert re.match(r"^[0-9a-f]{40}|unknown", m["code_commit"])
    nb = json.loads((built["dir"] / "notebooks" / "program.ipynb").read_text())
    params = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert params and "2021Q4" in "".join(params[0]["source"])


def test_results_are_data(built):
    res = pd.read_csv(built["dir"] / "results" / "program.csv")
    assert set(res.method) == {"ppml", "imputation", "sdid", "twfe"}
    cal = pd.read_csv(built["dir"] / "results" / "calibration.csv")
    assert set(cal.method) == {"ppml", "twfe"} and (cal.runs == 20).all()
    html = (built["dir"] / f"alto-al-fuego_{QUARTER}_en.html").read_text()
    rate = cal.set_index("method").rejection_rate["ppml"]
    assert f"{100 * rate:.1f}%</strong> of 20 runs" in html
    assert f"Monte Carlo standard error {100 * cal.set_index('method').mc_error['ppml']:.1f} points" in html
    spill = pd.read_csv(built["dir"] / "results" / "spillover.csv")
    assert len(spill) == 2 and f"{spill.att_percent.iloc[1]:+.1f}%".replace("-", "−") in html
    sens = pd.read_csv(built["dir"] / "results" / "sensitivity.csv")
    assert len(sens) == 4 and (sens.scale == "log").all()  # on the headline's (PPML) scale
    if sens.breakdown[0] > 0:
        assert f"{sens.breakdown[0]:.2f} times" in _text(html)
    else:
        assert "the robust interval includes zero" in _text(html)
    # the change it reports is the log-scale estimate shown in percent
    assert f"the change is {fmt_pct(100 * np.expm1(sens.estimate[0]))} against what the comparison predicts" in _text(html)
    power = pd.read_csv(built["dir"] / "results" / "power.csv")
    assert len(power) == 9 and "Planning the expansion" in html
    cur = power[power.design == "current"].iloc[0]
    assert cur.n_treated == 3  # the demo's sectors started by 2021Q4
    if np.isfinite(cur.mde):
        assert f"detects a fall of <strong>{abs(100 * cur.mde):.0f}%</strong>" in html
    es = pd.read_csv(built["dir"] / "results" / "program_event_study.csv")
    assert {"rel_period", "estimate", "ci_low", "ci_high", "method"} <= set(es.columns)
    sec = pd.read_csv(built["dir"] / "results" / "sector_D36.csv")
    assert sec.n_treated.iloc[0] == 1


def test_the_summary_and_the_brief_need_only_the_results_of_the_notebooks_they_read(built, tmp_path):
    """The sectors' summary and the brief start as soon as the notebooks they read are done, with
    only those notebooks' results files (NotebookJob.reads). Their readers treat a missing file as
    nothing to say, so a file read but not declared would silently drop a row or a message: given
    only the declared notebooks' files, every reader gives what it gives with all of them."""
    from analysis.report import brief, content, sectors
    from analysis.report.build import stage

    d = built["dir"]
    manifest = json.loads((d / "manifest.json").read_text())
    written = manifest["outputs"]["written_by"]
    assert set(written) == {"program", "checks", "sector_D36", "sectors", "brief"}
    st = stage(QUARTER, built["panel"], tmp_path / "staging", built["opts"])
    reads = {j.stem: j.reads for j in st.after}
    assert reads == {"sectors": ("program", "sector_D36"), "brief": ("program", "checks")}
    ctx = content.load_context(built["panel"], QUARTER)
    outcome = content.default_outcome(ctx)

    def only(reader: str) -> Path:
        folder = tmp_path / reader
        folder.mkdir()
        for stem in reads[reader]:
            for name in written[stem]:
                shutil.copyfile(d / "results" / name, folder / name)
        return folder

    full = d / "results"
    part = only("brief")
    assert brief.brief_md(part, ctx) == brief.brief_md(full, ctx)
    pd.testing.assert_frame_equal(brief.quarters(part), brief.quarters(full))
    assert brief.headline(part) == brief.headline(full) is not None
    part = only("sectors")
    pd.testing.assert_frame_equal(sectors.sector_rows(part, ctx, outcome), sectors.sector_rows(full, ctx, outcome))
    assert sectors.program_row(part) == sectors.program_row(full) is not None
    # the comparison bites: without the checks' spillover file the brief says less
    (only_program := tmp_path / "program-only").mkdir()
    for name in written["program"]:
        shutil.copyfile(d / "results" / name, only_program / name)
    assert brief.brief_md(only_program, ctx) != brief.brief_md(full, ctx)


@pytest.mark.parametrize("quarter,match", [("2024Q5", "YYYYQn"), ("2015Q4", "before the data"),
                                           ("2024Q1", "data end in 2023-12")])
def test_bad_quarters_are_clear_errors(built, quarter, match):
    with pytest.raises(QuarterError, match=match):
        build_report(quarter, built["panel"], built["reports"], built["opts"])


def test_incomplete_quarter(built):
    with pytest.raises(QuarterError, match="not complete yet"):
        build_report("2023Q4", built["panel"], built["reports"], built["opts"], today=dt.date(2023, 12, 15))


def test_a_failed_build_keeps_the_previous_report(built, monkeypatch):
    d = built["dir"]
    before = (d / "manifest.json").read_text()
    # the build refuses an unknown sector before running anything (tests/test_workbench.py); let
    # this one through to the notebook, which fails with it
    monkeypatch.setattr("analysis.report.build.content.check_parameters", lambda *a, **k: None)
    opts = BuildOptions(run=RunOptions(n_placebo=4, n_perm=19, n_calibration=5, n_power=4), sectors=["NOPE"])
    with pytest.raises(ReportError, match=r"notebook sector_NOPE failed in cell \d+ .*ValueError: sector 'NOPE' is not a sector of this panel; the sectors in the program are: "):
        build_report(QUARTER, built["panel"], built["reports"], opts)
    assert (d / "manifest.json").read_text() == before
    assert not list(built["reports"].glob(".staging-*"))
    shutil.rmtree(built["reports"] / f".failed-{QUARTER}")


def test_estimates_table_names_inference_and_draws_from_the_results(demo_panel):
    from analysis import impact
    from analysis.report.content import estimates_table

    rs = [impact.estimate(demo_panel, method="imputation", n_perm=99),
          impact.estimate(demo_panel, method="twfe", inference="wild", n_boot=1999),
          impact.estimate(demo_panel, method="twfe", inference="cluster")]
    assert [r.inference.n_draws for r in rs] == [99, 1999, 0]
    t = estimates_table(rs)
    assert "Randomization of the start calendar (99)" in t and "Wild bootstrap (1,999)" in t and "Cluster-robust" in t


def test_no_python_value_leaks_into_the_report(built):
    """A notebook cell's last value is displayed: a writer's return value (a path), an object's
    repr or a warning must not reach the reader."""
    nbs = [json.loads(p.read_text()) for p in (built["dir"] / "notebooks").glob("*.ipynb")]
    shown = [o for nb in nbs for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    plain = ["".join(o.get("data", {}).get("text/plain", "")) for o in shown if o["output_type"] == "execute_result"]
    assert plain == [], plain
    streams = [o for o in shown if o["output_type"] == "stream"]
    assert streams == [], streams
    text = _text((built["dir"] / f"alto-al-fuego_{QUARTER}_en.html").read_text())
    for leak in ("PosixPath(", "ImpactResult(", "<analysis.", "Warning:", "array(["):
        assert leak not in text


def test_every_new_section_shows_its_results_file(built):
    """This quarter, the trend, outcomes, cohorts, pre-trends, anticipation, rates, activities,
    cost and sectors: each number in the HTML is the one in its results file."""
    d = built["dir"]
    text = _text((d / f"alto-al-fuego_{QUARTER}_en.html").read_text())
    def r(name):
        return pd.read_csv(d / "results" / f"{name}.csv")

    trend = r("trend").set_index("window")
    q = trend.loc["quarter"]
    if not q.suppressed:
        assert f"In {QUARTER} the program's sectors recorded {abs(q.percent):.1f}%" in text
        assert f"(effect {fmt_pct(q.percent)}, 95% interval" in text
        assert f"{fmt_pct(q.ci_low)} to {fmt_pct(q.ci_high)}" in text
    four = trend.loc["four_quarters"]
    assert f"Over the last four quarters the effect was {fmt_pct(four.percent)}" in text
    for y in r("trend").query("window == 'year' and not suppressed").itertuples():
        assert f"{y.label} {y.cells} {fmt_pct(y.percent)}" in text
    out = r("outcomes").set_index("outcome")
    for o in ("gun_homicides", "gun_injuries"):
        row = out.loc[o]
        assert f"{fmt_pct(row.percent)} {fmt_pct(row.ci_low)} to {fmt_pct(row.ci_high)}" in text
    for c in r("cohorts").itertuples():
        start = pd.Period(c.group, "M").strftime("%b %Y")  # the cohort table names the month
        assert f"{start} " in text and (c.suppressed or fmt_pct(c.estimate) in text)
    pre = r("pretrends")
    assert all(fmt_pct(v) in text for v in pre.percent)
    assert "Joint test that every quarter is on the prediction" in text
    rob = r("robustness").set_index("estimate")
    for m in (3, 12):
        assert f"Leaving out the {m} months before each start {fmt_pct(rob.loc[f'anticipation_{m}m', 'percent'])}" in text
    assert "because it measures something narrower" in text
    loo = rob[rob.index.str.startswith("without_")]
    assert len(loo) == 3 and "Leaving out one sector at a time (3 estimates)" in text
    assert fmt_pct(loo.percent.min()) in text and fmt_pct(loo.percent.max()) in text  # the sensitivity section set against the headline
    rates = r("rates").set_index("row")
    assert f"{rates.loc['program_since', 'rate_per_100k_year']:.1f}" in text
    acts = r("activities")
    assert len(acts) and "Direct communication (Comunicación directa)" in text
    cost = r("cost")
    assert "cost_averted" in cost and "program's cost has not been given" in text and "not from Mexico" in text
    sec = r("sectors")
    assert list(sec.sector) == ["D36"]
    assert f"{fmt_pct(sec.percent.iloc[0])} {fmt_pct(sec.ci_low.iloc[0])} to {fmt_pct(sec.ci_high.iloc[0])}" in text
    assert "No earlier quarterly report has been published" in text
    for heading in ("Limitations", "Appendix: sector pages", "Sectors", "Context, checks and planning"):
        assert heading in text


def test_a_second_quarter_compares_itself_with_the_first(built):
    """The next quarter's report sets its headline beside the published one and says why it moved."""
    opts = dataclasses.replace(built["opts"], sectors=[])
    build_report("2022Q1", built["panel"], built["reports"], opts)
    d = built["reports"] / "2022Q1"
    text = _text((d / "alto-al-fuego_2022Q1_en.html").read_text())
    prev = pd.read_csv(d / "results" / "previous.csv")
    old = pd.read_csv(built["dir"] / "results" / "program.csv").set_index("method").loc["ppml"]
    assert prev.att_percent.iloc[0] == pytest.approx(old.att_percent)
    assert f"The {QUARTER} report put the effect at {fmt_pct(old.att_percent)}" in text
    assert "3 new months (January 2022 to March 2022)" in text and "no earlier month's records changed" in text
    # the same months and sectors on today's records give the published number back (nothing was revised)
    same = prev[prev.kind == "same_window_today"].att_percent.iloc[0]
    assert same == pytest.approx(old.att_percent, abs=1e-9)
    m = json.loads((d / "manifest.json").read_text())
    months = pd.read_parquet(built["panel"]).period
    assert sorted(m["panel_digest"]) == [str(x) for x in pd.period_range(months.min(), "2022-03", freq="M")]
    assert m["extracts"][0]["last_event"]


# -- the editions in a real browser ------------------------------------------------------------
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="needs the Debian chromium: sudo apt-get install chromium")
@pytest.mark.parametrize("lang", ["en", "es"])
def test_each_html_edition_works_in_a_real_browser(built, lang, tmp_path):
    """Playwright drives the Debian chromium: no console error, no request leaving the file, every
    image loaded with its own alt text, the right lang, readable at phone width; screenshots kept."""
    from playwright.sync_api import sync_playwright

    page_file = built["dir"] / f"alto-al-fuego_{QUARTER}_{lang}.html"
    errors, outside = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))

            def route(r):
                if r.request.url.startswith(("file://", "data:")):
                    r.continue_()
                else:
                    outside.append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            page.goto(page_file.as_uri())
            page.wait_for_load_state("load")
            assert page.evaluate("document.documentElement.lang") == lang
            imgs = page.evaluate(
                "[...document.images].map(i => ({ok: i.complete && i.naturalWidth > 0, alt: i.alt}))"
            )
            assert len(imgs) >= 5
            assert all(i["ok"] for i in imgs), [n for n, i in enumerate(imgs) if not i["ok"]]
            alts = [i["alt"] for i in imgs]
            assert all(len(a) > 40 and "No description" not in a for a in alts), alts
            assert len(set(alts)) == len(alts)  # each written from its own figure
            toc = page.evaluate("[...document.querySelectorAll('nav.toc a')].map(a => a.getAttribute('href'))")
            lands = page.evaluate(  # the browser looks for the fragment as written, then decoded
                "hs => hs.map(h => !!(document.getElementById(h.slice(1))"
                " || document.getElementById(decodeURIComponent(h.slice(1)))))",
                toc,
            )
            assert len(toc) >= 8 and all(lands), [h for h, ok in zip(toc, lands) if not ok]  # every entry lands
            captions = page.evaluate("document.body.innerText")
            word = "Figure" if lang == "en" else "Figura"
            assert f"{word} 1." in captions and f"{word} {len(imgs)}." in captions
            described = page.evaluate(  # each image points at its visible, numbered caption
                "[...document.images].map(i => (document.getElementById(i.getAttribute('aria-describedby') || '')"
                " || {innerText: ''}).innerText)"
            )
            assert [d.split(".")[0] for d in described] == [f"{word} {n}" for n in range(1, len(imgs) + 1)]
            page.screenshot(path=str(tmp_path / f"desktop_{lang}.png"), full_page=False)
            page.set_viewport_size({"width": 390, "height": 844})
            assert page.evaluate("document.documentElement.scrollWidth") <= 392  # no sideways scrolling
            page.screenshot(path=str(tmp_path / f"phone_{lang}.png"), full_page=False)
        finally:
            browser.close()
    assert not errors, errors
    assert not outside, outside
    assert (tmp_path / f"desktop_{lang}.png").stat().st_size > 10_000
    assert (tmp_path / f"phone_{lang}.png").stat().st_size > 5_000


@pytest.mark.parametrize("lang", ["en", "es"])
def test_pdf_and_brief_of_each_language_give_the_results_files_headline(built, lang):
    from pypdf import PdfReader

    from analysis.report.i18n import pct, use

    res = pd.read_csv(built["dir"] / "results" / "program.csv").set_index("method").loc["ppml"]
    trend = pd.read_csv(built["dir"] / "results" / "trend.csv").set_index("window").loc["cumulative"]
    with use(lang):
        size, lo, since = pct(abs(res.att_percent), 1, signed=False), pct(res.ci_percent_low), pct(trend.percent)

    def text(name):
        pages = [p.extract_text() or "" for p in PdfReader(str(built["dir"] / name)).pages]
        return pages, re.sub(r"\s+", " ", " ".join(pages).replace("\u00a0", " "))

    pages, full = text(f"alto-al-fuego_{QUARTER}_{lang}.pdf")
    norm = lambda s: re.sub(r"\s+", " ", s.replace("\u00a0", " "))
    assert norm(size) in full and norm(lo) in full
    demo = "DEMO DATA (synthetic)" if lang == "en" else "DATOS DE DEMOSTRACIÓN (sintéticos)"
    assert all(demo in p for p in pages)
    if lang == "es":  # no English left in the running text of the Spanish edition (the appendix of sources
        full = full.rsplit("Anexo: de dónde proviene", 1)[0]  # names notebooks and functions)
        for phrase in ("Cumulative estimate", "interval", "Headline", "victims", "Figure", "Table", "sectors"):
            assert not re.search(rf"\b{phrase}\b", full), phrase
        assert "Estimación acumulada" in full
    brief_pages, brief = text(f"alto-al-fuego_{QUARTER}_brief_{lang}.pdf")
    assert len(brief_pages) <= 2
    assert f"{trend.averted:,.0f}" in brief and norm(since) in brief
    assert all(demo in p for p in brief_pages)


def test_the_last_appendix_maps_every_figure_and_table_to_its_cell_and_function(built):
    """No code path in the reader's text; one appendix says where each exhibit comes from, and the
    cell it names is the one whose output it is."""
    import nbformat

    html = (built["dir"] / f"alto-al-fuego_{QUARTER}_en.html").read_text()
    body, appendix = html.split("Appendix: where each figure and table comes from</h1>")
    text = _text(body)
    assert "config/cost.toml" not in text and "data/raw" not in text and "make validate" not in text
    td = r"\s*<td[^>]*>"
    rows = re.findall(td + r"(Figure|Table) (\d+)</td>" + td + r"notebooks/([\w.-]+\.ipynb)</td>" + td + r"(\d+)</td>"
                      + td + r"<code>([\w.]+)</code></td>", appendix)
    figures = int(max(re.findall(r"<strong>Figure (\d+)\.</strong>", body), key=int))
    tables = int(max(re.findall(r"<strong>Table (\d+)\.</strong>", body), key=int))
    assert sorted(int(n) for k, n, *_ in rows if k == "Figure") == list(range(1, figures + 1))
    assert sorted(int(n) for k, n, *_ in rows if k == "Table") == list(range(1, tables + 1))
    makers = {(k, int(n)): (nb, int(cell), fn) for k, n, nb, cell, fn in rows}
    assert makers[("Figure", 1)][0] == "program.ipynb" and makers[("Figure", 1)][2] == "maps.program_map"
    assert any(fn == "figures.sector_panel" and nb.startswith("sector_") for nb, _c, fn in makers.values())
    for nb_name, cell, fn in makers.values():  # the named cell calls the named function
        nb = nbformat.read(str(built["dir"] / "notebooks" / nb_name), as_version=4)
        assert fn.split(".")[1] in nb.cells[cell - 1].source, (nb_name, cell, fn)


def test_two_builds_of_the_same_inputs_give_the_same_report(built, tmp_path):
    """Same inputs and seed: byte-identical results files, and the same HTML and PDF text apart from
    the build time (cell ids no longer change from one execution to the next)."""
    from pypdf import PdfReader

    again = build_report(QUARTER, built["panel"], tmp_path, dataclasses.replace(built["opts"], force=True))  # no cache
    a, b = built["dir"], tmp_path / QUARTER
    assert again["treated_sectors"] == built["manifest"]["treated_sectors"]
    names = sorted(p.name for p in (a / "results").iterdir())
    assert names == sorted(p.name for p in (b / "results").iterdir())
    assert all((a / "results" / n).read_bytes() == (b / "results" / n).read_bytes() for n in names)
    when = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}")  # the build time
    for lang in ("en", "es"):
        html_a, html_b = ((d / f"alto-al-fuego_{QUARTER}_{lang}.html").read_text() for d in (a, b))
        assert when.sub("T", html_a) == when.sub("T", html_b), lang
        pdf_a, pdf_b = (
            [when.sub("T", p.extract_text() or "") for p in PdfReader(str(d / f"alto-al-fuego_{QUARTER}_{lang}.pdf")).pages]
            for d in (a, b)
        )
        assert pdf_a == pdf_b, lang
    # the build said what it did, step by step, and kept it
    log = (b / "build.log").read_text()
    assert "notebook program: " in log and "render pdf es: " in log and log.rstrip().splitlines()[-1].startswith("total: ")
