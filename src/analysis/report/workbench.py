"""What a notebook opened in JupyterLab needs and a build does not.

``interactive()``, called at the top of each notebook's setup cell, turns on IPython's
autoreload: an edit to ``src/analysis`` is picked up by the next cell run, without restarting the
kernel. A build runs the notebooks with ``ALTO_BUILD=1`` (``analysis.report.jobs``): nothing is
reloaded there, each notebook runs once in a fresh process.
"""

from __future__ import annotations

import os


def interactive() -> bool:
    """Autoreload every module before each cell (IPython's ``%autoreload 2``) when the notebook is
    run by a person; True when it was turned on."""
    if os.environ.get("ALTO_BUILD"):
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    if ip is None:
        return False
    if not any(e.endswith("autoreload") for e in ip.extension_manager.loaded):
        ip.run_line_magic("load_ext", "autoreload")
    ip.run_line_magic("autoreload", "2")
    return True
