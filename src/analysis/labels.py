"""Names a reader sees for outcomes and kinds of inference: the one place they live.

A leaf module (it imports nothing from the package), so the estimators, the report and the
notebooks all read the same names. Each entry gives the English and the Spanish name. A method's
names live on its ``Method`` (``analysis.impact.registry.method_label``), beside what it is.
"""

from __future__ import annotations

#: kind of inference -> (English, Spanish)
INFERENCE_LABELS: dict[str, tuple[str, str]] = {
    "randomization": ("Randomization", "Aleatorización"),
    "placebo": ("Placebo", "Placebo"),
    "wild": ("Wild bootstrap", "Bootstrap salvaje"),
    "jackknife": ("Jackknife", "Jackknife"),
    "cluster": ("Cluster-robust", "Robusto por conglomerados"),
}

#: outcome -> (English, Spanish), counted as victims (FGJ records: one per victim)
OUTCOME_LABELS: dict[str, tuple[str, str]] = {
    "shootings": (
        "victims of shootings (gun homicides and non-fatal gun injuries)",
        "víctimas de disparos (homicidios dolosos con arma de fuego y lesiones dolosas por disparo de arma de fuego)",
    ),
    "gun_homicides": ("victims of gun homicide", "víctimas de homicidio doloso con arma de fuego"),
    "gun_injuries": ("victims of non-fatal gun injuries", "víctimas de lesiones dolosas por disparo de arma de fuego"),
}
#: the same outcomes counted as incidents (SSC sources: one record per incident, not per victim)
INCIDENT_OUTCOME_LABELS: dict[str, tuple[str, str]] = {
    "shootings": (
        "shooting incidents (gun homicides and non-fatal gun injuries)",
        "incidentes de disparos (homicidios dolosos con arma de fuego y lesiones dolosas por disparo de arma de fuego)",
    ),
    "gun_homicides": ("gun homicide incidents", "incidentes de homicidio doloso con arma de fuego"),
    "gun_injuries": (
        "incidents of non-fatal gun injury",
        "incidentes de lesiones dolosas por disparo de arma de fuego",
    ),
    "all_homicides": ("intentional homicide incidents (any weapon)", "incidentes de homicidio doloso (cualquier arma)"),
}
#: outcome -> (English, Spanish): the short name on figure axes and titles
OUTCOME_SHORT: dict[str, tuple[str, str]] = {
    "shootings": (
        "Shootings (gun homicides + gun injuries)",
        "Víctimas de disparos (homicidios dolosos con arma de fuego y lesiones dolosas por disparo de arma de fuego)",
    ),
    "gun_homicides": ("Gun homicides", "Homicidios dolosos con arma de fuego"),
    "gun_injuries": ("Non-fatal gun injuries", "Lesiones dolosas por disparo de arma de fuego"),
    "all_homicides": ("Intentional homicides (all weapons)", "Homicidios dolosos (cualquier arma)"),
}

LANGUAGES = ("en", "es")


def label(table: dict[str, tuple[str, str]], key: str, lang: str = "en") -> str:
    """``key``'s name in ``lang`` from one of the tables above; an unknown key reads as itself
    (the report asks in its current language: ``analysis.report.i18n.label``)."""
    if lang not in LANGUAGES:
        raise ValueError(f"language {lang!r}: use one of {', '.join(LANGUAGES)}")
    names = table.get(key)
    return names[LANGUAGES.index(lang)] if names else key.replace("_", " ")
