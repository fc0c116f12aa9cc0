"""Shared fixtures: a small demo city and its panel, built once per test session."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
# every test run has a cache of its own (analysis.cache): a result stored by an earlier run, or by
# `make report` in this checkout, never stands in for what a test means to compute
os.environ.setdefault("ALTO_CACHE_DIR", tempfile.mkdtemp(prefix="alto-test-cache-"))
SHARED = Path(os.environ.get("ALTO_SHARED", ROOT.parent / "shared")) / "data" / "cdmx-hoyodecrimen"
DEMO_LAST_MONTH = "2023-12"

HAVE_SHARED = (SHARED / "incidents_gun_2013_2016.csv.gz").exists()
#: in CI (the CI variable set, as .ci/run does) the real-data tests must run: a missing ../shared
#: is then an error, not a quiet skip that would leave the real-data checks out of a green run
REQUIRE_SHARED = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")
needs_shared = pytest.mark.skipif(
    not HAVE_SHARED and not REQUIRE_SHARED,
    reason=f"real data not found at {SHARED} (the read-only ../shared folder beside the repo; set ALTO_SHARED to move it)",
)


def pytest_collection_modifyitems(config, items):
    if REQUIRE_SHARED and not HAVE_SHARED and any(m.kwargs.get("reason", "").startswith("real data not found")
                                                  for i in items for m in i.iter_markers("skipif")):
        raise pytest.UsageError(f"CI is set but the real data are not at {SHARED}: the real-data tests cannot run "
                                "(mount ../shared or set ALTO_SHARED)")


def build_demo_panel(demo_dir: Path):
    """The panel of the demo city in ``demo_dir`` (as the ``demo_build`` fixture and
    tools/mutate.py build it)."""
    from analysis.data.panel import build_panel

    return build_panel(
        [demo_dir / "incidents" / "victimas_fgj_demo.csv"],
        demo_dir / "geography" / "sectores_demo.geojson",
        demo_dir / "program" / "rollout.csv",
        last_month=DEMO_LAST_MONTH,
    )


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    from analysis.data import demo

    # tools/mutate.py builds the demo city once and points here, except for mutants of the
    # modules that draw it (read-only: tests copy it before changing anything)
    ready = os.environ.get("ALTO_TEST_DEMO_DIR")
    if ready:
        return Path(ready)
    d = tmp_path_factory.mktemp("demo")
    demo.write_demo_city(d, DEMO_LAST_MONTH)
    return d


@pytest.fixture(scope="session")
def demo_build(demo_dir):
    # tools/mutate.py builds the demo panel once for the mutants of modules that cannot change it
    ready = os.environ.get("ALTO_TEST_DEMO_BUILD")
    if ready:
        import pickle

        return pickle.loads(Path(ready).read_bytes())

    return build_demo_panel(demo_dir)


@pytest.fixture(scope="session")
def demo_panel(demo_build) -> pd.DataFrame:
    return demo_build.panel


@pytest.fixture(scope="session")
def demo_truth(demo_dir) -> pd.DataFrame:
    return pd.read_parquet(demo_dir / "truth.parquet")
