"""Refusal speed: wall time of `servicelab grade <lab> --manifests <case>` for every bad-input and hostile case,
through the installed command as a learner runs it (process start included; goal: under 2 s each, no cluster
contact). Prints figures and the machine's load; asserts nothing. Exit 1 if a case is not refused with exit 2.

    python benchmarks/bench_refusals.py [--corpus tests/badinput tests/hostile]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

TESTS = Path(__file__).resolve().parent.parent / "tests"
DEAD_KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:1"}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
users: [{name: none, user: {token: x}}]
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", nargs="+", type=Path, default=[TESTS / "badinput", TESTS / "hostile"])
    parser.add_argument("--tmp", type=Path, default=Path("/tmp/servicelab-bench-refusals"))
    args = parser.parse_args(argv)
    command = shutil.which("servicelab")
    if command is None:
        print("the servicelab command is not installed here", file=sys.stderr)
        return 2
    args.tmp.mkdir(parents=True, exist_ok=True)
    kubeconfig = args.tmp / "kubeconfig"  # a refusal must not need the cluster: give it none that answers
    kubeconfig.write_text(DEAD_KUBECONFIG)
    timings: list[tuple[float, str]] = []
    wrong: list[str] = []
    load_before = os.getloadavg()
    for case in sorted(p for root in args.corpus for p in root.iterdir() if (p / "case.yaml").is_file()):
        lab = yaml.safe_load((case / "case.yaml").read_text())["lab"]
        start = time.monotonic()
        done = subprocess.run(
            [command, "grade", lab, "--manifests", str(case / "submission"), "--kubeconfig", str(kubeconfig)],
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.monotonic() - start
        timings.append((seconds, f"{case.parent.name}/{case.name}"))
        if done.returncode != 2:
            wrong.append(f"{case.name}: exit {done.returncode}")
    values = sorted(t for t, _ in timings)
    print(
        f"{len(values)} cases; median {statistics.median(values):.2f}s, "
        f"p90 {values[int(0.9 * (len(values) - 1))]:.2f}s, max {values[-1]:.2f}s; "
        f"{sum(v < 2.0 for v in values)}/{len(values)} under 2 s"
    )
    print("slowest: " + ", ".join(f"{name} {t:.2f}s" for t, name in sorted(timings, reverse=True)[:5]))
    print(f"load average before/after: {load_before[0]:.2f} / {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    for line in wrong:
        print(f"NOT REFUSED WITH EXIT 2: {line}", file=sys.stderr)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
