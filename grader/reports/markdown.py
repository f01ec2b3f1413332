"""Markdown report: score, checks with hints, reachability matrix."""

from __future__ import annotations

from pathlib import Path

from grader.base.text import markdown
from grader.grading.results import LabResult
from grader.probes.matrix import Matrix

ICONS = {"pass": "PASS", "fail": "FAIL", "n/a": "n/a", "env-error": "ENV-ERROR", "blocked": "BLOCKED"}


def _cell(text: str) -> str:
    """One line whose Markdown and HTML show as text (a hint may quote what a learner wrote)."""
    return markdown(text)


def to_markdown(result: LabResult) -> str:
    lines = [f"# {result.title} (`{result.lab}`)", ""]
    if result.fraction is None:
        lines += [f"**ENV-ERROR**: no score. {_cell(result.diagnosis)}", ""]
    else:
        without = f" (graded without: {', '.join(result.graded_without)})" if result.graded_without else ""
        lines += [f"**{result.verdict.value}**: {result.score}/{result.max_score} points{without}", ""]
    lines += ["| check | points | result | hint |", "|---|---|---|---|"]
    for c in result.checks:
        lines.append(
            f"| {_cell(c.title)} (`{c.id}`) | {c.earned}/{c.points} | {ICONS[c.status.value]} | {_cell(c.message)} |"
        )
    lines += ["", *matrix_markdown(result.matrix)]
    return "\n".join(lines) + "\n"


def symbol(expected: bool | None, observed: bool) -> str:
    got = "reach" if observed else "no"
    if expected is None:
        return got
    return f"{got} {'ok' if expected == observed else 'WRONG'}"


def matrix_markdown(matrix: Matrix) -> list[str]:
    if not matrix.cells:
        return []
    cols = matrix.columns
    lines = [
        "## Reachability",
        "",
        "| from \\ to | " + " | ".join(_cell(c) for c in cols) + " |",
        "|---" * (len(cols) + 1) + "|",
    ]
    for row in matrix.rows:
        cells = []
        for col in cols:
            cell = matrix.cell(row, col)
            cells.append("" if cell is None else symbol(cell.expected, cell.observed))
        lines.append(f"| {_cell(row)} | " + " | ".join(cells) + " |")
    return lines


def write(result: LabResult, path: Path) -> None:
    path.write_text(to_markdown(result), encoding="utf-8")
