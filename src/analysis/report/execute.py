"""Run one report notebook in a process of its own: ``python -m analysis.report.execute SPEC``.

Papermill's ``cwd=`` changes the working directory of the whole Python process. Two notebooks
run from threads of one process could therefore start their kernels in each other's folder
(or the repo root) and write results outside the build. Each notebook is run here, in its own
process started with its own working directory, and every path it receives is absolute.

SPEC is a JSON file: ``{"notebook": path to the Jupytext .py, "out": path of the executed
.ipynb, "parameters": {...}}``; the kernel starts in this process's working directory. On a failing cell the process writes
``<out>.error.json`` (cell number, index, exception name and value) and exits with status 3.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    spec = json.loads(Path(argv[0]).read_text())
    # the kernel's own chatter (TCP without encryption, shutdown interrupts) is not the user's business
    for name in ("papermill", "traitlets", "nbclient", "jupyter_client"):
        logging.getLogger(name).setLevel(logging.ERROR)
    import jupytext
    import papermill as pm

    out = Path(spec["out"])
    nb = jupytext.read(spec["notebook"])
    # jupytext gives each cell a new random id on every read; ids from the cell's position make two
    # builds of the same inputs give the same executed notebooks and the same HTML
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i}"
    try:
        pm.execute_notebook(
            nb, str(out), parameters=spec["parameters"], kernel_name="python3", progress_bar=False, log_output=False
        )
        import nbformat

        done = nbformat.read(str(out), as_version=4)  # Papermill's injected cell has a random id too
        for i, cell in enumerate(done.cells):
            cell.id = f"cell-{i}"
        # where it ran is no reader's business (a temporary folder of the machine that ran it)
        pm_meta = done.metadata.get("papermill", {})
        pm_meta["input_path"] = Path(spec["notebook"]).name
        pm_meta["output_path"] = out.name
        nbformat.write(done, str(out))
    except pm.PapermillExecutionError as e:
        Path(str(out) + ".error.json").write_text(
            json.dumps({"exec_count": e.exec_count, "cell_index": e.cell_index, "ename": e.ename, "evalue": e.evalue})
        )
        return 3
    return 0


def forked(spec: str, cwd: str, env: dict, errors: str) -> None:
    """``main`` in a process forked from ``analysis.report.jobs``'s server: this notebook's
    working directory and environment (the kernel inherits both), its standard error in
    ``errors`` (standard output is dropped, as it is for a new process)."""
    err = os.open(errors, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(err, 2)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    sys.exit(main([spec]))


if __name__ == "__main__":
    sys.exit(main())
