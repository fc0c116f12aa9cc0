"""Executed notebooks -> the deliverable: self-contained HTML (nbconvert) and PDF (pandoc -> Typst).

These are the engines Quarto itself drives; Quarto cannot be installed here (see
../shared/design/MEASURED.md). Nothing is executed again: the render reads outputs only.
Code is hidden; figures are embedded (data URIs in the HTML, files compiled into the PDF);
no script or style is fetched from a network.
"""

from __future__ import annotations

import copy
import html
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

SKIP_TAGS = {"parameters", "injected-parameters", "notebook-only"}


@dataclass
class ReportMeta:
    title: str
    subtitle: str
    quarter: str
    built: str
    demo_label: str | None  # None for real data
    footer: str = ""
    lang: str = "en"
    #: the cover (``analysis.report.cover``): lines already in the edition's language
    cover: list[tuple[str, str]] = field(default_factory=list)
    citation: str = ""
    #: "CONFIDENTIAL ..." on every page of the internal edition; "" for the public one
    confidential: str = ""
    contents: str = "Contents"
    skip: str = "Skip to the contents"
    contact_label: str = "Contact"


@dataclass
class Exhibit:
    """A numbered figure or table of the combined report: where it comes from (for the appendix
    that maps each exhibit to its notebook cell) and, for a figure, its alt text."""

    kind: str  # 'figure' or 'table'
    number: int
    caption: str
    alt: str
    notebook: str
    cell: int  # the cell's position in its notebook (1-based, code cells and Markdown alike)
    source: str  # the cell's first code line that calls a function (what makes the exhibit)


def _maker(source: str) -> str:
    """The function that makes what a cell shows: the one ``show`` is given, else the first
    'module.function(' of the cell."""
    modules = r"(?:content|breakdown|diagnostics|figures|history|implementation|limitations|sectors|maps|brief)"
    shown = re.search(r"show\((?:lambda: )?(" + modules + r"\.[a-z_]+)", source)
    m = shown or re.search("(" + modules + r"\.[a-z_]+)\(", source)
    return m.group(1) if m else ""


def combine(paths: list[Path], headings: dict[int, str] | None = None, lang: str = "en") -> nbformat.NotebookNode:
    """One notebook made of the report cells of several executed notebooks, in order, in ``lang``.

    Outputs shown in another language (``i18n.show`` tags each with its language) are dropped;
    Markdown cells are translated from the catalogue; figures and captioned tables are numbered
    in order ("Figure 3." / "Figura 3.") and listed in ``nb.metadata['exhibits']``.
    ``headings`` maps a position in ``paths`` to a top-level heading placed before that notebook.
    """
    from analysis.report.i18n import _ as tr_
    from analysis.report.i18n import translate_markdown, use

    with use(lang):
        figure_word, table_word = tr_("Figure"), tr_("Table")
    first = nbformat.read(str(paths[0]), as_version=4)
    out = copy.deepcopy(first)
    out.cells = []
    exhibits: list[Exhibit] = []
    counts = {"figure": 0, "table": 0}
    for i, p in enumerate(paths):
        if headings and i in headings:
            out.cells.append(nbformat.v4.new_markdown_cell(f"# {headings[i]}"))
        nb = nbformat.read(str(p), as_version=4)
        for pos, c in enumerate(nb.cells, start=1):
            if SKIP_TAGS & set(c.get("metadata", {}).get("tags", [])):
                continue
            if c.cell_type == "markdown":
                c.source = translate_markdown(c.source, lang)
            if c.cell_type == "code":
                kept = []
                for o in c.get("outputs", []):
                    if o.get("output_type") == "stream":
                        continue
                    meta = o.get("metadata", {}) or {}
                    if meta.get("lang", lang) != lang:
                        continue
                    kind = meta.get("kind")
                    if kind in counts and meta.get("caption"):
                        counts[kind] += 1
                        n = counts[kind]
                        word = figure_word if kind == "figure" else table_word
                        label = nbformat.v4.new_output(
                            "display_data", data={"text/markdown": f"**{word} {n}.** {meta['caption']}"}
                        )
                        exhibits.append(
                            Exhibit(
                                kind,
                                n,
                                meta["caption"],
                                meta.get("alt", ""),
                                p.stem,
                                pos,
                                meta.get("maker") or _maker(c.source),
                            )
                        )
                        # a table's number goes above it, a figure's caption below it
                        kept += [label, o] if kind == "table" else [o, label]
                    else:
                        kept.append(o)
                c.outputs = kept
                if not c.outputs:
                    continue
            out.cells.append(c)
    for i, cell in enumerate(out.cells):  # ids unique across the notebooks combined (each has its "cell-0")
        cell["id"] = f"cell-{i}"
    out.metadata["exhibits"] = [e.__dict__ for e in exhibits]
    out.metadata["language"] = lang
    return out


_CSS = """
:root { --ink:#1d1d1f; --muted:#5f6368; --accent:#0072B2; --warn:#b00020; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; color: var(--ink); margin: 0;
       line-height: 1.5; font-size: 15px; background: #fff; }
main, header.title { max-width: 860px; margin: 0 auto; padding: 0 24px; }
.demo-banner, .confidential-banner { position: sticky; top: 0; z-index: 10; background: var(--warn); color: #fff;
               text-align: center; font-weight: 700; letter-spacing: .04em; padding: 6px 10px; font-size: 13px; }
.confidential-banner { background: #000; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 8px; top: 8px; background: #fff; padding: 4px 8px; z-index: 20; }
nav.toc { max-width: 860px; margin: 0 auto 8px; padding: 0 24px; font-size: 14px; }
nav.toc h2.toc-title { color: var(--ink); font-size: 17px; margin: 8px 0; }
nav.toc ol { margin: 0; padding-left: 20px; }
nav.toc ul { padding-left: 18px; list-style: circle; }
.table-wrap { overflow-x: auto; max-width: 100%; }
.k { font-weight: 600; }
header.title { padding-top: 40px; padding-bottom: 24px; border-bottom: 2px solid var(--accent); margin-bottom: 16px; }
header.title h1 { margin: 0 0 6px; font-size: 30px; }
header.title .subtitle { color: var(--muted); font-size: 17px; }
header.title .meta { color: var(--muted); font-size: 13px; margin-top: 10px; }
h1 { font-size: 24px; margin-top: 40px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h2 { font-size: 19px; margin-top: 28px; color: var(--accent); }
img { max-width: 100%; height: auto; display: block; margin: 8px 0; }
@media (max-width: 600px) {
  main, header.title, nav.toc { padding: 0 12px; }
  header.title h1 { font-size: 23px; }
  body { font-size: 16px; }
  table { font-size: 12px; }
}
table { border-collapse: collapse; margin: 12px 0; font-size: 13px; width: 100%; }
th, td { padding: 5px 8px; border-bottom: 1px solid #e3e3e3; }
th { border-bottom: 2px solid #999; text-align: left; }
.jp-InputPrompt, .jp-OutputPrompt, .anchor-link { display: none; }
footer { max-width: 860px; margin: 40px auto; padding: 12px 24px; color: var(--muted); font-size: 12px;
         border-top: 1px solid #ddd; }
@media print {
  .demo-banner { position: fixed; top: 0; left: 0; right: 0; }
  body { font-size: 11pt; }
  main { padding-top: 30px; }
}
"""


def render_html(nb: nbformat.NotebookNode, out: Path, meta: ReportMeta) -> Path:
    """Write a self-contained HTML page (no scripts, images inline) in ``meta.lang``: a table of
    contents, numbered figures and tables, each figure's alt text written from its data."""
    from bs4 import BeautifulSoup
    from nbconvert import HTMLExporter

    ex = HTMLExporter(template_name="basic")
    ex.exclude_input = True
    ex.exclude_input_prompt = True
    ex.exclude_output_prompt = True
    ex.embed_images = True
    ex.log.setLevel("ERROR")  # the alt text is written below; nbconvert's warning about it is moot
    nb = copy.deepcopy(nb)
    for i, cell in enumerate(nb.cells):  # cells made here (headings, the sources appendix) get random ids
        cell["id"] = f"cell-{i}"
    body, _ = ex.from_notebook_node(nb)
    soup = BeautifulSoup(body, features="html.parser")
    figures = [e for e in nb.metadata.get("exhibits", []) if e["kind"] == "figure"]
    for i, (img, fig) in enumerate(zip(soup.find_all("img"), figures), start=1):
        img["alt"] = fig["alt"] or fig["caption"]
        caption = img.find_next("p")  # "Figure n. ..." right below: the figure's visible caption
        if caption is not None and caption.strong is not None and caption.strong.get_text().endswith(f" {i}."):
            caption["id"] = f"figure-{i}"
            img["aria-describedby"] = f"figure-{i}"
    for a in soup.select("a.anchor-link"):
        a.decompose()  # the pilcrow links nbconvert adds to headings read as "¶" to a screen reader
    for table in soup.find_all("table"):  # wide tables scroll inside their box at phone width
        wrap = soup.new_tag("div", attrs={"class": "table-wrap", "role": "region", "tabindex": "0"})
        table.wrap(wrap)
    toc: list[str] = []  # sections (h1) numbered, their subsections (h2) listed under each
    open_sub = False
    for h in soup.find_all(["h1", "h2"]):
        if not h.get("id"):
            continue
        link = f'<a href="#{html.escape(str(h["id"]), quote=True)}">{html.escape(h.get_text(" ", strip=True))}</a>'
        if h.name == "h1":
            if open_sub:
                toc.append("</ul></li>")
                open_sub = False
            elif toc:
                toc.append("</li>")
            toc.append(f"<li>{link}")
        else:
            if not toc:
                toc.append("<li>")
            if not open_sub:
                toc.append("<ul>")
                open_sub = True
            toc.append(f"<li>{link}</li>")
    if toc:
        toc.append("</ul></li>" if open_sub else "</li>")
    body = str(soup)
    esc = html.escape
    banner = ""
    if meta.confidential:
        banner += f'<div class="confidential-banner" role="note">{esc(meta.confidential)}</div>'
    if meta.demo_label:
        banner += f'<div class="demo-banner" role="note">{esc(meta.demo_label)}</div>'
    cover = "".join(f'<div class="meta"><span class="k">{esc(k)}:</span> {esc(v)}</div>' for k, v in meta.cover)
    page = f"""<!DOCTYPE html>
<html lang="{esc(meta.lang)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(meta.title)} — {esc(meta.quarter)}</title>
<style>{_CSS}</style>
</head>
<body>
<a class="skip" href="#contents">{esc(meta.skip)}</a>
{banner}
<header class="title">
  <h1 class="report-title">{esc(meta.title)}</h1>
  <div class="subtitle">{esc(meta.subtitle)}</div>
  {cover}
</header>
<nav id="contents" class="toc" aria-label="{esc(meta.contents)}">
<h2 class="toc-title">{esc(meta.contents)}</h2>
<ol>{"".join(toc)}</ol>
</nav>
<main>
{body}
</main>
<footer>{esc(meta.footer)}{("<br>" + esc(meta.citation)) if meta.citation else ""}</footer>
</body>
</html>
"""
    out.write_text(page, encoding="utf-8")
    return out


def _typst_str(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


def typst_preamble(meta: ReportMeta) -> str:
    q = _typst_str
    demo = f'#text(fill: rgb("#b00020"), weight: "bold")[{q(meta.demo_label)}]' if meta.demo_label else ""
    conf = f'#text(weight: "bold")[{q(meta.confidential)}] · ' if meta.confidential else ""
    cover = "\n".join(f"  #text(10pt)[*{q(k)}:* {q(v)}] \\" for k, v in meta.cover)
    demo_box = (
        '#block(fill: rgb("#b00020"), inset: 10pt, radius: 3pt)[#text(fill: white, weight: "bold", size: 14pt)['
        + q(meta.demo_label)
        + "]]"
        if meta.demo_label
        else ""
    )
    conf_box = (
        '#block(fill: black, inset: 10pt, radius: 3pt)[#text(fill: white, weight: "bold", size: 14pt)['
        + q(meta.confidential)
        + "]]"
        if meta.confidential
        else ""
    )
    return f"""
#set document(title: "{q(meta.title)} {meta.quarter}")
#set page(paper: "a4", margin: (x: 2cm, top: 2.4cm, bottom: 2cm),
  header: [#set text(8pt, fill: luma(90)); {conf}{q(meta.title)} · {meta.quarter} #h(1fr) {demo}],
  footer: context [#set text(8pt, fill: luma(90)); {q(meta.footer)} #h(1fr) #counter(page).display("1 / 1", both: true)])
#set text(size: 10pt, lang: "{meta.lang}")
#set par(justify: false, leading: 0.6em)
#set heading(numbering: none)
#show heading.where(level: 1): it => block(above: 1.4em, below: 0.8em, sticky: true)[#text(15pt, weight: "bold", it.body)]
#show heading.where(level: 2): it => block(above: 1.2em, below: 0.6em, sticky: true)[#text(12pt, weight: "bold", fill: rgb("#0072B2"), it.body)]
#show par: set block(sticky: false)
#set image(width: 100%)
#set table(stroke: (x, y) => if y == 0 {{ (bottom: 0.8pt) }} else {{ (bottom: 0.3pt + luma(200)) }}, inset: 4pt)
#show table: set text(8.5pt)
#show figure.where(kind: table): set block(breakable: true)
#set figure(numbering: none)  // the number is in the caption's text, as in the HTML
#set figure.caption(separator: none)
#show figure.caption: set text(9pt)
#show figure.caption: set align(left)
#show figure.where(kind: table): set figure.caption(position: top)
#let horizontalrule = line(length: 100%, stroke: 0.4pt + luma(160))
#align(center)[
  #v(3cm)
  #text(24pt, weight: "bold")[{q(meta.title)}]
  #v(0.5em)
  #text(13pt)[{q(meta.subtitle)}]
  #v(1.5em)
  {conf_box}
  {demo_box}
]
#v(1.5em)
#align(left)[
{cover}
]
#v(1fr)
#text(8.5pt, fill: luma(70))[{q(meta.citation)}]
#pagebreak()
#outline(title: [{q(meta.contents)}], depth: 2)
#pagebreak()
"""


def _page_breaks(typ: str, appendix: str | None) -> str:
    """A page break before the appendix only. Sections otherwise follow each other on the page
    (a break before each left pages half empty), as do the appendix's sector sections (each is a
    heading, a sentence and one figure); a heading is kept with what follows it (``sticky``)."""
    out = []
    for line in typ.splitlines():
        if appendix and line.startswith(f"= {appendix}"):
            out.append("#pagebreak(weak: true)")
        out.append(line)
    return "\n".join(out)


#: a numbered caption as ``combine`` writes it: "**Figure 3.** ..." / "**Tabla 2.** ..."
_CAPTION = r"\*\*[^\W\d_]+ \d+\.\*\* [^\n]+"


def _captioned(md: str) -> str:
    """Markdown for pandoc in which each numbered caption belongs to its figure or table, so
    that Typst keeps them on one page (a figure's caption below it, a table's above it)."""
    # nbconvert names each figure by its MIME type ("![png](...)"); pandoc would caption it "png"
    md = re.sub(r"!\[(png|svg|jpeg)\]\(", "![](", md)
    md = re.sub(r"!\[\]\(([^)\s]+)\)\s*\n\s*\n(" + _CAPTION + ")", lambda m: f"![{m.group(2)}]({m.group(1)})", md)
    table = r"((?:^\|[^\n]*\|[ \t]*\n?)+)"
    return re.sub(
        "^(" + _CAPTION + r")\s*\n\s*\n" + table,
        lambda m: m.group(2).rstrip("\n") + "\n\n: " + m.group(1) + "\n",
        md,
        flags=re.M,
    )


def _markdown(nb: nbformat.NotebookNode) -> tuple[str, dict]:
    """The notebook as Markdown for pandoc (code hidden, captions joined to their exhibits) and
    the figures it refers to (PDF, brief and Word all start here)."""
    from nbconvert import MarkdownExporter

    ex = MarkdownExporter()
    ex.exclude_input = True
    md, resources = ex.from_notebook_node(nb)
    return _captioned(md), resources


def _write_figures(resources: dict, folder: Path) -> None:
    for name, data in resources.get("outputs", {}).items():
        (folder / name).write_bytes(data)


def _typst(md: str) -> str:
    import pypandoc

    return pypandoc.convert_text(
        md, "typst", format="markdown-raw_html-markdown_in_html_blocks", extra_args=["--wrap=none"]
    )


def render_pdf(nb: nbformat.NotebookNode, out: Path, meta: ReportMeta, appendix: str | None = None) -> Path:
    """Write the PDF: nbconvert Markdown -> pandoc Typst -> typst.compile."""
    import typst

    md, resources = _markdown(nb)
    with tempfile.TemporaryDirectory(prefix="typst-") as tmp_name:
        tmp = Path(tmp_name)
        _write_figures(resources, tmp)
        body = _typst(md)
        body = _page_breaks(body, appendix)
        (tmp / "report.typ").write_text(typst_preamble(meta) + body, encoding="utf-8")
        typst.compile(str(tmp / "report.typ"), output=str(out), root=str(tmp))
    return out


def render_docx(nb: nbformat.NotebookNode, out: Path, meta: ReportMeta) -> Path:
    """Write a Word edition (for partners who edit text) through pandoc: the same Markdown as the PDF."""
    import pypandoc

    md, resources = _markdown(nb)
    front = "\n".join(
        [f"# {meta.title}", "", meta.subtitle, ""]
        + ([f"**{meta.confidential}**", ""] if meta.confidential else [])
        + ([f"**{meta.demo_label}**", ""] if meta.demo_label else [])
        + [f"- **{k}:** {v}" for k, v in meta.cover]
        + ["", meta.citation, ""]
    )
    with tempfile.TemporaryDirectory(prefix="docx-") as tmp_name:
        tmp = Path(tmp_name)
        _write_figures(resources, tmp)
        pypandoc.convert_text(
            front + "\n" + md,
            "docx",
            format="markdown-raw_html-markdown_in_html_blocks",
            outputfile=str(out),
            extra_args=[f"--resource-path={tmp}", f"--metadata=lang:{meta.lang}"],
        )
    return out


def render_brief(nb: nbformat.NotebookNode, out: Path, meta: ReportMeta) -> Path:
    """The two-page brief: a title band, the key messages, one figure and one map, the contact."""
    import typst

    q = _typst_str
    md, resources = _markdown(nb)
    marks = " · ".join(x for x in (meta.confidential, meta.demo_label) if x)
    preamble = f"""
#set document(title: "{q(meta.title)} {meta.quarter}")
#set page(paper: "a4", margin: (x: 1.8cm, top: 1.6cm, bottom: 1.5cm),
  footer: context [#set text(7.5pt, fill: luma(90)); {q(meta.footer)} #h(1fr) #counter(page).display("1 / 1", both: true)])
#set text(size: 9.5pt, lang: "{meta.lang}")
#set par(justify: false, leading: 0.55em)
#show heading.where(level: 1): it => block(above: 0.6em, below: 0.5em)[#text(13pt, weight: "bold", it.body)]
#show heading.where(level: 2): it => block(above: 0.8em, below: 0.4em, sticky: true)[#text(11pt, weight: "bold", fill: rgb("#0072B2"), it.body)]
#set image(width: 90%)
#set figure(numbering: none)
#set figure.caption(separator: none)
#show figure.caption: set text(8.5pt)
#show figure.caption: set align(left)
#let horizontalrule = line(length: 100%, stroke: 0.4pt + luma(160))
#block(width: 100%, fill: rgb("#0072B2"), inset: 8pt)[
  #text(fill: white, weight: "bold", size: 14pt)[{q(meta.title)}] \\
  #text(fill: white, size: 9pt)[{q(meta.subtitle)} · {meta.quarter}]
]
{('#block(width: 100%, fill: rgb("#b00020"), inset: 5pt)[#text(fill: white, weight: "bold", size: 9pt)[' + q(marks) + "]]") if marks else ""}
"""
    with tempfile.TemporaryDirectory(prefix="brief-") as tmp_name:
        tmp = Path(tmp_name)
        _write_figures(resources, tmp)
        body = _typst(md)
        contact = dict(meta.cover).get(meta.contact_label, "")
        closing = (
            "\n#v(0.6em)\n#block(width: 100%, stroke: (top: 0.5pt + luma(160)), inset: (top: 5pt))[#text(8.5pt)["
            + (f"*{q(meta.contact_label)}:* {q(contact)} \\ " if contact else "")
            + f"{q(meta.citation)}]]\n"
        )
        (tmp / "brief.typ").write_text(preamble + body + closing, encoding="utf-8")
        typst.compile(str(tmp / "brief.typ"), output=str(out), root=str(tmp))
    return out
