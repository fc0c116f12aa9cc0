"""Build the demo report N times in a row and check that every build is complete and that all
give byte-identical results files (issue 8: results once went missing in 2 of 6 builds).

    python benchmarks/repeat_builds.py 20

Each build goes to its own folder under benchmarks/results/repeat/; the script prints one line
per build (time, results files, whether they equal the first build's) and exits 1 on any
missing or differing file.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((folder / "results").iterdir())}


def main(n: int) -> int:
    out = ROOT / "benchmarks" / "results" / "repeat"
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "analysis", "data"], cwd=ROOT, check=True, capture_output=True)
    first, bad = None, 0
    for i in range(1, n + 1):
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "analysis", "report", "--reports", str(out / f"run{i:02d}")],
                           cwd=ROOT, capture_output=True, text=True)
        secs = time.perf_counter() - t
        if r.returncode != 0:
            print(f"build {i:2d}: FAILED in {secs:.0f} s: {r.stderr.strip().splitlines()[-1:]}")
            bad += 1
            continue
        report = next(p for p in (out / f"run{i:02d}").iterdir() if p.is_dir())
        d = digest(report)
        first = first or d
        same = d == first
        bad += not same
        diff = sorted(k for k in set(d) | set(first) if d.get(k) != first.get(k))
        print(f"build {i:2d}: {secs:5.1f} s, {len(d)} results files, "
              f"{'identical to build 1' if same else 'DIFFERENT: ' + ', '.join(diff)}", flush=True)
    print(f"{n - bad} of {n} builds complete and identical")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20))
