"""Terminal rendering with rich: the checks table, the score, the reachability matrix.

Texts a learner's answer can reach (hints, diagnoses, names in the matrix) go in as rich Text, never as
markup, and escaped by grader.base.text.printable: no control character reaches the terminal.
"""

from __future__ import annotations

import io

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from grader.base.text import printable
from grader.grading.results import LabResult, Status
from grader.probes.matrix import Matrix

STYLE = {
    Status.PASS: "green",
    Status.FAIL: "red",
    Status.NA: "dim",
    Status.ENV_ERROR: "yellow",
    Status.BLOCKED: "magenta",
}


def checks_table(result: LabResult) -> Table:
    table = Table(title=f"{result.title} [{result.lab}] in namespace {result.namespace}", show_lines=False)
    table.add_column("check")
    table.add_column("points", justify="right")
    table.add_column("result")
    table.add_column("hint / diagnosis", overflow="fold")
    for c in result.checks:
        table.add_row(
            f"{c.title}\n[dim]{c.id}[/dim]",
            f"{c.earned}/{c.points}",
            Text(c.status.value.upper(), style=STYLE[c.status]),
            _plain(c.message),
        )
    return table


def matrix_table(matrix: Matrix) -> Table | None:
    if not matrix.cells:
        return None
    table = Table(title="reachability: expected vs observed")
    table.add_column("from \\ to")
    for col in matrix.columns:
        table.add_column(_plain(col), overflow="fold")
    for row in matrix.rows:
        cells: list[Text] = []
        for col in matrix.columns:
            cell = matrix.cell(row, col)
            if cell is None:
                cells.append(Text(""))
                continue
            mark = "reach" if cell.observed else "no"
            style = "" if cell.ok is None else ("green" if cell.ok else "bold red")
            expect = "" if cell.expected is None else (" (want reach)" if cell.expected else " (want no)")
            cells.append(Text(mark + expect, style=style))
        table.add_row(_plain(row), *cells)
    return table


def summary(result: LabResult) -> Text:
    if result.fraction is None:
        return Text(f"ENV-ERROR: no score. {printable(result.diagnosis, lines=True)}", style="bold yellow")
    style = "bold green" if result.verdict.value == "PASS" else "bold red"
    without = f" (graded without: {', '.join(result.graded_without)})" if result.graded_without else ""
    return Text(f"{result.verdict.value}: {result.score}/{result.max_score} points{without}", style=style)


def _plain(text: str) -> Text:
    return Text(printable(text, lines=True))


def renderable(result: LabResult) -> Group:
    parts: list[Table | Text] = [checks_table(result)]
    matrix = matrix_table(result.matrix)
    if matrix is not None:
        parts.append(matrix)
    parts.append(summary(result))
    return Group(*parts)


def print_result(result: LabResult, console: Console | None = None) -> None:
    (console or Console()).print(renderable(result))


def to_text(result: LabResult, width: int = 120) -> str:
    buf = io.StringIO()
    Console(file=buf, width=width, force_terminal=False, color_system=None).print(renderable(result))
    return buf.getvalue()
