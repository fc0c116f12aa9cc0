"""The run's options and their defaults: the one place they live.

The command line (``python -m analysis report --help``) builds its options from ``RunOptions``;
the build passes them to the notebooks as Papermill parameters and writes them in the manifest;
the notebooks' parameters cells repeat the defaults (Papermill needs literals there) and a test
fails when they drift.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

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
            out.append(
                (
                    f"--{f.name.replace('_', '-')}",
                    {
                        "type": kind,
                        "default": f.default,
                        "dest": f.name,
                        "help": f.metadata["help"] + ("" if f.default is None else " (default: %(default)s)"),
                    },
                )
            )
        return out
