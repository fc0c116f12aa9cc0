"""The run's options and their defaults: the one place they live.

The command line (``python -m analysis report --help``) builds its options from ``RunOptions``;
the build passes them to the notebooks as Papermill parameters and writes them in the manifest;
the notebooks' parameters cells repeat the defaults (Papermill needs literals there) and a test
fails when they drift.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

#: which options each notebook takes as parameters (besides quarter, outcome, paths and seed)
NOTEBOOK_OPTIONS = {
    "program": ("method", "n_perm", "n_placebo"),
    "checks": ("method", "n_perm", "n_calibration", "n_power"),
    "sectors": (),
    "sector": ("method", "n_perm"),
}


@dataclass(frozen=True)
class RunOptions:
    """What a quarterly run computes and with how many draws."""

    outcome: str | None = field(
        default=None,
        metadata={
            "help": "panel column to report (default: shootings when the sources give it, else the gun outcome they do give)"
        },
    )
    method: str = field(
        default="ppml",
        metadata={
            "help": "the headline's method: ppml (Poisson imputation, validated as the headline), imputation, "
            "gardner, cs, sa, sdid, sc or twfe (analysis.impact.REGISTRY)"
        },
    )
    n_perm: int = field(
        default=999,
        metadata={
            "help": "draws of the randomization and placebo tests (headline, additive imputation, TWFE, each sector)"
        },
    )
    n_placebo: int = field(default=200, metadata={"help": "placebo draws of the SDID comparison"})
    n_calibration: int = field(
        default=500,
        metadata={"help": "placebo rollouts of the calibration check (the program's calendar; cached by its inputs)"},
    )
    n_power: int = field(default=60, metadata={"help": "simulated rollouts per cell of the planning table"})
    seed: int = field(default=0, metadata={"help": "seed of every random draw: same inputs and seed, same numbers"})

    @classmethod
    def for_unit(cls, unit: str = "sector", **given) -> RunOptions:
        """The options of a run on ``unit`` panels: the defaults, those of ``UNIT_DEFAULTS[unit]``
        over them, and the ``given`` ones (None: not given) over both."""
        base: dict[str, Any] = {f.name: f.default for f in fields(cls)}
        base.update(UNIT_DEFAULTS.get(unit, {}))
        base.update({k: v for k, v in given.items() if v is not None})
        return cls(**base)

    def as_dict(self) -> dict:
        return asdict(self)

    def notebook_parameters(self, notebook: str) -> dict:
        """The Papermill parameters of ``notebook`` ('program' or 'sector') from these options."""
        return {"seed": self.seed, **{k: getattr(self, k) for k in NOTEBOOK_OPTIONS[notebook]}}

    @classmethod
    def cli_arguments(cls) -> list[tuple[str, dict]]:
        """``(flag, argparse keywords)`` for every option, help and default included."""
        out = []
        for f in fields(cls):
            kind = int if f.type in ("int", int) else str
            by_unit = "".join(f" ({u} panels: {d[f.name]})" for u, d in UNIT_DEFAULTS.items() if f.name in d)
            out.append(
                (
                    f"--{f.name.replace('_', '-')}",
                    {
                        "type": kind,
                        "default": None,  # filled by ``for_unit`` with the panel's unit's default
                        "dest": f.name,
                        "help": f.metadata["help"] + ("" if f.default is None else f" (default: {f.default}){by_unit}"),
                    },
                )
            )
        return out


#: the draws of a run on a panel by police cuadrante (``make report UNIT=cuadrante``, about 850
#: units of which about 100 in the program): a research run, so fewer draws than the quarterly
#: report's (each placebo draw of the headline refits about 850 units; the calibration and the
#: planning table are of the sector design and only indicative here)
UNIT_DEFAULTS: dict[str, dict] = {"cuadrante": {"n_perm": 199, "n_placebo": 20, "n_calibration": 100, "n_power": 20}}
