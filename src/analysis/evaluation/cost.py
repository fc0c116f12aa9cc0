"""What the violence averted is worth, and what each averted victim cost the program.

Victims averted (expected without the program less recorded, with the interval of the estimate)
times the cost to society of a fatal and of a non-fatal shooting gives the cost averted; the
program's cost divided by the victims averted gives the cost per victim averted. Every figure is a
parameter of ``config/cost.toml`` with its source; the program's cost has no default.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from analysis.paths import ROOT

CONFIG = ROOT / "config" / "cost.toml"


@dataclass(frozen=True)
class Costs:
    currency: str
    fatal: float
    nonfatal: float
    price_year: int
    source: str
    is_default: bool
    program_cost: float | None
    program_cost_source: str
    #: the sources in Spanish, for the Spanish edition (the English ones when not given)
    source_es: str = ""
    program_cost_source_es: str = ""

    def source_in(self, lang: str) -> str:
        return self.source_es if lang == "es" and self.source_es else self.source

    def program_cost_source_in(self, lang: str) -> str:
        return self.program_cost_source_es if lang == "es" and self.program_cost_source_es else self.program_cost_source


def load_costs(path: Path | str = CONFIG) -> Costs:
    """The cost parameters; a missing or malformed entry is an error naming the file and key."""
    path = Path(path)
    try:
        c = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ValueError(f"{path}: cannot be read ({e})") from None

    def number(k: str, required: bool = True) -> float | None:
        v = c.get(k)
        if v is None and not required:
            return None
        if not isinstance(v, int | float) or isinstance(v, bool) or v < 0:
            raise ValueError(f"{path}: '{k}' must be a number >= 0 (found {v!r})")
        return float(v)

    fatal, nonfatal = number("cost_per_fatal_shooting"), number("cost_per_nonfatal_shooting")
    assert fatal is not None and nonfatal is not None
    prog = number("program_cost", required=False)
    return Costs(
        currency=str(c.get("currency", "USD")),
        fatal=fatal,
        nonfatal=nonfatal,
        price_year=int(c.get("cost_price_year", 0)),
        source=str(c.get("cost_source", "")),
        is_default=bool(c.get("cost_is_default", True)),
        program_cost=prog if prog else None,
        program_cost_source=str(c.get("program_cost_source", "")),
        source_es=str(c.get("cost_source_es", "")),
        program_cost_source_es=str(c.get("program_cost_source_es", "")),
    )


def cost_averted(homicides: dict, injuries: dict, costs: Costs) -> dict:
    """Cost of the victims averted, from the per-outcome windows of ``trend.window_effect``
    (keys ``averted, averted_low, averted_high``). The bounds combine each outcome's interval
    ends, so they are wider than a joint 95 % interval would be (conservative)."""
    point = homicides["averted"] * costs.fatal + injuries["averted"] * costs.nonfatal
    low = homicides["averted_low"] * costs.fatal + injuries["averted_low"] * costs.nonfatal
    high = homicides["averted_high"] * costs.fatal + injuries["averted_high"] * costs.nonfatal
    out = {"cost_averted": point, "cost_averted_low": low, "cost_averted_high": high}
    total = homicides["averted"] + injuries["averted"]
    if costs.program_cost is not None and total > 0:
        out["program_cost"] = costs.program_cost
        out["cost_per_victim_averted"] = costs.program_cost / total
        lo_n = homicides["averted_low"] + injuries["averted_low"]
        hi_n = homicides["averted_high"] + injuries["averted_high"]
        out["cost_per_victim_low"] = costs.program_cost / hi_n if hi_n > 0 else float("nan")
        out["cost_per_victim_high"] = costs.program_cost / lo_n if lo_n > 0 else float("inf")
        out["benefit_cost_ratio"] = point / costs.program_cost if costs.program_cost else float("nan")
    return out
