"""The report's languages: every message has its Spanish, placeholders survive translation, formats
follow the locale, and one run of a notebook gives both editions."""

import re

import nbformat
import pytest

from analysis.report import i18n
from analysis.report.i18n import _, nt, pct, tr, use

from conftest import ROOT


@pytest.fixture(scope="module")
def catalogues():
    from babel.messages.pofile import read_po

    template = i18n.extract(ROOT)
    with open(i18n.catalogue_path("es"), "rb") as f:
        es = read_po(f, locale="es_MX")
    return template, es


def test_every_message_of_the_code_and_notebooks_has_its_spanish(catalogues):
    template, es = catalogues
    ids = {m.id for m in template if m.id}
    assert len(ids) > 300  # the report's prose, tables, figures, notebooks
    missing = [m for m in ids if m not in es or not i18n.translated(es[m])]
    assert not missing, f"{len(missing)} messages without Spanish (run `python -m analysis.report.i18n`): {missing[:5]}"
    stale = [m.id for m in es if m.id and m.id not in ids]
    assert not stale, f"the catalogue has messages the code no longer uses: {stale[:5]}"


def test_translations_keep_every_placeholder(catalogues):
    _template, es = catalogues
    bad = []
    for m in es:
        if not m.id:
            continue
        ids = m.id if isinstance(m.id, (tuple, list)) else (m.id,)
        strs = m.string if isinstance(m.string, (tuple, list)) else (m.string,)
        want = i18n.placeholders(ids[-1])
        for s in strs:
            got = i18n.placeholders(s)
            # a singular may leave out the count ("el sector" for "the 1 sector"); nothing else may go
            if got - want or (want - {"n"}) - got:
                bad.append((ids[0][:60], sorted(want ^ got)))
    assert not bad, bad[:5]


def test_markdown_cells_of_the_notebooks_are_translated_keeping_their_structure(catalogues):
    import jupytext

    _template, es = catalogues
    for nb_path in sorted((ROOT / "notebooks").glob("*.py")):
        nb = jupytext.read(nb_path)
        for c in nb.cells:
            if c.cell_type != "markdown" or "notebook-only" in c.metadata.get("tags", []):
                continue
            es_text = i18n.translate_markdown(c.source, "es")
            assert es_text != c.source.strip(), c.source[:80]
            # same headings at the same levels and the same number of paragraphs
            assert re.findall(r"^#+ ", c.source, re.M) == re.findall(r"^#+ ", es_text, re.M), nb_path.name
            assert c.source.strip().count("\n\n") == es_text.count("\n\n"), c.source[:80]


def test_field_terms_in_spanish_are_the_ones_the_data_count():
    from analysis.labels import OUTCOME_LABELS
    from analysis.report.i18n import label

    with use("es"):
        assert label(OUTCOME_LABELS, "gun_homicides") == "víctimas de homicidio doloso con arma de fuego"
        assert "lesiones dolosas por disparo de arma de fuego" in label(OUTCOME_LABELS, "gun_injuries")
        assert _("DEMO DATA (synthetic)") == "DATOS DE DEMOSTRACIÓN (sintéticos)"
        assert "contrafactual" in i18n.translate_markdown(
            "# Program-wide impact\n\nHow much did gun violence fall in the sectors where Alto al Fuego operates, "
            "compared with\nwhat would have happened without the program? The estimates cover every month from "
            "each\nsector's start to the end of the reporting quarter."
        )


def test_numbers_dates_and_lists_follow_the_locale():
    with use("en"):
        assert pct(-31.66) == "−31.7%" and pct(4.04) == "+4.0%" and pct(95, 0, signed=False) == "95%"
        assert i18n.month("2026-07") == "July 2026" and i18n.join(["D36", "D62", "D69"]) == "D36, D62, and D69"
        assert i18n.date("2026-09-30") == "September 30, 2026"
    with use("es"):
        assert pct(-31.66) == "−31.7\u00a0%" and pct(95, 0, signed=False) == "95\u00a0%"
        assert i18n.month("2026-07") == "julio de 2026" and i18n.join(["D36", "D62", "D69"]) == "D36, D62 y D69"
        assert i18n.date("2026-09-30") == "30 de septiembre de 2026"
        assert i18n.num(1234567.891, 1) == "1,234,567.9"  # es-MX groups with commas and uses a decimal point


def test_plurals_follow_each_language():
    with use("en"):
        assert nt("{n} sector from {start}", "{n} sectors from {start}", 1, start="2019-07") == "1 sector from 2019-07"
    with use("es"):
        assert nt("{n} sector from {start}", "{n} sectors from {start}", 1, start="2019-07") == "1 sector desde 2019-07"
        assert nt("{n} sector from {start}", "{n} sectors from {start}", 5, start="2022-04") == "5 sectores desde 2022-04"
        assert tr("Sector {sector}", sector="D36") == "Sector D36"


def test_an_unknown_language_is_refused_with_the_list():
    with pytest.raises(ValueError, match="use one of en, es"):
        with use("fr"):
            pass
    with pytest.raises(ValueError, match="use one of en, es"):
        i18n.set_languages("en fr")


def test_show_writes_each_text_once_per_language_and_combine_keeps_one_edition(tmp_path, monkeypatch):
    """One computation, two editions: ``show`` tags each output with its language; ``combine``
    keeps one language, translates Markdown cells and numbers figures and tables."""
    import matplotlib

    matplotlib.use("Agg")
    from analysis.report import figures, render

    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, metadata=None: shown.append((obj, metadata)))
    i18n.set_languages("en es")
    try:
        calls = []

        def text():
            calls.append(i18n.current())
            return tr("{n} sectors", n=3)

        i18n.show(text, caption="Estimates by method")
        import pandas as pd

        q = pd.DataFrame({"group": ["2024Q1", "2024Q2"], "estimate": [-10.0, -20.0], "ci_low": [-30.0, -40.0],
                          "ci_high": [5.0, 1.0], "suppressed": [False, False]})
        i18n.show(lambda: figures.by_quarter(q, -15.0))
    finally:
        i18n.set_languages("en")
    assert calls == ["en", "es"]
    assert [m["lang"] for _o, m in shown] == ["en", "es", "en", "es"]
    assert shown[0][1]["caption"] == "Estimates by method" and shown[1][1]["caption"] == "Estimaciones por método"
    assert shown[2][1]["kind"] == "figure" and "2024Q1" in shown[2][1]["alt"] and "−15.0%" in shown[2][1]["alt"]
    assert "−15.0\u00a0%" in shown[3][1]["alt"]  # the Spanish figure's alt text, from the same data

    # an executed notebook with both languages' outputs -> one edition each
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("## Limitations"),
        nbformat.v4.new_code_cell("show(...)"),
    ]
    for lang, txt in (("en", "3 sectors"), ("es", "3 sectores")):
        nb.cells[1].outputs.append(
            nbformat.v4.new_output("display_data", data={"text/markdown": txt},
                                   metadata={"lang": lang, "kind": "table", "caption": txt.upper()})
        )
    path = tmp_path / "program.ipynb"
    nbformat.write(nb, str(path))
    es = render.combine([path], lang="es")
    md = [c.source for c in es.cells if c.cell_type == "markdown"]
    outs = [o["data"]["text/markdown"] for o in es.cells[1].outputs]
    assert md == ["## Limitaciones"]
    assert outs == ["**Tabla 1.** 3 SECTORES", "3 sectores"]
    assert es.metadata["exhibits"][0]["notebook"] == "program" and es.metadata["exhibits"][0]["cell"] == 2
    en = render.combine([path], lang="en")
    assert [o["data"]["text/markdown"] for o in en.cells[1].outputs] == ["**Table 1.** 3 SECTORS", "3 sectors"]


def test_the_cover_comes_from_one_config_file_and_says_what_is_still_a_placeholder(tmp_path):
    from analysis.report.cover import CONFIG, citation, cover_lines, cutoff_date, load_cover

    cover = load_cover(CONFIG)  # the shipped defaults: placeholders, and they say so
    assert {"contact", "authors[0].name"} <= set(cover.placeholders)
    assert cover.title("es").startswith("Alto al Fuego: impacto") and cover.title("en").startswith("Alto al Fuego: impact")
    lines = dict(cover_lines(cover, "es", "2026Q3", "2026-11-29 10:00", cutoff_date(cover, [{"last_event": "2026-09-30"}])))
    assert lines["Corte de datos"] == "30 de septiembre de 2026" and "PLACEHOLDER" in lines["Contacto"]
    assert citation(cover, "en", "2026Q3", 2026).startswith("Suggested citation: ")
    assert "2026Q3" in citation(cover, "es", "2026Q3", 2026) and "Versión" in citation(cover, "es", "2026Q3", 2026)
    f = tmp_path / "report.toml"
    f.write_text(CONFIG.read_text().replace('contact = "', 'contact = "Ana Pérez, ana@example.org" #'))
    assert "contact" not in load_cover(f).placeholders
    f.write_text(CONFIG.read_text().replace('data_cutoff = ""', 'data_cutoff = "30/09/2026"'))
    with pytest.raises(ValueError, match=r"report.toml: 'data_cutoff' must be a date YYYY-MM-DD"):
        load_cover(f)
    f.write_text(CONFIG.read_text().replace("[es]", "[fr]"))
    with pytest.raises(ValueError, match=r"the table \[es\] with 'title' and 'subtitle' is missing"):
        load_cover(f)


def test_the_internal_edition_switch_shows_every_count_and_only_public_or_internal_exist():
    from analysis.report import disclosure

    assert disclosure.is_small(3)
    try:
        disclosure.set_edition("internal")
        assert not disclosure.is_small(3) and not disclosure.is_small(1)
    finally:
        disclosure.set_edition("public")
    assert disclosure.is_small(3) and not disclosure.is_small(5) and not disclosure.is_small(0)
    with pytest.raises(ValueError, match="use public or internal"):
        disclosure.set_edition("secret")
