"""Grading a class with `servicelab grade-batch`: 30 of one lab, then 30 nodeport ones on one nodePort.

30 submissions of one lab on one cluster (goal: <= 5 min wall time), then 30 nodeport submissions that all
claim nodePort 30007 (one after another: the claim serializes them). Prints the jobs used, wall times and
per-submission seconds; asserts nothing.

    python benchmarks/bench_class.py [--context kind-servicelab] [--count 30] [--jobs N] [--lab clusterip]

Without --jobs, grade-batch chooses (its default); the figure printed is the one it used.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from grader.corpus.solutions import DEFAULT_JOBS

LABS = Path(__file__).resolve().parent.parent / "labs"
# Every tenth submission is wrong; the others are the reference solution or an accepted alternative.
WRONG = {"clusterip": ["wrong/type-nodeport", "wrong/selector-typo", "wrong/port-8080"]}
RIGHT = {"clusterip": ["solution", "alternatives/named-service-port", "alternatives/numeric-targetport"]}
NODEPORT_RIGHT = ["solution", "alternatives/explicit-fields", "alternatives/targetport-omitted"]
NODEPORT_WRONG = ["wrong/targetport-8080", "wrong/selector-lowercase", "wrong/type-loadbalancer"]  # on 30007 too


def make_class(root: Path, lab: str, count: int, right: list[str], wrong: list[str]) -> dict[str, str]:
    """DIR/<student>/*.yaml for grade-batch --lab; returns student -> case used."""
    used = {}
    for i in range(count):
        student = f"s{i + 1:02d}"
        case = wrong[(i // 10) % len(wrong)] if i % 10 == 9 and wrong else right[i % len(right)]
        (root / student).mkdir(parents=True)
        for manifest in (LABS / lab / case).glob("*.yaml"):
            if manifest.name != "case.yaml":
                (root / student / manifest.name).write_text(manifest.read_text())
        used[student] = case
    return used


def grade_batch(root: Path, lab: str, context: str, jobs: int | None) -> tuple[int, float, Path]:
    out = root.parent / f"{root.name}-grades"
    argv = [sys.executable, "-m", "grader.cli", "grade-batch", str(root), "--lab", lab, "--out", str(out)]
    argv += ["--context", context] + (["--jobs", str(jobs)] if jobs is not None else [])
    start = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    wall = time.monotonic() - start
    if done.returncode != 0:
        print(f"  grade-batch exit {done.returncode}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.returncode, wall, out


def report(title: str, lab: str, used: dict[str, str], *, jobs: int, code: int, wall: float, out: Path) -> None:
    with (out / "grades.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    seconds = [
        item["seconds"]
        for path in sorted(out.glob("*.json"))
        for item in json.loads(path.read_text())["submissions"]
        if item["outcome"] == "graded"
    ]
    statuses = Counter(r["status"] for r in rows)
    scores = Counter(f"{r['score']}/{r['max_score']}" for r in rows if r["score"])
    cases = Counter(used.values())
    print(f"{title}: {len(used)} submissions of {lab} ({', '.join(f'{n} {c}' for c, n in sorted(cases.items()))})")
    print(f"  --jobs {jobs}; exit {code}; wall time {wall:.0f}s ({wall / 60:.1f} min)")
    print(f"  outcomes: {dict(sorted(statuses.items()))}; scores: {dict(sorted(scores.items()))}")
    if seconds:
        busy = sum(seconds)
        print(
            f"  per submission: median {statistics.median(seconds):.1f}s, min {min(seconds):.1f}s, "
            f"max {max(seconds):.1f}s; sum {busy:.0f}s; sum / wall = {busy / wall:.2f} gradings at once on average"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--context", default="kind-servicelab")
    parser.add_argument("--count", type=int, default=30)
    parser.add_argument("--lab", default="clusterip", choices=sorted(RIGHT))
    parser.add_argument("--jobs", type=int, help=f"default: grade-batch's own choice ({DEFAULT_JOBS})")
    parser.add_argument("--skip-nodeport", action="store_true")
    args = parser.parse_args(argv)
    jobs = args.jobs or DEFAULT_JOBS
    with tempfile.TemporaryDirectory(prefix="servicelab-bench-class-") as tmp:
        root = Path(tmp) / args.lab
        used = make_class(root, args.lab, args.count, RIGHT[args.lab], WRONG[args.lab])
        code, wall, out = grade_batch(root, args.lab, args.context, args.jobs)
        report("one lab, parallel", args.lab, used, jobs=jobs, code=code, wall=wall, out=out)
        print(f"  goal <= 300s: {'met' if wall <= 300 else 'NOT met'}", flush=True)
        if args.skip_nodeport:
            return 0
        root = Path(tmp) / "nodeport"
        used = make_class(root, "nodeport", args.count, NODEPORT_RIGHT, NODEPORT_WRONG)
        code, wall, out = grade_batch(root, "nodeport", args.context, args.jobs)
        report(
            "nodeport, every one on 30007 (serialized by the claim)",
            "nodeport",
            used,
            jobs=jobs,
            code=code,
            wall=wall,
            out=out,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
