"""What a public report may not do (issue 8): give away a count from 1 to 4, run a script from a
sector's name, write outside its folder, show a machine's paths; and what it must do on any
documented source and in a program's first quarter."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.data.panel import PanelBuild, build_panel
from analysis.options import RunOptions
from analysis.report import content, disclosure
from analysis.report.build import ROOT, BuildOptions, build_report

pytestmark = pytest.mark.slow
QUARTER = "2021Q4"
ZAP = "ZAP<img src=x onerror=alert(1)>"
SLASH = "A/B"
OPTS = BuildOptions(run=RunOptions(n_placebo=4, n_perm=19, n_calibration=5, n_power=4))


def _small_city(demo_build, demo_dir, out: Path) -> pd.DataFrame:
    """The demo city cut at 2021Q4's data, with D69 renamed to an HTML payload and left with 3
    victims in its months in the program, and D62 renamed 'A/B'."""
    names = {"D69": ZAP, "D62": SLASH}
    p = demo_build.panel.copy()
    p["unit"] = p.unit.replace(names)
    zap = (p.unit == ZAP) & (p.period >= p.treat_start)
    for c in ("gun_homicides", "gun_injuries", "shootings"):
        p.loc[zap, c] = 0
    hit = p.index[zap & p.period.isin(pd.period_range("2020-05", "2021-10", freq="M"))][[0, 5, 9]]
    p.loc[hit, ["gun_injuries", "shootings"]] = 1
    adj = demo_build.adjacency.replace(names)
    audit = {**demo_build.audit, "demo": json.loads((demo_dir / "demo.json").read_text())}
    PanelBuild(panel=p, quarantine=demo_build.quarantine, audit=audit, adjacency=adj).write(out)
    return p


@pytest.fixture(scope="module")
def small(tmp_path_factory, demo_build, demo_dir):
    proc = tmp_path_factory.mktemp("processed")
    panel = _small_city(demo_build, demo_dir, proc)
    reports = tmp_path_factory.mktemp("reports")
    m = build_report(QUARTER, proc / "panel.parquet", reports, OPTS)
    ctx = content.load_context(proc / "panel.parquet", QUARTER)
    return {"dir": Path(m["path"]), "panel": panel, "ctx": ctx, "roots": [proc, reports], "manifest": m}


def _sector_table(report: Path) -> pd.DataFrame:
    """The counts-by-sector table as a reader sees it (the Markdown the sectors notebook shows)."""
    nb = json.loads((report / "notebooks" / "sectors.ipynb").read_text())
    for cell in nb["cells"]:
        for o in cell.get("outputs", []):
            md = "".join(o.get("data", {}).get("text/markdown", ""))
            if md.startswith("| Sector | Program start |"):
                rows = [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in md.splitlines()]
                return pd.DataFrame(rows[2:], columns=rows[0])
    raise AssertionError("no sector table in the sectors notebook")


def _reader_aggregates(small) -> list[disclosure.Aggregate]:
    """Everything a reader can turn into a count, with the sector-months it covers: each
    published estimate's mean times its sector-months, and every number of the sector table."""
    ctx, report = small["ctx"], small["dir"]
    panel = ctx.panel
    sectors = ctx.treated_sectors
    stems = {s: content.file_stem(s) for s in sectors}
    aggs, small_only = disclosure.published_aggregates(report / "results", panel, sectors, stems)
    assert not small_only
    t = _sector_table(report)
    end, q0 = ctx.quarter.asfreq("M", "end"), ctx.quarter.asfreq("M", "start")
    for row in t.itertuples(index=False):
        unit = next(s for s in sectors if content.md_escape(s) == row[0])
        start = pd.Period(row[1], "M")
        spans = {2: (start - 12, start - 1), 3: (start, start + 11), 4: (q0, end)}
        for col, (a, b) in spans.items():
            m = re.fullmatch(r"(\d+)(?: \([\d.]+\))?", row[col])  # a count, with its rate in brackets
            if m:
                aggs.append(disclosure.Aggregate(f"table {unit} col {col}", disclosure.cells_of(panel, [unit], a, b),
                                                 float(m.group(1))))
    return aggs


def test_no_count_from_1_to_4_can_be_recovered(small):
    aggs = _reader_aggregates(small)
    assert len(aggs) >= 8
    # each number a reader recovers is the true one (the attack works) ...
    for a in aggs:
        assert a.total == pytest.approx(disclosure.total_of(small["ctx"].panel, "shootings", a.cells), abs=1e-6), a.label
    # ... and none of them, nor any difference or remainder of them, is a count from 1 to 4
    assert disclosure.find_disclosures(aggs) == []


def test_the_attack_would_succeed_without_suppression(small):
    """The same reader, given the hidden sector's estimate, finds its 3 victims (primary) and,
    given only the other sectors', finds them as the program's total less theirs (secondary)."""
    ctx = small["ctx"]
    panel, sectors = ctx.panel, ctx.treated_sectors
    cells = {s: disclosure.cells_of(panel, [s], from_start=True) for s in sectors}
    total = {s: disclosure.total_of(panel, "shootings", c) for s, c in cells.items()}
    assert total[ZAP] == 3
    prog = disclosure.Aggregate("program", frozenset().union(*cells.values()), sum(total.values()))
    others = [disclosure.Aggregate(s, cells[s], total[s]) for s in sectors if s != ZAP]
    assert disclosure.find_disclosures([prog, *others])  # secondary: program less the two shown
    assert disclosure.hidden_sectors(panel, "shootings") == {ZAP: "primary", SLASH: "secondary"} or \
        set(disclosure.hidden_sectors(panel, "shootings")) == {ZAP, min(set(sectors) - {ZAP}, key=total.get)}


def test_hidden_sectors_publish_no_numbers(small):
    res = small["dir"] / "results"
    hidden = disclosure.hidden_sectors(small["ctx"].panel, "shootings")
    assert len(hidden) == 2
    for s in hidden:
        row = pd.read_csv(res / f"sector_{content.file_stem(s)}.csv").iloc[0]
        assert bool(row.suppressed) and np.isnan(row.att) and np.isnan(row.treated_mean)
        es = pd.read_csv(res / f"sector_{content.file_stem(s)}_event_study.csv")
        assert es.estimate.isna().all()
    html = (small["dir"] / f"alto-al-fuego_{QUARTER}_en.html").read_text()
    assert html.count("No estimate is published for sector") == 2
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    primary = [s for s, why in hidden.items() if why == "primary"]
    assert len(primary) == 1 and "were recorded there since the start" in text
    assert "Another sector recorded too few" in text  # the secondary one says why, truthfully


def test_names_from_the_data_are_escaped(small):
    html = (small["dir"] / f"alto-al-fuego_{QUARTER}_en.html").read_text()
    assert not re.search(r"<img[^>]*onerror", html, re.I)
    assert "ZAP&lt;img src=x onerror=alert(1)&gt;" in html
    files = {p.name for p in (small["dir"] / "results").iterdir()}
    assert any(f.startswith("sector_A_B-") for f in files)  # 'A/B' wrote inside results/, under a safe name
    assert all("/" not in f and "<" not in f for f in files)


def test_published_files_hold_no_machine_paths(small):
    roots = [str(r) for r in small["roots"]] + [str(ROOT), "/tmp/", "/home/", "/root/"]
    for f in small["dir"].rglob("*"):
        if f.is_file() and f.suffix in (".html", ".json", ".csv", ".ipynb"):
            text = f.read_text(errors="replace")
            for r in roots:
                assert r not in text, f"{f.name} contains {r}"
    assert not (small["dir"] / "_inputs").exists()  # the snapshot (small counts) is never published


def test_results_are_complete(small):
    from analysis.report.results_files import expected_results

    sectors = small["manifest"]["parameters"]["sectors"]
    assert len(sectors) == 3
    assert set(expected_results(sectors)) <= set(small["manifest"]["outputs"]["results"])


def test_figures_draw_no_count_from_1_to_4(small):
    """The city context figure drew treated-sector totals of 1-4 (3-month means x 3); the
    sectors' paths drew the hidden sectors."""
    from analysis.report import figures

    ctx = small["ctx"]
    p = ctx.panel.copy()
    treated = p.treat_start.notna()
    p.loc[treated, "shootings"] = 0
    p.loc[p.index[treated][[40, 41]], "shootings"] = [2, 1]  # 3-month totals of 2 and 3
    fig = figures.city_series(p, "shootings")
    drawn = [np.asarray(line.get_ydata(), float) for line in fig.axes[0].lines]
    assert len(drawn) == 2
    for y in drawn:
        totals = np.round(y[2:] * 3, 6)  # full 3-month means from the third month on
        assert not np.any(np.isfinite(totals) & (totals >= 1) & (totals <= 4)), totals[(totals >= 1) & (totals <= 4)]
    from analysis import impact

    hidden = content.hidden_sectors(ctx, "shootings")
    main = impact.estimate(ctx.panel, outcome="shootings", method="imputation", n_perm=19, seed=0)
    titles = " ".join(ax.get_title(loc="left") for ax in figures.trends(main, exclude=hidden).axes)
    shown = set(ctx.treated_sectors) - set(hidden)
    assert shown and all(f"Sector {s} " in titles for s in shown) and not any(h in titles for h in hidden)


def test_headline_without_a_positive_counterfactual(small):
    """The issue's 'nan% higher': a counterfactual at or below zero has no percent."""
    from analysis.impact.result import ImpactResult, InferenceRecord

    r = ImpactResult(method="imputation", outcome="shootings", inference=InferenceRecord("randomization", "randomization inference (19 reassignments)"),
                     att=0.8, se=0.1, ci_low=0.6, ci_high=1.0, p_value=0.05, treated_mean=0.6, n_treated=3,
                     n_control=60, n_pre=40, n_post=20, n_treated_periods=60)
    text = content.headline(r, small["ctx"])
    assert "nan" not in text.lower()
    assert "no percent change is defined" in text and "0.80 victims per sector per month" in text


# -- any documented source, and a program's first quarter -------------------------------------------
def _ssc_points(demo_dir: Path, out: Path) -> Path:
    v = pd.read_csv(demo_dir / "incidents" / "victimas_fgj_demo.csv", dtype=str, keep_default_na=False)
    crime = v.delito.map({"HOMICIDIO POR ARMA DE FUEGO": "HOMICIDIO DOLOSO",
                          "LESIONES DOLOSAS POR DISPARO DE ARMA DE FUEGO": "LESIONES POR ARMA DE FUEGO"}).fillna("ROBO A NEGOCIO C.V.")
    d = pd.to_datetime(v.fecha_hecho)
    pts = pd.DataFrame({"cuadrante": np.where(v.latitud.eq(""), "D36", "C-0.0.0"), "crime": crime,
                        "date": v.fecha_hecho, "hour": "12:00", "year": d.dt.year, "month": d.dt.month,
                        "lat": v.latitud.replace("", "NA"), "long": v.longitud.replace("", "NA"),
                        "id": np.arange(1, len(v) + 1)})
    f = out / "ssc_points.csv"
    pts.to_csv(f, index=False)
    return f


@pytest.fixture(scope="module")
def ssc_first_quarter(tmp_path_factory, demo_dir):
    tmp = tmp_path_factory.mktemp("ssc")
    b = build_panel([_ssc_points(demo_dir, tmp)], demo_dir / "geography" / "sectores_demo.geojson",
                    demo_dir / "program" / "rollout.csv", last_month="2023-12")
    b.write(tmp / "processed")
    reports = tmp / "reports"
    # 2019Q3: the first quarter of the program (D36 from 2019-07); no option names the outcome
    m = build_report("2019Q3", tmp / "processed" / "panel.parquet", reports,
                     BuildOptions(run=RunOptions(outcome=None, n_placebo=4, n_perm=19, n_calibration=5, n_power=4)))
    return m, b


def test_ssc_points_build_a_report_with_the_outcome_they_give(ssc_first_quarter):
    m, b = ssc_first_quarter
    assert set(b.audit["outcomes"]) == {"all_homicides", "gun_injuries"}
    assert m["parameters"]["outcome"] == "gun_injuries"
    d = Path(m["path"])
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", (d / "alto-al-fuego_2019Q3_en.html").read_text()))
    assert "Incident points of the SSC (one record per incident" in text
    assert "Counts are incidents" in text and "Counts are victims" not in text
    loc = b.audit["location"]
    assert loc["by_id"] > 0
    assert f"by the coordinates of the event ({loc['by_point']:,} records) or" in text
    assert f"by the cuadrante or sector recorded with it ({loc['by_id']:,} records)" in text
    assert "fewer incidents" in text or "more incidents" in text
    assert "2020 dip" not in text  # a report that ends in 2019 mentions no 2020


def test_first_quarter_of_the_program_gets_a_report(ssc_first_quarter):
    """The issue: no report could be built for a program's first four quarters. The event study
    is now as long as the data allow: one quarter after the start here."""
    m, _ = ssc_first_quarter
    d = Path(m["path"])
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", (d / "alto-al-fuego_2019Q3_en.html").read_text()))
    assert "Averaged over the first quarter after the start" in text
    sens = pd.read_csv(d / "results" / "sensitivity.csv")
    assert len(sens) == 4 and sens.ci_low.notna().all()


def test_sensitivity_waits_for_a_whole_quarter():
    """Rule: the analysis needs one whole post-start quarter and two pre-start quarters."""
    from types import SimpleNamespace

    def fake(rels):
        return SimpleNamespace(event_study=pd.DataFrame({"rel_period": rels}), event_rels=np.array(rels))

    assert content.sensitivity_horizon(fake(list(range(-12, 2)))) == (4, 0)
    assert content.sensitivity_horizon(fake(list(range(-12, 3)))) == (4, 1)
    assert content.sensitivity_horizon(fake(list(range(-5, 30)))) == (1, 4)
    table, post = content.relative_magnitudes_or_none(fake(list(range(-12, 2))), mbar=(0.0, 1.0))
    assert table.empty and post == 0
    assert content.sensitivity_text(table, post)[0].startswith("Not yet possible")


# -- the internal edition and the Word edition ---------------------------------------------------
@pytest.fixture(scope="module")
def internal(small):
    import dataclasses

    opts = dataclasses.replace(OPTS, edition="internal", languages=("en",), formats=("html", "pdf", "docx"))
    manifest = build_report(QUARTER, small["roots"][0] / "panel.parquet", small["roots"][1], opts)
    return {"manifest": manifest, "dir": small["roots"][1] / f"{QUARTER}-CONFIDENTIAL"}


def test_the_internal_edition_shows_small_counts_says_confidential_and_leaves_the_public_report(small, internal):
    from pypdf import PdfReader

    d = internal["dir"]
    assert internal["manifest"]["edition"] == "internal" and small["manifest"]["edition"] == "public"
    names = sorted(p.name for p in d.iterdir() if p.is_file())
    assert [n for n in names if n.startswith("alto-al-fuego")] == [
        f"alto-al-fuego_{QUARTER}_CONFIDENTIAL_brief_en.pdf",
        f"alto-al-fuego_{QUARTER}_CONFIDENTIAL_en.docx",
        f"alto-al-fuego_{QUARTER}_CONFIDENTIAL_en.html",
        f"alto-al-fuego_{QUARTER}_CONFIDENTIAL_en.pdf",
    ]
    pages = [p.extract_text() or "" for p in PdfReader(str(d / f"alto-al-fuego_{QUARTER}_CONFIDENTIAL_en.pdf")).pages]
    assert all("CONFIDENTIAL" in p for p in pages)
    html = (d / f"alto-al-fuego_{QUARTER}_CONFIDENTIAL_en.html").read_text()
    assert 'class="confidential-banner"' in html
    # what the public edition withholds, the internal one shows
    withheld = {}
    for f in sorted((small["dir"] / "results").glob("*.csv")):
        t = pd.read_csv(f)
        if "suppressed" in t and t.suppressed.astype(bool).any():
            withheld[f.name] = int(t.suppressed.astype(bool).sum())
            inner = pd.read_csv(d / "results" / f.name)
            assert not inner.suppressed.astype(bool).any(), f.name
    assert withheld  # the public edition withholds something in this small build, the internal one nothing
    public_html = (small["dir"] / f"alto-al-fuego_{QUARTER}_en.html").read_text()
    def table(h: str) -> str:  # the counts-by-sector table itself (not the note above it)
        return h.split('id="Counts-and-rates')[1].split("<table")[1].split("</table>")[0]

    assert "&lt;5" in table(public_html) and "&lt;5" not in table(html) and "n/p" not in table(html)
    # the public report was not replaced, and is still the one a next quarter compares with
    assert (small["dir"] / f"alto-al-fuego_{QUARTER}_en.html").exists()
    assert "CONFIDENTIAL" not in public_html


def test_formats_docx_adds_a_word_edition_with_the_report_text(internal):
    import zipfile

    res = pd.read_csv(internal["dir"] / "results" / "program.csv").set_index("method").loc["ppml"]
    with zipfile.ZipFile(internal["dir"] / f"alto-al-fuego_{QUARTER}_CONFIDENTIAL_en.docx") as z:
        xml = z.read("word/document.xml").decode("utf-8")
        media = [n for n in z.namelist() if n.startswith("word/media/")]
    text = re.sub(r"<[^>]+>", "", xml)
    assert "Cumulative estimate through" in text and f"{abs(res.att_percent):.1f}%" in text
    assert "CONFIDENTIAL" in text and len(media) >= 5  # the figures travel with the text
