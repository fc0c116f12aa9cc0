"""Builds that cannot lose results or publish a wrong one (issue 8): the lock, the input
snapshot, the hash-based panel rebuild, clean failures, checked Makefile variables, clear
one-line errors."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.cli import main as cli
from analysis.options import RunOptions
from analysis.report.build import BuildLock, BuildOptions, ReportError, build_report, publish, snapshot_inputs

ROOT = Path(__file__).resolve().parents[1]
QUARTER = "2021Q4"
TINY = BuildOptions(run=RunOptions(n_placebo=4, n_perm=19, n_calibration=5, n_power=4), sectors=[])


@pytest.fixture(scope="module")
def processed(tmp_path_factory, demo_build):
    d = tmp_path_factory.mktemp("processed")
    demo_build.write(d)
    return d


def test_a_second_build_of_the_quarter_is_refused_naming_the_first(processed, tmp_path):
    with BuildLock(tmp_path, QUARTER):
        with pytest.raises(ReportError, match=rf"another build of {QUARTER} is running \(pid {os.getpid()} on .*started"):
            build_report(QUARTER, processed / "panel.parquet", tmp_path, TINY)
    assert not list(tmp_path.glob(".staging-*"))


def test_a_killed_builds_staging_folder_is_removed_by_the_next(processed, tmp_path, capsys):
    stale = tmp_path / f".staging-{QUARTER}-999999"
    (stale / "results").mkdir(parents=True)
    # the next build (stopped early here by an outcome the panel lacks) cleans it first and says so
    with pytest.raises(ReportError, match="outcome 'robos' is not in this panel; its sources give: gun_homicides, "
                                          "gun_injuries, shootings"):
        build_report(QUARTER, processed / "panel.parquet", tmp_path, dataclasses.replace(TINY, run=RunOptions(outcome="robos", n_placebo=4, n_perm=19, n_calibration=5, n_power=4)))
    assert not stale.exists()
    assert f"removed {stale}, left by an earlier build" in capsys.readouterr().err


def test_reports_folder_that_cannot_be_created(processed, tmp_path):
    blocker = tmp_path / "reports"
    blocker.write_text("a file where the reports folder should be")
    with pytest.raises(ReportError, match=r"cannot create /.*/reports: "):
        build_report(QUARTER, processed / "panel.parquet", blocker, TINY)


def test_snapshot_refuses_files_that_do_not_belong_together(processed, tmp_path):
    """A `make data` between the copy of the audit and of the panel: the hashes in the audit
    name another panel, and the build stops instead of mixing them."""
    d = tmp_path / "p"
    shutil.copytree(processed, d)
    snap = snapshot_inputs(d / "panel.parquet", tmp_path / "snap")
    assert set(snap) == {"panel.parquet", "audit.json", "adjacency.csv"}
    (d / "panel.parquet").write_bytes((d / "panel.parquet").read_bytes() + b"\0")
    with pytest.raises(ReportError, match="kept changing while the build read it"):
        snapshot_inputs(d / "panel.parquet", tmp_path / "snap2", tries=2)


def test_a_report_that_cannot_be_replaced_stays_in_place(tmp_path, monkeypatch):
    final, staging = tmp_path / QUARTER, tmp_path / f".staging-{QUARTER}-1"
    final.mkdir()
    (final / "manifest.json").write_text("old")
    staging.mkdir()
    (staging / "manifest.json").write_text("new")
    real = Path.rename

    def locked(self, target):
        if Path(target).name.startswith(".old-"):
            raise OSError(16, "Device or resource busy")
        return real(self, target)

    monkeypatch.setattr(Path, "rename", locked)
    with pytest.raises(ReportError, match=rf"could not replace .*{QUARTER} \(Device or resource busy\); the finished "
                                          rf"build is at .*\.staging-{QUARTER}-1"):
        publish(staging, final)
    assert (final / "manifest.json").read_text() == "old" and (staging / "manifest.json").read_text() == "new"


# -- the panel is rebuilt when, and only when, its inputs change -------------------------------
def test_panel_follows_its_inputs_by_content_not_time(tmp_path, demo_dir, capsys):
    raw, out = tmp_path / "raw", tmp_path / "out"
    shutil.copytree(demo_dir, raw, ignore=shutil.ignore_patterns("truth.parquet", "demo.json"))
    args = ["data", "--raw", str(raw), "--out", str(out), "--last-month", "2023-12"]

    def run() -> str:
        assert cli(args) == 0
        return capsys.readouterr().out

    assert "Real data: 1 incident file(s)" in run()
    assert "Panel up to date" in run()
    extra = raw / "incidents" / "copy.csv"
    shutil.copy(raw / "incidents" / "victimas_fgj_demo.csv", extra)
    assert "Real data: 2 incident file(s)" in run()
    a = json.loads((out / "audit.json").read_text())
    assert a["quarantined_by_reason"]["superseded"] > 0  # the copy is not counted twice
    extra.unlink()  # a deletion leaves no newer file time behind: only the hashes see it
    assert "Real data: 1 incident file(s)" in run()
    ro = raw / "program" / "rollout.csv"
    stat = ro.stat()
    ro.write_text(ro.read_text().replace("2019-07-01", "2019-08-01"))
    os.utime(ro, (stat.st_atime, stat.st_mtime))  # same time, other content
    assert "Real data: 1 incident file(s)" in run()
    assert json.loads((out / "audit.json").read_text())["rollout"]["treated_sectors"]["D36"] == "2019-08"


# -- errors: one line, no traceback ---------------------------------------------------------------
def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analysis", *args], capture_output=True, text=True, cwd=ROOT,
                          env={k: v for k, v in os.environ.items() if k != "ANALYSIS_DEBUG"})


@pytest.mark.parametrize("case", ["gzip", "geometry", "space in the name"])
def test_cli_errors_are_one_line(tmp_path, demo_dir, case):
    inc = demo_dir / "incidents" / "victimas_fgj_demo.csv"
    geo = demo_dir / "geography" / "sectores_demo.geojson"
    if case == "gzip":
        bad = tmp_path / "cut.csv.gz"
        import gzip

        bad.write_bytes(gzip.compress(inc.read_bytes())[:5000])
        inc, want = bad, "cut.csv.gz: a truncated or corrupt gzip file"
    elif case == "geometry":
        fc = json.loads(geo.read_text())
        fc["features"][0]["geometry"] = None
        geo = tmp_path / "sectores.geojson"
        geo.write_text(json.dumps(fc))
        want = "sectores.geojson: feature 0 (sector 'D01') has no geometry"
    else:
        spaced = tmp_path / "víctimas 2024 (copia).csv"
        shutil.copy(inc, spaced)
        inc, want = spaced, None
    r = _cli("panel", "--incidents", str(inc), "--geography", str(geo), "--out", str(tmp_path / "o"))
    if want is None:
        assert r.returncode == 0, r.stderr
        return
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and want in lines[0], r.stderr


def test_make_variables_are_checked_before_a_shell_sees_them(tmp_path):
    for bad in ("x; touch owned #", "$(shell touch owned)", "`touch owned`", "2024Q1 'q"):
        r = subprocess.run(["make", "-n", "report", f"QUARTER={bad}"], cwd=ROOT, capture_output=True, text=True)
        assert r.returncode != 0 and "is not valid" in r.stderr, (bad, r.stderr)
        assert not (ROOT / "owned").exists()
    r = subprocess.run(["make", "-n", "report", "QUARTER=2024Q1", "OUTCOME=gun_injuries"], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0 and "--quarter '2024Q1' --outcome 'gun_injuries'" in r.stdout


@pytest.mark.slow
def test_a_terminated_build_says_where_it_stopped_and_the_next_cleans_up(processed, tmp_path):
    import signal
    import time

    reports = tmp_path / "reports"
    cmd = [sys.executable, "-m", "analysis", "report", "--quarter", QUARTER, "--panel", str(processed / "panel.parquet"),
           "--reports", str(reports), "--n-perm", "19", "--n-placebo", "4", "--n-calibration", "5", "--n-power", "4"]
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not list(reports.glob(f".staging-{QUARTER}-*/notebooks")):
        time.sleep(0.2)
    time.sleep(2.0)  # the notebooks have started
    time.sleep(1.0)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    staging = list(reports.glob(f".staging-{QUARTER}-*"))
    assert len(staging) == 1 and f"the partial build is at {staging[0]} (the next build removes it)" in err
    assert not (reports / QUARTER).exists()
    r = subprocess.run(cmd[:-8] + ["--outcome", "robos"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and f"removed {staging[0]}" in r.stderr
    assert not staging[0].exists()


# -- the build's steps, each callable on its own ----------------------------------------------
def test_stage_snapshots_the_inputs_and_plans_the_notebooks_from_the_run_options(processed, tmp_path):
    from analysis.report.build import stage

    opt = BuildOptions(run=RunOptions(n_perm=7, n_placebo=3, n_calibration=2, n_power=1, seed=9), sectors=["D36", "D62"])
    st = stage(QUARTER, processed / "panel.parquet", tmp_path / "staging", opt)
    # the panel's files, the activities file beside the rollout, the cost parameters and the polygons
    assert sorted(p.name for p in st.snapshot.iterdir()) == ["activities.csv", "adjacency.csv", "audit.json", "cost.toml",
                                                             "panel.parquet", "sectors.geojson"]
    assert st.hashes["sectors.geojson"] == json.loads((st.snapshot / "audit.json").read_text())["geography"]["sha256"]
    assert st.hashes["panel.parquet"] == json.loads((st.snapshot / "audit.json").read_text())["outputs_sha256"]["panel.parquet"]
    assert [(j.notebook, j.stem) for j in st.jobs] == [("program", "program"), ("checks", "checks"),
                                                      ("sector", "sector_D36"), ("sector", "sector_D62")]
    # the sectors' summary reads the sector pages' and the program's results; the brief the program's and the checks'
    assert [(j.notebook, j.stem, j.reads) for j in st.after] == [
        ("sectors", "sectors", ("program", "sector_D36", "sector_D62")), ("brief", "brief", ("program", "checks"))]
    program, checks, d36 = st.jobs[0].parameters, st.jobs[1].parameters, st.jobs[2].parameters
    assert {k: program[k] for k in ("n_perm", "n_placebo", "seed")} == {"n_perm": 7, "n_placebo": 3, "seed": 9}
    assert {k: checks[k] for k in ("n_perm", "n_calibration", "n_power", "seed")} == \
        {"n_perm": 7, "n_calibration": 2, "n_power": 1, "seed": 9}
    assert program["reports_dir"] == "../.." and program["cost_config"] == "../_inputs/cost.toml"
    # every path relative to the notebooks' folder: the same wherever a notebook runs
    assert program["panel_path"] == "../_inputs/panel.parquet" and program["results_dir"] == "../results"
    assert st.jobs[0].inputs["_inputs/panel.parquet"] == st.snapshot / "panel.parquet"
    assert d36["sector"] == "D36" and d36["n_perm"] == 7 and "n_placebo" not in d36
    assert program["quarter"] == QUARTER and program["outcome"] == "shootings"


def test_a_notebook_runs_once_what_it_reads_is_written_with_exactly_those_files(processed, tmp_path, monkeypatch):
    """The brief reads the program's and the checks' results: it starts as soon as those two are
    written, while sector pages are still waiting (it once waited for every notebook, and the
    summary after it); the summary waits for every sector page. Each reader gets exactly the
    files of what it reads as inputs (its cache key does not depend on what else happened to be
    written), no more notebooks run at once than the executor has workers, and the notebooks
    come back in the report's order."""
    import threading
    import time

    from analysis.executor import LocalExecutor
    from analysis.report import build as build_mod
    from analysis.report.build import execute, stage

    monkeypatch.setenv("ALTO_CACHE_DIR", str(tmp_path / "cache"))
    opt = BuildOptions(sectors=["D36", "D62", "D69"])
    st = stage(QUARTER, processed / "panel.parquet", tmp_path / "staging", opt)
    lock, log, running, peak = threading.Lock(), [], [0], [0]
    slow = {"checks": 0.3, "program": 0.1}

    def fake_run(payload):
        stem = payload["stem"]
        with lock:
            log.append(("start", stem, sorted(k for k in payload["files"] if k.startswith("results/"))))
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(slow.get(stem, 0.15))
        with lock:
            running[0] -= 1
            log.append(("end", stem))
        return {"stem": stem, "notebook": b"{}", "results": {f"{stem}.csv": stem.encode()}, "seconds": 0.1,
                "error": None}

    monkeypatch.setattr(build_mod, "_run_payload", fake_run)
    paths = execute(st, LocalExecutor(2), force=True)
    assert [p.stem for p in paths] == ["program", "checks", "sector_D36", "sector_D62", "sector_D69", "sectors", "brief"]
    assert peak[0] == 2
    events = [(e[0], e[1]) for e in log]
    starts = {e[1]: e[2] for e in log if e[0] == "start"}
    assert starts["brief"] == ["results/checks.csv", "results/program.csv"]
    assert starts["sectors"] == ["results/program.csv", "results/sector_D36.csv", "results/sector_D62.csv",
                                 "results/sector_D69.csv"]
    # the brief starts before the last sector page, and after what it reads
    assert events.index(("start", "brief")) < events.index(("start", "sector_D69"))
    assert events.index(("start", "brief")) > max(events.index(("end", "program")), events.index(("end", "checks")))
    assert events.index(("start", "sectors")) > max(events.index(("end", s)) for s in ("sector_D36", "sector_D62",
                                                                                       "sector_D69", "program"))


def test_check_outputs_refuses_a_build_that_lacks_a_results_file(processed, tmp_path):
    from analysis.report.build import check_outputs, stage

    st = stage(QUARTER, processed / "panel.parquet", tmp_path / "staging", TINY)
    for name in ("program.csv", "program_event_study.csv", "calibration.csv", "spillover.csv", "power.csv"):
        (st.staging / "results" / name).write_text("x\n")
    with pytest.raises(ReportError, match="did not write sensitivity.csv, trend.csv, .* in results/: nothing was published"):
        check_outputs(st)


def test_make_help_lists_every_target():
    import re
    import subprocess

    from analysis.paths import ROOT

    phony = re.search(r"^\.PHONY:(.*)$", (ROOT / "Makefile").read_text(), re.M).group(1).split()
    out = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    listed = set(re.findall(r"^make ([a-z-]+)", out, re.M))
    assert set(phony) <= listed, sorted(set(phony) - listed)


def test_command_line_help_names_every_option_in_plain_words():
    import argparse

    from analysis.cli import build_parser

    ap = build_parser()
    parsers = [ap] + [p for a in ap._actions if isinstance(a, argparse._SubParsersAction) for p in a.choices.values()]
    bare = [
        f"{p.prog} {a.option_strings[-1]}"
        for p in parsers
        for a in p._actions
        if a.option_strings and not isinstance(a, argparse._HelpAction) and not (a.help or "").strip()
    ]
    assert not bare, f"options without help: {bare}"
    assert all("``" not in p.format_help() for p in parsers)  # no reStructuredText markup


def test_the_first_failure_is_reported_and_stops_what_has_not_started(processed, tmp_path, monkeypatch):
    """A notebook that fails is the one named, not one killed because of it; the notebooks still
    waiting never start; and notebooks that read each other's results are refused, not waited
    for forever."""
    import threading
    import time

    from analysis.executor import LocalExecutor
    from analysis.report import build as build_mod
    from analysis.report.build import ReportError, execute, stage

    monkeypatch.setenv("ALTO_CACHE_DIR", str(tmp_path / "cache"))
    st = stage(QUARTER, processed / "panel.parquet", tmp_path / "staging", BuildOptions(sectors=["D36", "D62", "D69"]))
    started, lock = [], threading.Lock()

    def fake_run(payload):
        stem = payload["stem"]
        with lock:
            started.append(stem)
        if stem == "checks":
            time.sleep(0.1)
            return {"stem": stem, "notebook": b"{}", "results": {}, "seconds": 0.1,
                    "error": {"exec_count": 4, "cell_index": 9, "ename": "ValueError", "evalue": "the real failure"}}
        time.sleep(0.4)
        return {"stem": stem, "notebook": b"{}", "results": {f"{stem}.csv": b"x"}, "seconds": 0.4, "error": None}

    monkeypatch.setattr(build_mod, "_run_payload", fake_run)
    with pytest.raises(ReportError, match="the real failure") as e:
        execute(st, LocalExecutor(2), force=True)
    assert "checks" in str(e.value)
    time.sleep(0.6)  # what was running has ended; nothing else started meanwhile
    assert started == ["program", "checks"]

    st2 = stage(QUARTER, processed / "panel.parquet", tmp_path / "staging2", BuildOptions(sectors=["D36"]))
    st2.after[0].reads, st2.after[1].reads = ("brief",), ("sectors",)
    monkeypatch.setattr(build_mod, "_run_payload", lambda p: {"stem": p["stem"], "notebook": b"{}", "results": {},
                                                               "seconds": 0.0, "error": None})
    with pytest.raises(ReportError, match="read each other's results"):
        execute(st2, LocalExecutor(2), force=True)


def test_forked_notebook_processes_keep_their_own_exit_status_when_many_end_at_once(tmp_path):
    """Notebooks are forked from a server that imported Papermill once. Starting a process reads
    the exit status of other children that ended, from the socket their own wait reads: without
    the lock in jobs._execute, 193 of 900 statuses read here came back 255 instead of 1."""
    from concurrent.futures import ThreadPoolExecutor

    from analysis.report import jobs

    assert jobs._forkable()  # pytest runs as `python -m pytest` or from an xdist worker
    bad = tmp_path / "spec.json"
    bad.write_text(json.dumps({"notebook": str(tmp_path / "missing.py"), "out": str(tmp_path / "out.ipynb"),
                               "parameters": {}}))
    jobs.allow()

    def one(i: int) -> int:
        return jobs._execute(bad, tmp_path, dict(os.environ), tmp_path / f"t{i}")[0]

    for i in range(120):
        (tmp_path / f"t{i}").mkdir()
    with ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(one, range(120)))
    assert set(codes) == {1}, sorted(set(codes))
