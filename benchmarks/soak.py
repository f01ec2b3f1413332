"""Soak: the same answers graded again and again must get the same verdict every time.

200 gradings (default) of the reference solution and two wrong cases of three labs, in parallel worker processes
as check-solutions runs them (cases that claim the same thing one after another). A flip is a grading whose
outcome (held or not, and what was observed) differs from that case's first grading. Prints flips, cases that
did not behave as declared, ENV-ERRORs and wall time; asserts nothing, exits 1 when anything flipped.

    python benchmarks/soak.py [--context kind-servicelab] [--count 200] [--jobs 3] [--case LAB:CASE ...]

--case (repeatable) soaks those cases instead, e.g. --case readiness:solution --case readiness:wrong/no-probe.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from dataclasses import replace

from rich.console import Console

from grader.catalogue.labs import load_lab
from grader.cluster.facts import discover
from grader.corpus.solutions import DEFAULT_JOBS, CaseJob, ClusterGrading, Row, case_namespace_stem, crashed_row
from grader.kube.client import Kube
from grader.parallel.chains import build_chains
from grader.parallel.claims import case_claims, placeholder_values
from grader.parallel.workers import run_chains

# lab -> its cases soaked: the reference solution and two known-wrong answers
SOAKED: dict[str, tuple[str, ...]] = {
    "clusterip": ("solution", "wrong/selector-typo", "wrong/type-nodeport"),
    "loadbalancer": ("solution", "wrong/internal-annotation", "wrong/port-9376"),
    "ingress": ("solution", "wrong/host-typo", "wrong/swapped-backends"),
}


def soak_jobs(count: int, context: str, soaked: dict[str, tuple[str, ...]]) -> list[CaseJob]:
    """count gradings cycling through the soaked cases; each repeat gets a name (and namespace) of its own."""
    cases = []
    for lab_id, labels in soaked.items():
        lab = load_lab(lab_id)
        by_label = {case.label: case for case in lab.cases}
        cases += [(lab, by_label[label]) for label in labels]
    facts = discover(Kube(context=context))
    jobs = []
    for i in range(count):
        lab, case = cases[i % len(cases)]
        repeat = replace(case, name=f"{case.name}-soak{i // len(cases)}")
        claims = case_claims(lab, repeat, placeholder_values(facts, case_namespace_stem(lab, repeat)))
        jobs.append(CaseJob(i, lab, repeat, claims))
    return jobs


def outcome_key(row: Row) -> tuple[bool, str]:
    return row.outcome.holds, row.outcome.observed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--context", default="kind-servicelab")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=DEFAULT_JOBS)
    parser.add_argument("--case", action="append", default=[], metavar="LAB:CASE", help="soak these cases instead")
    args = parser.parse_args()
    console = Console()
    soaked: dict[str, tuple[str, ...]] = {}
    for given in args.case:
        lab_id, _, label = given.partition(":")
        soaked[lab_id] = (*soaked.get(lab_id, ()), label)
    soaked = soaked or SOAKED
    jobs = soak_jobs(args.count, args.context, soaked)
    chains = build_chains(jobs, lambda job: job.claims)
    cases = sum(len(labels) for labels in soaked.values())
    console.print(f"soak: {len(jobs)} gradings of {cases} cases in {len(chains)} chain(s), {args.jobs} at once")
    start = time.monotonic()
    rows = run_chains(
        chains, ClusterGrading(args.context, None, None), args.jobs, crashed=crashed_row, on_result=lambda row: None
    )
    wall = time.monotonic() - start
    first: dict[tuple[str, str], tuple[bool, str]] = {}
    flips: defaultdict[tuple[str, str], Counter[tuple[bool, str]]] = defaultdict(Counter)
    for row in sorted(rows, key=lambda r: r.index):
        label = row.case.rsplit("-soak", 1)[0]
        key = (row.lab, label)
        first.setdefault(key, outcome_key(row))
        flips[key][outcome_key(row)] += 1
    flipped = sum(sum(seen.values()) - seen[first[key]] for key, seen in flips.items())
    not_held = sum(not row.outcome.holds for row in rows)
    env_errors = sum(row.outcome.env_error for row in rows)
    for key, seen in sorted(flips.items()):
        console.print(f"  {key[0]} {key[1]}: {dict(seen)}", markup=False, highlight=False)
    console.print(
        f"soak: {len(rows)} gradings in {wall:.0f}s ({args.jobs} jobs); flips {flipped}; "
        f"not as declared {not_held}; ENV-ERROR {env_errors}"
    )
    return 1 if flipped or not_held else 0


if __name__ == "__main__":
    sys.exit(main())
