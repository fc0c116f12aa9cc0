"""The researcher's workbench (issue 12): parameters checked first, one executor (local processes
or a Dask cluster, the same numbers), a cached and incremental build, one sector on its own,
JupyterLab that opens and runs the notebooks and leaves git clean."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis import executor
from analysis.options import RunOptions
from analysis.report.build import BuildOptions, build_report

ROOT = Path(__file__).resolve().parents[1]
QUARTER = "2021Q4"
SMALL = BuildOptions(run=RunOptions(n_placebo=4, n_perm=19, n_calibration=6, n_power=4), sectors=["D36", "D62"],
                     languages=("en",), workers=2)
LAB = ROOT / ".venv-lab"


# -- the executor --------------------------------------------------------------------------------
def _square(x: int) -> int:
    if x == 13:
        raise ValueError("thirteen")
    return x * x


@pytest.mark.parametrize("workers", [1, 2])
def test_local_executor_keeps_the_order_calls_back_and_raises_the_first_failure(workers):
    ex = executor.LocalExecutor(workers)
    seen = []
    assert ex.map(_square, range(10), chunksize=3, callback=lambda x, r: seen.append((x, r))) == [x * x for x in range(10)]
    assert sorted(seen) == [(x, x * x) for x in range(10)]
    with pytest.raises(ValueError, match="thirteen"):
        ex.map(_square, range(20), chunksize=2)


def test_long_loops_show_a_progress_bar_unless_turned_off(capsys, monkeypatch):
    monkeypatch.delenv("ALTO_PROGRESS", raising=False)
    executor.LocalExecutor(1).map(_square, range(7), desc="placebo runs")
    err = capsys.readouterr().err
    assert "placebo runs" in err and "7/7" in err
    monkeypatch.setenv("ALTO_PROGRESS", "0")  # what the build sets for the notebooks it runs
    executor.LocalExecutor(1).map(_square, range(7), desc="placebo runs")
    assert capsys.readouterr().err == ""


def test_the_executor_follows_the_environment(monkeypatch):
    monkeypatch.delenv("DASK_SCHEDULER", raising=False)
    monkeypatch.setenv("ALTO_WORKERS", "3")
    ex = executor.get()
    assert isinstance(ex, executor.LocalExecutor) and ex.workers == 3
    monkeypatch.setenv("ALTO_WORKERS", "two")
    with pytest.raises(ValueError, match="ALTO_WORKERS='two' is not a whole number"):
        executor.get()
    monkeypatch.delenv("ALTO_WORKERS")
    monkeypatch.setenv("DASK_SCHEDULER", "tcp://127.0.0.1:9")  # nothing listens there
    with pytest.raises(RuntimeError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        executor.get()


@pytest.fixture(scope="module")
def cluster():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c, Client(c) as client:
        yield client


def test_dask_cluster_gives_the_calibration_the_same_numbers_as_local_processes(cluster, demo_panel, monkeypatch):
    from analysis.evaluation.calibration import placebo_size

    never = demo_panel[demo_panel.treat_start.isna()]
    kw = dict(outcome="shootings", method="ppml", n_runs=8, n_perm=19, ci=False, seed=4)
    local = placebo_size(never, workers=2, **kw)
    monkeypatch.setenv("DASK_SCHEDULER", cluster.scheduler.address)
    on_dask = placebo_size(never, workers=2, **kw)
    assert list(on_dask.p_values) == list(local.p_values)
    assert 0 < len(set(local.p_values))


# -- parameters checked first ----------------------------------------------------------------------
def test_bad_parameters_stop_in_one_line_that_lists_the_valid_values(demo_build, tmp_path):
    from analysis.periods import QuarterError
    from analysis.report import content

    demo_build.write(tmp_path)
    ctx = content.load_context(tmp_path / "panel.parquet", QUARTER)
    with pytest.raises(ValueError, match=r"method 'ols' is not available; the methods are: ppml, imputation, .*twfe"):
        content.check_parameters(ctx, "shootings", sector="D36", method="ols")
    with pytest.raises(ValueError, match=r"sector 'XYZ' is not a sector of this panel; the sectors in the program are: "
                                         r"D36, D62, D69"):
        content.check_parameters(ctx, "shootings", sector="XYZ")
    with pytest.raises(ValueError, match=r"sector 'D19' is not in the program by the end of 2021Q4; .*: D36, D62, D69"):
        content.check_parameters(ctx, "shootings", sector="D19")
    with pytest.raises(ValueError, match=r"outcome 'robos' is not in this panel; its sources give: gun_homicides, gun_injuries, shootings"):
        content.check_parameters(ctx, "robos")
    with pytest.raises(QuarterError, match=r"the quarters these data can report: 2016Q1 to 2023Q4"):
        content.load_context(tmp_path / "panel.parquet", "2031Q1")
    with pytest.raises(FileNotFoundError, match=r"^\S+nothing.parquet does not exist: build the panel with `make data`"):
        content.load_context(tmp_path / "nothing.parquet", QUARTER)


def test_a_build_refuses_a_bad_sector_or_method_before_running_anything(demo_build, tmp_path):
    from analysis.report.build import OptionError

    demo_build.write(tmp_path / "p")
    with pytest.raises(OptionError, match="sector 'D99' is not a sector of this panel; the sectors in the program"):
        build_report(QUARTER, tmp_path / "p" / "panel.parquet", tmp_path / "r", dataclasses.replace(SMALL, sectors=["D99"]))
    with pytest.raises(OptionError, match="method 'ols' is not available; the methods are: ppml"):
        build_report(QUARTER, tmp_path / "p" / "panel.parquet", tmp_path / "r",
                     dataclasses.replace(SMALL, run=RunOptions(method="ols")))
    assert not any((tmp_path / "r").iterdir()) or not list((tmp_path / "r").glob("2021Q4*"))


def test_a_job_cannot_write_outside_its_build():
    from analysis.report.jobs import _inside

    base = Path("/tmp/x/reports/build")
    assert _inside(base, "_inputs/panel.parquet") == base / "_inputs" / "panel.parquet"
    assert _inside(base, "../2021Q3/manifest.json") == base.parent / "2021Q3" / "manifest.json"
    for bad in ("/etc/passwd", "../../etc/passwd", "_inputs/../../x", "a/../../b"):
        with pytest.raises(ValueError, match="leaves the build's folder"):
            _inside(base, bad)


# -- the cached, incremental build; the Dask build ----------------------------------------------------
def _results(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((folder / "results").iterdir())}


def _ran(folder: Path) -> set[str]:
    """The notebooks the build ran (not read from the cache), from its build.log."""
    return {line.split(":")[0].removeprefix("notebook ") for line in (folder / "build.log").read_text().splitlines()
            if line.startswith("notebook ")}


@pytest.fixture(scope="module")
def city(tmp_path_factory, demo_dir, demo_build):
    """The small demo city's panel, and the same city with sector D62 starting three months later."""
    base = tmp_path_factory.mktemp("city")
    demo_build.write(base / "a")
    moved = base / "demo_moved"
    shutil.copytree(demo_dir, moved)
    rollout = pd.read_csv(moved / "program" / "rollout.csv", dtype=str)
    assert (rollout.loc[rollout.sector == "D62", "start"] == "2020-02-01").all()
    rollout.loc[rollout.sector == "D62", "start"] = "2020-05-01"
    rollout.to_csv(moved / "program" / "rollout.csv", index=False)
    from analysis.data.panel import build_panel

    from conftest import DEMO_LAST_MONTH

    build_panel([moved / "incidents" / "victimas_fgj_demo.csv"], moved / "geography" / "sectores_demo.geojson",
                moved / "program" / "rollout.csv", last_month=DEMO_LAST_MONTH).write(base / "b")
    return base


@pytest.mark.slow
def test_builds_are_cached_incremental_and_the_same_on_a_dask_cluster(city, tmp_path, monkeypatch, cluster):
    monkeypatch.setenv("ALTO_CACHE_DIR", str(tmp_path / "cache"))
    panel_a, panel_b = city / "a" / "panel.parquet", city / "b" / "panel.parquet"
    first = build_report(QUARTER, panel_a, tmp_path / "r", SMALL)
    a = tmp_path / "r" / QUARTER
    assert _ran(a) == {"program", "checks", "sector_D36", "sector_D62", "sectors", "brief"}
    before = _results(a)
    html = (a / f"alto-al-fuego_{QUARTER}_en.html").read_bytes()

    # nothing changed: the report is left as it is, nothing runs
    again = build_report(QUARTER, panel_a, tmp_path / "r", SMALL)
    assert again.get("up_to_date") and again["built"] == first["built"] and again["build_key"] == first["build_key"]
    assert _results(a) == before and (a / f"alto-al-fuego_{QUARTER}_en.html").read_bytes() == html

    # one sector starts later: its page and the program-wide notebooks run again, the other page is read back
    build_report(QUARTER, panel_b, tmp_path / "r", SMALL)
    assert _ran(a) == {"program", "checks", "sector_D62", "sectors", "brief"}
    assert "cache: 1 notebook(s)" in (a / "build.log").read_text() and "sector_D36" in (a / "build.log").read_text()
    changed = _results(a)
    assert changed["sector_D36.csv"] == before["sector_D36.csv"] and changed["sector_D62.csv"] != before["sector_D62.csv"]

    # the page read back is the page a fresh run gives (the sector's key holds all it depends on)
    fresh = build_report(QUARTER, panel_b, tmp_path / "forced", dataclasses.replace(SMALL, force=True))
    f = tmp_path / "forced" / QUARTER
    assert _ran(f) == {"program", "checks", "sector_D36", "sector_D62", "sectors", "brief"}
    assert _results(f) == changed
    assert fresh["build_key"] != first["build_key"]

    # on a Dask cluster (notebooks, calibration and power runs on its workers), nothing from the cache:
    # the same results files, byte for byte
    from analysis.executor import DaskExecutor

    monkeypatch.setenv("ALTO_CACHE_DIR", str(tmp_path / "cache-dask"))
    build_report(QUARTER, panel_b, tmp_path / "dask", dataclasses.replace(SMALL, executor=DaskExecutor(client=cluster)))
    d = tmp_path / "dask" / QUARTER
    assert _ran(d) == {"program", "checks", "sector_D36", "sector_D62", "sectors", "brief"}
    assert "(on dask)" in (d / "build.log").read_text()
    assert _results(d) == changed


@pytest.mark.slow
def test_one_sector_on_its_own_with_another_method(city, tmp_path, monkeypatch):
    monkeypatch.setenv("ALTO_CACHE_DIR", str(tmp_path / "cache"))
    cmd = [sys.executable, "-m", "analysis", "sector", "D62", "--quarter", QUARTER, "--panel",
           str(city / "a" / "panel.parquet"), "--reports", str(tmp_path), "--n-perm", "19", "--method", "imputation"]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "scratch" / QUARTER / "sector_D62"
    res = pd.read_csv(out / "results" / "sector_D62.csv")
    assert list(res.method) == ["imputation"]
    html = (out / "sector_D62_en.html").read_text()
    assert "Headline method changed for this run" in html and "Sector D62" in html
    assert not (out / "_inputs").exists()  # the panel's small counts are not kept
    bad = subprocess.run(cmd[:4] + ["D99"] + cmd[5:], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert "sector 'D99' is not a sector of this panel; the sectors in the program are: D36, D62, D69" in bad.stderr


def test_make_passes_sectors_method_and_force_to_the_build():
    r = subprocess.run(["make", "-n", "report", "SECTORS=D62 D69", "METHOD=imputation", "FORCE=1"], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "--sectors 'D62 D69'" in r.stdout and "--method 'imputation'" in r.stdout and "--force" in r.stdout
    r = subprocess.run(["make", "-n", "sector", "SECTOR=D62", "QUARTER=2026Q2"], cwd=ROOT, capture_output=True, text=True)
    assert "-m analysis sector 'D62' --quarter '2026Q2'" in r.stdout
    bad = subprocess.run(["make", "-n", "report", "SECTORS=D62; rm -rf /"], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode != 0 and "SECTORS=" in bad.stderr and "rm -rf" not in bad.stdout


# -- JupyterLab ------------------------------------------------------------------------------------
def test_notebooks_turn_on_autoreload_in_jupyterlab_and_not_in_a_build():
    code = ("from IPython.testing.globalipapp import start_ipython; ip = start_ipython();"
            "from analysis.report.workbench import interactive; print(interactive(), "
            "'IPython.extensions.autoreload' in ip.extension_manager.loaded, "
            "ip.magics_manager.registry['AutoreloadMagics']._reloader.enabled if 'AutoreloadMagics' in "
            "ip.magics_manager.registry else False)")
    env = {k: v for k, v in os.environ.items() if k != "ALTO_BUILD"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert out.stdout.split() == ["True", "True", "True"], out.stderr
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**env, "ALTO_BUILD": "1"})
    assert out.stdout.split() == ["False", "False", "False"], out.stderr
    for nb in ("program", "sector", "checks", "sectors", "brief"):
        assert "\ninteractive()  #" in (ROOT / "notebooks" / f"{nb}.py").read_text(), nb


needs_lab = pytest.mark.skipif(not (LAB / "bin" / "jupyter").exists(),
                               reason=f"JupyterLab's environment {LAB} is not set up (make lab-setup; make test does it)")


@needs_lab
def test_saving_a_notebook_from_jupyterlab_leaves_it_as_committed(tmp_path):
    """Jupytext's contents manager (what JupyterLab saves through), with the kernel JupyterLab sets:
    the files are committed in the form it writes, and the parameters cells are locked."""
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks", ignore=shutil.ignore_patterns("results"))
    names = sorted(p.name for p in (tmp_path / "notebooks").glob("*.py"))
    script = (
        "import sys\nfrom jupytext.sync_contentsmanager import TextFileContentsManager\n"
        "cm = TextFileContentsManager(root_dir=sys.argv[1])\n"
        "for name in sys.argv[2:]:\n"
        "    nb = cm.get('notebooks/' + name)['content']\n"
        "    nb.metadata['kernelspec'] = {'display_name': 'Alto al Fuego (.venv)', 'language': 'python',"
        " 'name': 'alto-al-fuego'}\n"
        "    nb.metadata['language_info'] = {'name': 'python', 'version': '3.11'}\n"
        "    cm.save({'type': 'notebook', 'content': nb, 'format': 'json'}, 'notebooks/' + name)\n"
    )
    subprocess.run([str(LAB / "bin" / "python"), "-c", script, str(tmp_path), *names], check=True)
    for n in names:
        assert (tmp_path / "notebooks" / n).read_text() == (ROOT / "notebooks" / n).read_text(), n
        assert '# %% tags=["parameters"] editable=false\n' in (ROOT / "notebooks" / n).read_text(), n
    settings = json.loads((ROOT / "jupyter" / "overrides.json").read_text())["@jupyterlab/docmanager-extension:plugin"]
    assert settings == {"defaultViewers": {"python": "Jupytext Notebook"}, "autosave": False}


def test_the_lab_environment_pins_match_the_project():
    import tomllib

    lab = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["lab"]
    req = [ln for ln in (ROOT / "jupyter" / "lab-requirements.txt").read_text().splitlines() if ln and ln[0] != "#"]
    main = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert sorted(req) == sorted(lab)
    assert "jupytext==" + next(d for d in main if d.startswith("jupytext==")).split("==")[1] in req


@pytest.mark.slow
@needs_lab
def test_jupyterlab_opens_program_by_double_click_and_runs_every_cell(tmp_path):
    """A real browser (the Debian chromium): the file browser, a double click on program.py, Run All,
    no error; then a save leaves the file as committed. Screenshots in the test's folder."""
    import signal
    import socket
    import time

    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.skip("the Debian chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    panel = ROOT / "data" / "processed" / "panel.parquet"
    if not panel.exists():  # what `make lab` does first
        subprocess.run([sys.executable, "-m", "analysis", "data"], cwd=ROOT, check=True, capture_output=True)
    before = (ROOT / "notebooks" / "program.py").read_bytes()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (tmp_path / "lab.log").open("w")
    srv = subprocess.Popen([sys.executable, str(ROOT / "tools" / "lab.py"), "run", str(LAB), "--no-browser",
                            f"--port={port}", "--ServerApp.ip=127.0.0.1", "--IdentityProvider.token=",
                            "--ServerApp.password="],
                           cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/lab?reset")  # a fresh workspace: what a new researcher sees
            page.wait_for_selector(".jp-DirListing-item", timeout=120000)
            # opened at the repository root: notebooks, src and reports are all reachable
            names = page.locator(".jp-DirListing-itemText").all_inner_texts()
            assert {"notebooks", "src", "reports"} <= set(names), names
            page.locator(".jp-DirListing-item", has_text="notebooks").first.dblclick()
            page.locator(".jp-DirListing-item", has_text="program.py").first.dblclick()
            page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60000)
            status = "() => (document.querySelector('#jp-main-statusbar') || {innerText: ''}).innerText"
            page.wait_for_function(f"() => ({status})().includes('Alto al Fuego (.venv) | Idle')", timeout=120000,
                                   polling=500)
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
            page.wait_for_function("""() => {
                const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
                return prompts.length > 0 && prompts.every(e => /\\[\\d+\\]/.test(e.textContent))
                    && document.querySelector('#jp-main-statusbar').innerText.includes('Idle');
            }""", timeout=900000, polling=1000)
            page.screenshot(path=str(tmp_path / "program-ran.png"))
            errors = page.locator("[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts()
            assert not [e for e in errors if "Error" in e or "Traceback" in e], errors[:2]
            assert page.locator(".jp-RenderedImage img").count() >= 3  # the figures were drawn
            page.keyboard.press("Control+s")
            time.sleep(3)
            browser.close()
    finally:
        os.killpg(srv.pid, signal.SIGTERM)
        srv.wait(timeout=30)
    assert (ROOT / "notebooks" / "program.py").read_bytes() == before  # git stays clean


def test_a_calibration_run_without_enough_comparable_sectors_is_left_out_and_counted(demo_panel, monkeypatch):
    """With many treated sectors, a placebo draw can leave fewer comparable sectors than treated
    ones (15 treated sectors of the 72-sector demo city stopped the build): that run is left out
    and counted, and the report says so."""
    from analysis import impact
    from analysis.evaluation import calibration
    from analysis.impact.inference.placebo import PoolTooSmall
    from analysis.report.diagnostics import calibration_md

    real, calls = impact.infer, []

    def every_other_draw_too_small(*a, **k):
        calls.append(1)
        if len(calls) % 2:
            raise PoolTooSmall("placebo inference needs at least as many comparable never-treated units (3 < 4)")
        return real(*a, **k)

    monkeypatch.setattr(calibration.impact, "infer", every_other_draw_too_small)
    never = demo_panel[demo_panel.treat_start.isna()]
    months = sorted(never.period.unique())
    check = calibration.placebo_size(never, outcome="shootings", method="ppml", calendar=[months[40], months[60]],
                                     n_runs=6, n_perm=19, ci=False, seed=1, workers=1)
    assert (check.skipped, len(check.p_values)) == (3, 3)
    assert (check.p_values >= 0).all() and check.rejection_rate == float((check.p_values <= 0.05).mean())
    assert check.inference.startswith("placebo inference") and check.to_frame().loc[0, "skipped"] == 3
    check.name = "Headline"
    assert "of 3 runs" in calibration_md([check], "design")
    assert "(3 runs left out: too few comparable sectors for their placebo calendars)" in calibration_md([check], "d")


@pytest.mark.parametrize("kw", [
    {"method": "ppml", "n_perm": 199, "ci": False, "event_window": None, "calendar": True},
    {"method": "twfe", "inference": "cluster", "event_window": None, "calendar": True},
    {"method": "imputation", "n_perm": 49, "calendar": False},
])
def test_calibration_runs_give_estimate_s_p_values_on_each_run_s_own_panel(demo_panel, kw):
    """The calibration turns the panel into matrices once and changes only the starts of each run
    (``impact.infer``); every run's p-value and label must be those of ``impact.estimate`` on
    that run's own panel, as the calibration computed them before, to the last bit."""
    import numpy as np

    from analysis import impact
    from analysis.evaluation import calibration

    kw = dict(kw)
    never = demo_panel[demo_panel.treat_start.isna()]
    months = sorted(never.period.unique())
    calendar = [months[30], months[50], months[50]] if kw.pop("calendar") else None
    got = calibration.placebo_size(never, outcome="shootings", calendar=calendar, n_runs=8, seed=5, workers=1, **kw)
    rng = np.random.default_rng(5)
    units, times = np.sort(never.unit.unique()), np.sort(never.period.unique())
    expected, label = [], None
    for _ in range(8):  # the runs as placebo_size draws them, each estimated on its own panel
        chosen = rng.choice(units, size=3, replace=False)
        starts = calendar if calendar is not None else [times[int(rng.integers(6, len(times) - 3 + 1))]] * 3
        seed = int(rng.integers(2**31))
        panel = never.assign(treat_start=never.unit.map(dict(zip(chosen, starts, strict=True))).astype("period[M]"))
        res = impact.estimate(panel, outcome="shootings", alpha=0.05, seed=seed, **kw)
        expected.append(res.p_value)
        label = res.inference.label
    assert got.p_values.tolist() == expected and got.inference == label
