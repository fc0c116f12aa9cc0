"""The report's languages: message catalogues (gettext, through Babel) and locale formats.

English is the source language: every reader-facing sentence is written once, in English, as
the argument of ``_`` / ``tr`` (or as a notebook's Markdown cell), and its Spanish lives in
``locale/es/LC_MESSAGES/report.po``. ``python -m analysis.report.i18n`` extracts the messages
from the code and the notebooks and updates the catalogue (new messages come in empty, gone ones
are marked obsolete); tests/test_i18n.py fails when a message has no Spanish or when a
translation drops or renames a placeholder.

A notebook computes once and shows each text in every edition language: ``show`` evaluates a
text-making function under each language and tags each output with it, and the render keeps an
edition's outputs only (``analysis.report.render.combine``). So the two editions come from the
same numbers, and no estimate is run twice.

Numbers, percentages and dates follow the locale through Babel (es-MX, en).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import gettext as _gettext
import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

LANGUAGES = ("en", "es")
LOCALES = {"en": "en", "es": "es_MX"}
DOMAIN = "report"
LOCALE_DIR = Path(__file__).with_name("locale")

_current: contextvars.ContextVar[str] = contextvars.ContextVar("report_language", default="en")


def check_language(lang: str) -> str:
    if lang not in LANGUAGES:
        raise ValueError(f"language {lang!r} is not available: use one of {', '.join(LANGUAGES)}")
    return lang


def current() -> str:
    return _current.get()


@contextlib.contextmanager
def use(lang: str) -> Iterator[str]:
    """Everything inside speaks ``lang``."""
    token = _current.set(check_language(lang))
    try:
        yield lang
    finally:
        _current.reset(token)


def catalogue_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def translations(lang: str) -> _gettext.NullTranslations:
    """The compiled catalogue of ``lang`` (compiled in memory from the .po: no binary is kept)."""
    if lang == "en":
        return _gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with open(catalogue_path(lang), "rb") as f:
        catalog = read_po(f, locale=LOCALES[lang])
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return _gettext.GNUTranslations(buf)


def _(message: str) -> str:
    """``message`` in the current language."""
    return translations(current()).gettext(message)


def N_(message: str) -> str:
    """Marks a message for the catalogue without translating it now (translated where shown)."""
    return message


def tr(message: str, **values: Any) -> str:
    """``message`` in the current language, its ``{placeholders}`` filled with ``values``."""
    return _(message).format(**values)


def nt(singular: str, plural: str, n: int, **values: Any) -> str:
    """The singular or plural form, by ``n`` and the current language's rules."""
    return translations(current()).ngettext(singular, plural, n).format(n=n, **values)


def translate_markdown(source: str, lang: str | None = None) -> str:
    """A notebook Markdown cell in ``lang`` (the cell's text, stripped, is its message id)."""
    with use(lang or current()):
        key = source.strip()
        return _(key) if key else source


# -- formats -----------------------------------------------------------------------------------
MINUS = "−"  # a true minus sign, as in the PDF's typography


def _locale() -> str:
    return LOCALES[current()]


def num(x: float, digits: int = 0) -> str:
    """A number in the locale's format (grouping, decimals), with a true minus sign."""
    from babel.numbers import format_decimal

    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(x, pattern, locale=_locale()).replace("-", MINUS)


def pct(x: float, digits: int = 1, signed: bool = True) -> str:
    """A percentage given in percent (-31.7 -> '−31.7%' in English, '−31.7 %' in Spanish)."""
    from babel.numbers import format_decimal

    pattern = ("+" if signed else "") + "#,##0" + ("." + "0" * digits if digits else "")
    pattern = f"{pattern};-#,##0" + ("." + "0" * digits if digits else "")
    value = format_decimal(x, pattern, locale=_locale()).replace("-", MINUS)
    return value + ("\u00a0%" if current() == "es" else "%")


def month(period: Any, width: str = "long") -> str:
    """A month by name: 'July 2026' / 'julio de 2026' (width 'short': 'Jul 2026' / 'jul 2026')."""
    import pandas as pd
    from babel.dates import format_date

    d = pd.Period(period, "M").to_timestamp().date()
    if width == "short":
        return format_date(d, "MMM y", locale=_locale()).replace(".", "")
    return format_date(d, "MMMM 'de' y" if current() == "es" else "MMMM y", locale=_locale())


def date(d: Any) -> str:
    """A date in full: '29 November 2026' / '29 de noviembre de 2026'."""
    import pandas as pd
    from babel.dates import format_date

    return format_date(pd.Timestamp(d).date(), "long", locale=_locale())


def month_names(width: Literal["abbreviated", "narrow", "wide"] = "abbreviated") -> list[str]:
    """The twelve month names of the current language (for figure axes)."""
    from babel.dates import get_month_names

    names = get_month_names(width, context="stand-alone", locale=_locale())
    return [names[i].replace(".", "") for i in range(1, 13)]


def join(items: list[str]) -> str:
    """'a, b and c' / 'a, b y c' (Babel's list patterns)."""
    from babel.lists import format_list

    return format_list(list(items), locale=_locale()) if items else ""


def label(table: dict[str, tuple[str, str]], key: str) -> str:
    """An outcome's or an inference's name (``analysis.labels``) in the current language."""
    from analysis.labels import label as _label

    return _label(table, key, current())


def method_name(name: str, short: bool = False) -> str:
    """A method's name (``Method.label``) in the current language."""
    from analysis.impact.registry import method_label

    return method_label(name, current(), short)


# -- one computation, every edition --------------------------------------------------------------
#: the languages a notebook shows its texts in (the build sets both; JupyterLab shows English)
EDITION_LANGUAGES: list[str] = ["en"]


def set_languages(languages: str | list[str]) -> list[str]:
    """Set the languages ``show`` writes (a notebook's ``languages`` parameter: 'en es')."""
    langs = languages.split() if isinstance(languages, str) else list(languages)
    for lang in langs:
        check_language(lang)
    EDITION_LANGUAGES[:] = langs or ["en"]
    return EDITION_LANGUAGES


def show(make: Callable[[], Any], caption: str | None = None) -> None:
    """Display what ``make()`` returns once per edition language, each output tagged with its
    language. ``make`` may return Markdown text, a matplotlib figure, a tuple or list of these,
    or None/'' (nothing shown). A figure's ``alt_text`` and ``caption`` attributes (set by
    ``analysis.report.figures``), or ``caption`` here for a table (an English message, translated
    here), travel with it: the render numbers them and writes the alt text."""
    from IPython.display import Markdown, display

    for lang in EDITION_LANGUAGES:
        with use(lang):
            made = make()
            items = made if isinstance(made, (tuple, list)) else [made]
            for i, item in enumerate(items):
                if item is None or (isinstance(item, str) and not item.strip()):
                    continue
                meta: dict[str, Any] = {"lang": lang, "maker": _maker(make)}
                if caption and i == 0:
                    meta["caption"] = _(caption)
                    meta["kind"] = "table"
                if isinstance(item, str):
                    display(Markdown(item), metadata=meta)
                else:
                    meta["kind"] = "figure"
                    meta["alt"] = getattr(item, "alt_text", "") or ""
                    meta["caption"] = getattr(item, "caption", "") or ""
                    display(item, metadata=meta)


#: the report modules whose functions make what the notebooks show
REPORT_MODULES = (
    "content",
    "breakdown",
    "diagnostics",
    "figures",
    "history",
    "implementation",
    "limitations",
    "sectors",
    "maps",
    "brief",
)


def _maker(make: Callable[[], Any]) -> str:
    """The report function a ``show`` call displays, read from its code: ``lambda: maps.program_map(...)``
    -> 'maps.program_map' (for the appendix that says where each figure and table comes from)."""
    code = getattr(make, "__code__", None)
    if code is None or getattr(make, "__name__", "") != "<lambda>":
        module = getattr(make, "__module__", "") or ""
        name = getattr(make, "__name__", "")
        return f"{module.rsplit('.', 1)[-1]}.{name}" if module.startswith("analysis.report") and name else ""
    names = code.co_names
    for a, b in zip(names, names[1:]):
        if a in REPORT_MODULES:
            return f"{a}.{b}"
    return ""


_PLACEHOLDER = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)(?:[:!][^{}]*)?\}(?!\})")


def placeholders(message: str) -> set[str]:
    """The names of the ``{placeholders}`` of a message."""
    return set(_PLACEHOLDER.findall(message))


# -- the catalogue -------------------------------------------------------------------------------
SOURCES = (
    "src/analysis/report",
    "src/analysis/labels.py",
    "src/analysis/impact/registry.py",
    "src/analysis/evaluation",
    "src/analysis/data/activities.py",
)
KEYWORDS = {"_": None, "N_": None, "tr": None, "nt": (1, 2)}


def extract_notebook(fileobj, keywords, comment_tags, options):
    """Babel extractor for the Jupytext notebooks: each report Markdown cell is a message."""
    import jupytext

    nb = jupytext.reads(fileobj.read().decode("utf-8"), fmt="py:percent")
    for cell in nb.cells:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if cell.cell_type == "markdown" and not tags & {"notebook-only"} and cell.source.strip():
            yield 1, "_", cell.source.strip(), []
        if cell.cell_type == "code":  # a table's caption, given to ``show`` and translated there
            for caption in re.findall(r'caption="([^"]+)"', cell.source):
                yield 1, "_", caption, []


def extract(root: Path) -> Any:
    """Every message of the code and the notebooks, as a Babel catalogue (the .pot)."""
    import warnings

    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_file

    # values given as f-strings (``tr("{n} sectors", n=f"{n:,}")``) are not messages: Babel warns on each
    warnings.filterwarnings("ignore", message="Skipping f-string")
    cat = Catalog(project="alto-al-fuego report", domain=DOMAIN)
    files: list[Path] = []
    for s in SOURCES:
        p = root / s
        files += sorted(p.rglob("*.py")) if p.is_dir() else [p]
    with contextlib.redirect_stderr(io.StringIO()):  # Babel prints the same warning itself
        for f in files:
            for lineno, msg, comments, _ctx in extract_from_file("python", str(f), keywords=KEYWORDS):
                cat.add(msg, locations=[(str(f.relative_to(root)), lineno)], auto_comments=comments)
        for f in sorted((root / "notebooks").glob("*.py")):
            for lineno, msg, comments, _ctx in extract_from_file(extract_notebook, str(f), keywords=KEYWORDS):
                cat.add(msg, locations=[(str(f.relative_to(root)), lineno)], auto_comments=comments)
    return cat


def translated(message: Any) -> bool:
    """Whether a catalogue entry has its translation (every plural form), not fuzzy."""
    forms = message.string if isinstance(message.string, (tuple, list)) else (message.string,)
    return bool(forms) and all(forms) and not message.fuzzy


def update(root: Path, lang: str = "es") -> tuple[int, int]:
    """Bring ``lang``'s catalogue up to the code's messages; returns (messages, untranslated)."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po, write_po

    template = extract(root)
    path = catalogue_path(lang)
    if path.exists():
        with open(path, "rb") as f:
            cat = read_po(f, locale=LOCALES[lang])
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        cat = Catalog(locale=LOCALES[lang], domain=DOMAIN, project="alto-al-fuego report")
    cat.update(template, no_fuzzy_matching=True)
    cat.obsolete.clear()
    with open(path, "wb") as f:
        write_po(f, cat, width=100, omit_header=False, sort_output=False, include_previous=False)
    missing = sum(1 for m in cat if m.id and not translated(m))
    translations.cache_clear()
    return len([m for m in cat if m.id]), missing


if __name__ == "__main__":  # python -m analysis.report.i18n: update the catalogues
    from analysis.paths import ROOT

    for lang in LANGUAGES[1:]:
        n, missing = update(ROOT, lang)
        print(f"{catalogue_path(lang).relative_to(ROOT)}: {n} messages, {missing} without a translation")
