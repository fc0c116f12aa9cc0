"""The report's cover and metadata from ``config/report.toml``: title and subtitle in each
language, authors and institutions, data cut-off date, contact, version and the suggested
citation. One file the team edits; a default that is a placeholder says so on the cover.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from analysis.paths import ROOT
from analysis.report.i18n import LANGUAGES, _, date, tr, use

CONFIG = ROOT / "config" / "report.toml"
PLACEHOLDER = "PLACEHOLDER"


@dataclass
class Cover:
    titles: dict[str, tuple[str, str]]  # lang -> (title, subtitle)
    authors: list[tuple[str, str]]  # (name, institution)
    contact: str
    version: str
    data_cutoff: str = ""
    placeholders: list[str] = field(default_factory=list)  # the keys still holding a placeholder

    def title(self, lang: str) -> str:
        return self.titles[lang][0]

    def subtitle(self, lang: str) -> str:
        return self.titles[lang][1]


def load_cover(path: Path | str = CONFIG) -> Cover:
    """The cover; a missing or malformed entry is an error naming the file and the key."""
    path = Path(path)
    try:
        c = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ValueError(f"{path}: cannot be read ({e})") from None

    def text(v, key: str) -> str:
        if not isinstance(v, str) or not v.strip():
            raise ValueError(f"{path}: '{key}' must be a non-empty string (found {v!r})")
        return v.strip()

    titles = {}
    for lang in LANGUAGES:
        t = c.get(lang)
        if not isinstance(t, dict):
            raise ValueError(f"{path}: the table [{lang}] with 'title' and 'subtitle' is missing")
        titles[lang] = (text(t.get("title"), f"{lang}.title"), text(t.get("subtitle"), f"{lang}.subtitle"))
    authors = c.get("authors")
    if not isinstance(authors, list) or not authors:
        raise ValueError(f"{path}: 'authors' must list at least one [[authors]] entry with name and institution")
    people = [
        (text(a.get("name"), f"authors[{i}].name"), text(a.get("institution"), f"authors[{i}].institution"))
        for i, a in enumerate(authors)
    ]
    cutoff = str(c.get("data_cutoff", "") or "").strip()
    if cutoff:
        import datetime as dt

        try:
            dt.date.fromisoformat(cutoff)
        except ValueError:
            raise ValueError(f"{path}: 'data_cutoff' must be a date YYYY-MM-DD or empty (found {cutoff!r})") from None
    cover = Cover(
        titles=titles,
        authors=people,
        contact=text(c.get("contact"), "contact"),
        version=text(str(c.get("version", "")), "version"),
        data_cutoff=cutoff,
    )
    flat = {"contact": cover.contact, "version": cover.version}
    flat.update({f"authors[{i}].name": n for i, (n, _i) in enumerate(people)})
    flat.update({f"authors[{i}].institution": inst for i, (_n, inst) in enumerate(people)})
    cover.placeholders = [k for k, v in flat.items() if PLACEHOLDER in v.upper()]
    return cover


def cutoff_date(cover: Cover, extracts: list[dict]) -> str | None:
    """The data cut-off: the team's date, else the last event date of the extracts read."""
    if cover.data_cutoff:
        return cover.data_cutoff
    dates = [str(e["last_event"]) for e in extracts if e.get("last_event")]
    return max(dates) if dates else None


def _names(cover: Cover) -> str:
    return "; ".join(n for n, _i in cover.authors)


def _institutions(cover: Cover) -> str:
    return "; ".join(dict.fromkeys(i for _n, i in cover.authors))


def cover_lines(cover: Cover, lang: str, quarter: str, built: str, cutoff: str | None) -> list[tuple[str, str]]:
    """(label, value) lines of the cover in ``lang``."""
    with use(lang):
        return [
            (_("Quarter"), quarter),
            (_("Authors"), _names(cover)),
            (_("Institutions"), _institutions(cover)),
            (_("Data cut-off"), date(cutoff) if cutoff else _("not recorded")),
            (_("Contact"), cover.contact),
            (_("Version"), cover.version),
            (_("Built"), built),
        ]


def citation(cover: Cover, lang: str, quarter: str, year: int) -> str:
    """The suggested citation in ``lang``."""
    with use(lang):
        return tr(
            "Suggested citation: {authors} ({year}). {title}, {quarter}. {institutions}. Version {version}.",
            authors=_names(cover),
            year=year,
            title=cover.title(lang),
            quarter=quarter,
            institutions=_institutions(cover),
            version=cover.version,
        )
