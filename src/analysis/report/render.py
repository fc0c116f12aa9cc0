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
from dataclasses import dataclass
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


def combine(paths: list[Path], headings: dict[int, str] | None = None) -> nbformat.NotebookNode:
    """One notebook made of the report cells of several executed notebooks, in order.

    ``headings`` maps a position in ``paths`` to a top-level heading placed before that notebook.
    """
    first = nbformat.read(str(paths[0]), as_version=4)
    out = copy.deepcopy(first)
    out.cells = []
    for i, p in enumerate(paths):
        if headings and i in headings:
            out.cells.append(nbformat.v4.new_markdown_cell(f"# {headings[i]}"))
        nb = nbformat.read(str(p), as_version=4)
        for c in nb.cells:
            if SKIP_TAGS & set(c.get("metadata", {}).get("tags", [])):
                continue
            if c.cell_type == "code":
                c.outputs = [o for o in c.get("outputs", []) if o.get("output_type") != "stream"]
                if not c.outputs:
                    continue
            out.cells.append(c)
    return out


_CSS = """
:root { --ink:#1d1d1f; --muted:#5f6368; --accent:#0072B2; --warn:#b00020; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; color: var(--ink); margin: 0;
       line-height: 1.5; font-size: 15px; background: #fff; }
main, header.title { max-width: 860px; margin: 0 auto; padding: 0 24px; }
.demo-banner { position: sticky; top: 0; z-index: 10; background: var(--warn); color: #fff; text-align: center;
               font-weight: 700; letter-spacing: .04em; padding: 6px 10px; font-size: 13px; }
header.title { padding-top: 40px; padding-bottom: 24px; border-bottom: 2px solid var(--accent); margin-bottom: 16px; }
header.title h1 { margin: 0 0 6px; font-size: 30px; }
header.title .subtitle { color: var(--muted); font-size: 17px; }
header.title .meta { color: var(--muted); font-size: 13px; margin-top: 10px; }
h1 { font-size: 24px; margin-top: 40px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h2 { font-size: 19px; margin-top: 28px; color: var(--accent); }
img { max-width: 100%; height: auto; display: block; margin: 8px 0; }
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
    """Write a self-contained HTML page (no scripts, images inline)."""
    from nbconvert import HTMLExporter

    ex = HTMLExporter(template_name="basic")
    ex.exclude_input = True
    ex.exclude_input_prompt = True
    ex.exclude_output_prompt = True
    ex.embed_images = True
    body, _ = ex.from_notebook_node(nb)
    banner = f'<div class="demo-banner">{html.escape(meta.demo_label)}</div>' if meta.demo_label else ""
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(meta.title)} — {html.escape(meta.quarter)}</title>
<style>{_CSS}</style>
</head>
<body>
{banner}
<header class="title">
  <h1>{html.escape(meta.title)}</h1>
  <div class="subtitle">{html.escape(meta.subtitle)}</div>
  <div class="meta">Quarter {html.escape(meta.quarter)} · built {html.escape(meta.built)}{' · <strong style="color:#b00020">' + html.escape(meta.demo_label) + "</strong>" if meta.demo_label else ""}</div>
</header>
<main>
{body}
</main>
<footer>{html.escape(meta.footer)}</footer>
</body>
</html>
"""
    out.write_text(page, encoding="utf-8")
    return out


def _typst_str(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


def typst_preamble(meta: ReportMeta) -> str:
    demo = f'#text(fill: rgb("#b00020"), weight: "bold")[{_typst_str(meta.demo_label)}]' if meta.demo_label else ""
    return f"""
#set document(title: "{_typst_str(meta.title)} {meta.quarter}")
#set page(paper: "a4", margin: (x: 2cm, top: 2.4cm, bottom: 2cm),
  header: [#set text(8pt, fill: luma(90)); {_typst_str(meta.title)} · {meta.quarter} #h(1fr) {demo}],
  footer: context [#set text(8pt, fill: luma(90)); {_typst_str(meta.footer)} #h(1fr) #counter(page).display()])
#set text(size: 10pt, lang: "en")
#set par(justify: false, leading: 0.6em)
#set heading(numbering: none)
#show heading.where(level: 1): it => block(above: 1.4em, below: 0.8em, sticky: true)[#text(15pt, weight: "bold", it.body)]
#show heading.where(level: 2): it => block(above: 1.2em, below: 0.6em, sticky: true)[#text(12pt, weight: "bold", fill: rgb("#0072B2"), it.body)]
#show par: set block(sticky: false)
#set image(width: 100%)
#set table(stroke: (x, y) => if y == 0 {{ (bottom: 0.8pt) }} else {{ (bottom: 0.3pt + luma(200)) }}, inset: 4pt)
#show table: set text(8.5pt)
#show figure.where(kind: table): set block(breakable: true)
#let horizontalrule = line(length: 100%, stroke: 0.4pt + luma(160))
#align(center + horizon)[
  #text(24pt, weight: "bold")[{_typst_str(meta.title)}]
  #v(0.5em)
  #text(13pt)[{_typst_str(meta.subtitle)}]
  #v(1.5em)
  #text(16pt)[Quarter {meta.quarter}]
  #v(0.5em)
  #text(10pt, fill: luma(90))[Built {meta.built}]
  #v(2em)
  {('#block(fill: rgb("#b00020"), inset: 10pt, radius: 3pt)[#text(fill: white, weight: "bold", size: 14pt)[' + _typst_str(meta.demo_label) + "]]") if meta.demo_label else ""}
]
#pagebreak()
"""


def _page_breaks(typ: str) -> str:
    """A page break before the appendix only. Sections otherwise follow each other on the page
    (a break before each left pages half empty), as do the appendix's sector sections (each is a
    heading, a sentence and one figure); a heading is kept with what follows it (``sticky``)."""
    out = []
    for line in typ.splitlines():
        if line.startswith("= Appendix"):
            out.append("#pagebreak(weak: true)")
        out.append(line)
    return "\n".join(out)


def render_pdf(nb: nbformat.NotebookNode, out: Path, meta: ReportMeta) -> Path:
    """Write the PDF: nbconvert Markdown -> pandoc Typst -> typst.compile."""
    import pypandoc
    import typst
    from nbconvert import MarkdownExporter

    ex = MarkdownExporter()
    ex.exclude_input = True
    md, resources = ex.from_notebook_node(nb)
    # nbconvert names each figure by its MIME type ("![png](...)"); pandoc would caption it "png"
    md = re.sub(r"!\[(png|svg|jpeg)\]\(", "![](", md)
    with tempfile.TemporaryDirectory(prefix="typst-") as tmp_name:
        tmp = Path(tmp_name)
        for name, data in resources.get("outputs", {}).items():
            (tmp / name).write_bytes(data)
        body = pypandoc.convert_text(
            md, "typst", format="markdown-raw_html-markdown_in_html_blocks", extra_args=["--wrap=none"]
        )
        # each top-level section and each sector starts on a new page, so a sector's text and
        # its figure stay together
        body = _page_breaks(body)
        (tmp / "report.typ").write_text(typst_preamble(meta) + body, encoding="utf-8")
        typst.compile(str(tmp / "report.typ"), output=str(out), root=str(tmp))
    return out
