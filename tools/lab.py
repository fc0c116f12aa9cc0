"""`make lab`: JupyterLab in its own environment (.venv-lab), the project's .venv as its kernel.

    python tools/lab.py install .venv-lab   # register the kernel, install the settings
    python tools/lab.py run .venv-lab [JupyterLab flags ...]

Run with the project's interpreter (.venv/bin/python): the kernel registered is that interpreter.
The settings (jupyter/overrides.json) make a double click open the Jupytext notebooks/*.py as
notebooks and turn autosave off, so that opening and running a notebook never rewrites it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KERNEL = "alto-al-fuego"
DISPLAY = "Alto al Fuego (.venv)"


def install(lab_venv: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "ipykernel", "install", "--prefix", str(lab_venv.resolve()),
         "--name", KERNEL, "--display-name", DISPLAY],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    spec = lab_venv / "share" / "jupyter" / "kernels" / KERNEL / "kernel.json"
    kernel = json.loads(spec.read_text())
    # the notebooks import the package from the checkout; progress bars stay on in the lab
    kernel.setdefault("env", {})["ALTO_PROGRESS"] = "1"
    spec.write_text(json.dumps(kernel, indent=1))
    settings = lab_venv / "share" / "jupyter" / "lab" / "settings"
    settings.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / "jupyter" / "overrides.json", settings / "overrides.json")
    print(f"JupyterLab ready in {lab_venv}: kernel '{DISPLAY}' ({sys.executable})")


def run(lab_venv: Path, args: list[str]) -> None:
    jupyter = lab_venv.resolve() / "bin" / "jupyter"
    cmd = [str(jupyter), "lab", f"--ServerApp.root_dir={ROOT}", *args]
    if os.geteuid() == 0 and "--allow-root" not in args:  # containers run as root; JupyterLab refuses it otherwise
        cmd.append("--allow-root")
    print("JupyterLab at the repository root: open notebooks/program.py or notebooks/sector.py (double click)")
    os.execv(str(jupyter), cmd)


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("install", "run"):
        print(__doc__, file=sys.stderr)
        return 2
    lab_venv = Path(argv[1])
    if argv[0] == "install":
        install(lab_venv)
    else:
        run(lab_venv, argv[2:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
