"""`servicelab check-solutions`: every lab's solution and alternatives get full marks, every wrong case fails
exactly its declared check with its declared hint. One crashing case never stops the batch."""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table
from rich.text import Text

from grader.labs import Case, Lab, load_lab
from grader.manifests import manifest_files
from grader.scoring import CaseOutcome, judge_case
from grader.session import Environment, grade
from grader.verdicts import BadInput, EnvError


@dataclass(frozen=True)
class Row:
    lab: str
    case: str
    expected: str
    outcome: CaseOutcome
    seconds: float


def expected_text(case: Case) -> str:
    return f"fails {case.fails} ({case.hint!r})" if case.kind == "wrong" else "full marks"


def check_lab(lab: Lab, env: Environment, on_row: object = None) -> list[Row]:
    rows = []
    for case in lab.cases:
        start = time.monotonic()
        try:
            files = [(f, str(f.relative_to(lab.path))) for f in manifest_files(case.path)]
            ns = f"{lab.id}-{case.name}"[:52].rstrip("-") + f"-{env.run_id}"
            result = grade(lab, env, namespace=ns, case_files=files)
            outcome = judge_case(case, result)
        except BadInput as err:
            outcome = CaseOutcome(False, f"bad input: {err.render()}"[:300])
        except EnvError as err:
            outcome = CaseOutcome(False, f"ENV-ERROR: {err.diagnosis}"[:300], env_error=True)
        except Exception as err:  # a batch survives its worst member
            outcome = CaseOutcome(False, f"crashed: {type(err).__name__}: {err}"[:300])
        row = Row(lab.id, case.label, expected_text(case), outcome, round(time.monotonic() - start, 1))
        rows.append(row)
        if callable(on_row):
            on_row(row)
    return rows


def check_solutions(names: list[str], env: Environment, console: Console) -> list[Row]:
    rows: list[Row] = []
    for name in names:
        try:
            lab = load_lab(name)
        except BadInput as err:
            rows.append(Row(name, "-", "valid lab", CaseOutcome(False, f"bad lab: {err.render()}"[:400]), 0.0))
            console.print(f"[red]{name}: {err.render()}[/red]")
            continue
        console.print(f"[bold]{lab.id}[/bold]: {len(lab.cases)} case(s)")
        rows += check_lab(lab, env, lambda row: console.print(
            f"  {'ok ' if row.outcome.holds else 'BAD'} {row.case} ({row.seconds}s) {row.outcome.observed}",
            markup=False, highlight=False))
    return rows


def table(rows: list[Row]) -> Table:
    tab = Table(title="check-solutions")
    for col in ("lab", "case", "expected", "holds", "observed", "s"):
        tab.add_column(col, overflow="fold")
    for r in rows:
        mark = Text("yes", style="green") if r.outcome.holds else Text(
            "ENV-ERROR" if r.outcome.env_error else "NO", style="yellow" if r.outcome.env_error else "bold red")
        tab.add_row(r.lab, r.case, r.expected, mark, r.outcome.observed, f"{r.seconds}")
    return tab


def exit_code(rows: list[Row]) -> int:
    if rows and all(r.outcome.holds for r in rows):
        return 0
    if rows and all(r.outcome.holds or r.outcome.env_error for r in rows):
        return 3
    return 1
