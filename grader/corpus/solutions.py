"""`servicelab check-solutions`: every lab's solution and alternatives get full marks, every wrong case fails
exactly its declared check with its declared diagnosis and blocks exactly its declared checks, each naming that
failure; in every case each PASS rests on an observation (grader.grading.scoring.judge_case). One crashing case
never stops the batch.

Cases run in parallel worker processes (grader.parallel.workers), each case in its own namespace. What a namespace
cannot isolate (a fixed nodePort, a static LB address, an HTTP host on the shared Traefik) is a claim
(parallel.claims): cases with overlapping claims form one chain (parallel.chains) and run one after another.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from grader.base.errors import EXIT_ENV, EXIT_FAIL, EXIT_OK, BadInput, EnvError
from grader.catalogue.cases import Case
from grader.catalogue.labs import Lab, load_lab
from grader.cluster.facts import ClusterFacts
from grader.grading.environment import Environment, EnvironmentSpec, EnvironmentWorker
from grader.grading.scoring import CaseOutcome, judge_case
from grader.grading.session import grade
from grader.intake.manifests import manifest_files
from grader.parallel import leases
from grader.parallel.chains import build_chains
from grader.parallel.claims import case_claims, placeholder_values
from grader.parallel.workers import WorkerSpec, run_chains
from grader.probes.matrix import API
from grader.reports import json as json_report

# At most this many gradings at once. Each case holds <= 3 LoadBalancer addresses, so 3 jobs hold <= 9 of the
# `public` pool's 19 auto-assigned addresses (the static IPs are in pools of their own: fixtures/metallb).
DEFAULT_JOBS = 3


@dataclass(frozen=True)
class Row:
    lab: str
    case: str
    expected: str
    outcome: CaseOutcome
    seconds: float
    index: int = 0  # position in lab order, then case order: the final table's order


@dataclass(frozen=True)
class CaseJob:
    index: int
    lab: Lab
    case: Case
    claims: frozenset[str] = field(default_factory=frozenset)


def expected_text(case: Case) -> str:
    if case.kind != "wrong":
        return "full marks"
    return f"fails {case.fails} ({case.diagnosis})" + (f", blocks {', '.join(case.blocked)}" if case.blocked else "")


def case_namespace_stem(lab: Lab, case: Case) -> str:
    return f"{lab.id}-{case.name}"[:52].rstrip("-")


def case_namespace(lab: Lab, case: Case, run_id: str) -> str:
    return f"{case_namespace_stem(lab, case)}-{run_id}"


def passes_without_evidence(report: dict[str, Any]) -> list[str]:
    """The checks a JSON report (servicelab.result/v1) shows as PASS with no observation that supports them: a
    met expectation of a probe, or for a structural check a field read (what the report's reader sees)."""

    def supports(seen: dict[str, Any], structural: bool) -> bool:
        return structural if seen.get("vantage") == API else seen.get("ok") is True

    return [
        str(check["id"])
        for check in report["checks"]
        if check["status"] == "pass"
        and not any(supports(seen, bool(check.get("structural"))) for seen in check.get("evidence") or [])
    ]


def check_case(lab: Lab, case: Case, env: Environment, index: int = 0) -> Row:
    start = time.monotonic()
    try:
        files = [(f, str(f.relative_to(lab.path))) for f in manifest_files(case.path)]
        result = grade(lab, env, namespace=case_namespace(lab, case, env.run_id), case_files=files)
        outcome = judge_case(case, result)
        if outcome.holds and (bare := passes_without_evidence(json_report.to_dict(result))):
            outcome = CaseOutcome(False, f"the JSON report shows PASS without evidence: {', '.join(bare)}")
    except BadInput as err:
        outcome = CaseOutcome(False, f"bad input: {err.render()}"[:300])
    except EnvError as err:
        outcome = CaseOutcome(False, f"ENV-ERROR: {err.diagnosis}"[:300], env_error=True)
    except Exception as err:  # a batch survives its worst member
        outcome = CaseOutcome(False, f"crashed: {type(err).__name__}: {err}"[:300])
    return Row(lab.id, case.label, expected_text(case), outcome, round(time.monotonic() - start, 1), index)


def crashed_row(job: CaseJob, why: str) -> Row:
    return Row(
        job.lab.id, job.case.label, expected_text(job.case), CaseOutcome(False, f"crashed: {why}"), 0.0, job.index
    )


@dataclass(frozen=True)
class ClusterGrading(EnvironmentSpec):
    """Each worker process opens one Environment (probe pods started once) for all the cases it runs."""

    @contextmanager
    def open(self) -> Iterator[EnvironmentGrader]:
        with self.environment() as env:
            yield EnvironmentGrader(env)


class EnvironmentGrader(EnvironmentWorker):
    def run(self, job: CaseJob) -> Row:
        """Grade one case; the grading holds its claims' Leases until its namespace is gone (grading.session)."""
        return check_case(job.lab, job.case, self.env, job.index)

    def remove_namespace(self, namespace: str) -> None:
        """Cleaning up after a run: wait until each namespace is gone (what it holds must not meet the next
        case that claims the same); release_run then drops the run's claims."""
        super().remove_namespace(namespace)
        leases.wait_released(self.env.kube, namespace, None)

    def release_run(self, run_id: str) -> None:
        leases.release_run(self.env.kube, run_id)


def check_solutions(
    names: list[str],
    grading: WorkerSpec[CaseJob, Row],
    console: Console,
    *,
    jobs: int = DEFAULT_JOBS,
    facts: ClusterFacts | None = None,
) -> list[Row]:
    """Rows in lab order, then case order. facts give placeholders their values for claims (None: their text)."""
    rows: list[Row] = []
    todo: list[CaseJob] = []
    for name in names:
        try:
            lab = load_lab(name)
        except BadInput as err:
            rows.append(
                Row(
                    name,
                    "-",
                    "valid lab",
                    CaseOutcome(False, f"bad lab: {err.render()}"[:400]),
                    0.0,
                    len(rows) + len(todo),
                )
            )
            console.print(f"[red]{name}: {err.render()}[/red]")
            continue
        console.print(f"[bold]{lab.id}[/bold]: {len(lab.cases)} case(s)")
        todo += [CaseJob(len(rows) + len(todo) + i, lab, case) for i, case in enumerate(lab.cases)]
    todo = [
        replace(
            job,
            claims=case_claims(job.lab, job.case, placeholder_values(facts, case_namespace_stem(job.lab, job.case))),
        )
        for job in todo
    ]
    chains = build_chains(todo, lambda job: job.claims)
    console.print(f"{len(todo)} case(s) in {len(chains)} chain(s) (cases sharing a claim run in order), {jobs} at once")
    rows += run_chains(chains, grading, jobs, crashed=crashed_row, on_result=lambda row: _print_row(row, console))
    return sorted(rows, key=lambda row: row.index)


def _print_row(row: Row, console: Console) -> None:
    console.print(
        f"  {'ok ' if row.outcome.holds else 'BAD'} {row.lab} {row.case} ({row.seconds}s) {row.outcome.observed}",
        markup=False,
        highlight=False,
    )


def table(rows: list[Row]) -> Table:
    tab = Table(title="check-solutions")
    for col in ("lab", "case", "expected", "holds", "observed", "s"):
        tab.add_column(col, overflow="fold")
    for r in rows:
        mark = (
            Text("yes", style="green")
            if r.outcome.holds
            else Text(
                "ENV-ERROR" if r.outcome.env_error else "NO", style="yellow" if r.outcome.env_error else "bold red"
            )
        )
        tab.add_row(r.lab, r.case, r.expected, mark, r.outcome.observed, f"{r.seconds}")
    return tab


def exit_code(rows: list[Row]) -> int:
    if rows and all(r.outcome.holds for r in rows):
        return EXIT_OK
    if rows and all(r.outcome.holds or r.outcome.env_error for r in rows):
        return EXIT_ENV
    return EXIT_FAIL
