"""Cluster-wide speed figures: `servicelab up` on a running cluster, `servicelab check-solutions` for every lab
(wall time, slowest wrong case), and the offline image build's cold time when one is on record here
(<cache>/build-runs.json: a run that reused nothing). Prints figures; asserts nothing.
    python benchmarks/bench_cluster.py [--context kind-servicelab] [--jobs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time

from grader.cluster.tools import build_cache

# a check-solutions table row: lab, case, ..., seconds (the last column)
_ROW = re.compile(
    r"^[│|]\s*([a-z0-9-]+)\s*[│|]\s*(wrong/[\w.-]+|solution|alternative/[\w.-]+)\s*[│|].*?([\d.]+)\s*[│|]\s*$"
)


def timed(argv: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.monotonic()
    wide = {**os.environ, "COLUMNS": "250"}  # check-solutions' table, one row a line
    done = subprocess.run(argv, capture_output=True, text=True, check=False, env=wide)
    return time.monotonic() - start, done


def cold_build() -> str:
    try:
        runs = json.loads((build_cache() / "build-runs.json").read_text())
    except (OSError, ValueError):
        return "no build on record here"
    cold = [r for r in runs if r.get("reused") == 0 and r.get("built")]
    if cold:
        last = cold[-1]
        return f"{last['seconds'] / 60:.1f} min ({last['built']} artefacts built, finished {last['finished']})"
    last = runs[-1]
    return f"none on record (the last build, {last['finished']}, reused {last['reused']} of its artefacts)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--context", default="kind-servicelab")
    parser.add_argument("--jobs", type=int, default=3)
    args = parser.parse_args(argv)

    seconds, up = timed(["servicelab", "up"])
    print(f"servicelab up on the running cluster: {seconds:.1f} s (exit {up.returncode})")
    seconds, checked = timed(["servicelab", "check-solutions", "--jobs", str(args.jobs), "--context", args.context])
    rows = [m.groups() for line in checked.stdout.splitlines() if (m := _ROW.match(line.strip()))]
    wrong = sorted(((float(s), f"{lab} {case}") for lab, case, s in rows if case.startswith("wrong/")), reverse=True)
    print(
        f"check-solutions, every lab, --jobs {args.jobs}: {seconds:.0f} s (exit {checked.returncode}), "
        f"{len(rows)} cases; slowest wrong cases: "
        + (", ".join(f"{case} {s:.1f} s" for s, case in wrong[:3]) or "none read (is the table wide enough?)")
    )
    print(f"cold offline image build: {cold_build()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
