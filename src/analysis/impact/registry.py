"""The methods ``estimate`` knows, by name: one entry per method module.

Adding a method is one new module that defines a ``Method`` (``analysis.impact.method``) and one
line here (README, "Adding a method").
"""

from __future__ import annotations

from analysis.impact import cs, gardner, imputation, ppml, sdid, twfe
from analysis.impact.method import Method

REGISTRY: dict[str, Method] = {
    m.name: m
    for m in (
        ppml.METHOD,
        imputation.METHOD,
        gardner.METHOD,
        cs.METHOD,
        cs.METHOD_SA,
        sdid.METHOD_SDID,
        sdid.METHOD_SC,
        twfe.METHOD,
    )
}

#: the report's headline method. On realistic cities, whose city-wide swings multiply every
#: sector's rate (``analysis.validation``, reports/validation/summary.md), the Poisson imputation
#: is unbiased and its test holds its size, while the additive imputation overstates a fall by
#: about 10 points and finds one where there is none in half the cities
DEFAULT_METHOD = "ppml"


def method_label(name: str, lang: str = "en", short: bool = False) -> str:
    """A method's name for a reader (``Method.label``); an unregistered name reads as itself
    (the report asks in its current language: ``analysis.report.i18n.method_name``)."""
    return REGISTRY[name].label(lang, short) if name in REGISTRY else name


def get_method(name: str) -> Method:
    """The registered method ``name``; a clear error listing the others."""
    if name not in REGISTRY:
        raise ValueError(f"unknown method {name!r}; available: {', '.join(REGISTRY)}")
    return REGISTRY[name]
