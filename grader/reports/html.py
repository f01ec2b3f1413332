"""HTML for notebooks: the checks table, the score and the reachability matrix as a coloured grid.

Every text is escaped by grader.base.text.html (markup, and control characters a hint may quote).
"""

from __future__ import annotations

from grader.base.text import html as escape
from grader.grading.results import LabResult, Status
from grader.probes.matrix import Matrix

COLOURS = {
    Status.PASS: "#1a7f37",
    Status.FAIL: "#cf222e",
    Status.NA: "#6e7781",
    Status.ENV_ERROR: "#9a6700",
    Status.BLOCKED: "#8250df",
}


def to_html(result: LabResult) -> str:
    rows = "".join(
        f"<tr><td>{escape(c.title)}<br><code>{escape(c.id)}</code></td><td>{c.earned}/{c.points}</td>"
        f"<td style='color:{COLOURS[c.status]};font-weight:bold'>{escape(c.status.value.upper())}</td>"
        f"<td>{escape(c.message)}</td></tr>"
        for c in result.checks
    )
    if result.fraction is None:
        colour = COLOURS[Status.ENV_ERROR]
        head = f"<p style='color:{colour}'><b>ENV-ERROR</b>: no score. {escape(result.diagnosis)}</p>"
    else:
        without = f" (graded without: {escape(', '.join(result.graded_without))})" if result.graded_without else ""
        head = f"<p><b>{result.verdict.value}</b>: {result.score}/{result.max_score} points{without}</p>"
    table = (
        "<table><thead><tr><th>check</th><th>points</th><th>result</th><th>hint</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )
    return (
        f"<div class='servicelab'><h4>{escape(result.title)} <code>{escape(result.lab)}</code></h4>"
        f"{head}{table}{matrix_html(result.matrix)}</div>"
    )


def matrix_html(matrix: Matrix) -> str:
    if not matrix.cells:
        return ""
    head = "".join(f"<th>{escape(c)}</th>" for c in matrix.columns)
    body = []
    for row in matrix.rows:
        tds = []
        for col in matrix.columns:
            cell = matrix.cell(row, col)
            if cell is None:
                tds.append("<td></td>")
                continue
            colour = "#eeeeee" if cell.ok is None else ("#dafbe1" if cell.ok else "#ffebe9")
            want = "" if cell.expected is None else ("want reach" if cell.expected else "want no")
            mark = "&#10003; reach" if cell.observed else "&#10007; no"
            tds.append(
                f"<td style='background:{colour}' title='{escape(cell.detail)}'>{mark}<br><small>{want}</small></td>"
            )
        body.append(f"<tr><th>{escape(row)}</th>{''.join(tds)}</tr>")
    return (
        f"<p><b>Reachability</b> (expected vs observed)</p><table><thead><tr><th>from \\ to</th>{head}"
        f"</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )
