"""Shared fixtures: a small demo city and its panel, built once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ALTO_SHARED", ROOT.parent / "shared")) / "data" / "cdmx-hoyodecrimen"
DEMO_LAST_MONTH = "2023-12"

needs_shared = pytest.mark.skipif(
    not (SHARED / "incidents_gun_2013_2016.csv.gz").exists(),
    reason=f"real data not found at {SHARED} (the read-only ../shared folder beside the repo; set ALTO_SHARED to move it)",
)


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    from analysis.data import demo

    d = tmp_path_factory.mktemp("demo")
    demo.write_demo_city(d, DEMO_LAST_MONTH)
    return d


@pytest.fixture(scope="session")
def demo_build(demo_dir):
    from analysis.data.panel import build_panel

    return build_panel(
        [demo_dir / "incidents" / "victimas_fgj_demo.csv"],
        demo_dir / "geography" / "sectores_demo.geojson",
        demo_dir / "program" / "rollout.csv",
        last_month=DEMO_LAST_MONTH,
    )


@pytest.fixture(scope="session")
def demo_panel(demo_build) -> pd.DataFrame:
    return demo_build.panel


@pytest.fixture(scope="session")
def demo_truth(demo_dir) -> pd.DataFrame:
    return pd.read_parquet(demo_dir / "truth.parquet")
