"""The instructor's class page: who passed which check of which lab, and each student's latest report with its hints.

Built from the gradebook on every request (it refreshes itself every REFRESH_S seconds: live enough for a class
hour). Everything a student could have put into a report (names, messages) is escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any

from grader.base.text import html as html_text
from grader.classroom.service.gradebook import Row, iso

REFRESH_S = 15
_STYLE = """
body { font-family: sans-serif; margin: 1.5em; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: left; vertical-align: top; }
td.PASS { background: #d4f7d4; } td.FAIL { background: #fbd3d3; } td.BLOCKED { background: #eee; }
td.ENV-ERROR, td.ERROR { background: #fde9b5; } td.n-a { color: #777; }
pre { white-space: pre-wrap; margin: 0; }
"""


def render(latest: list[Row]) -> str:
    """latest: each student's latest finished result per lab (Gradebook.latest)."""
    labs: dict[str, list[str]] = {}  # lab -> its checks, in report order
    for each in latest:
        known = labs.setdefault(each.lab, [])
        known += [c for c in each.checks if c not in known]
    students = sorted({r.student for r in latest})
    by_key = {(r.student, r.lab): r for r in latest}
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<meta http-equiv='refresh' content='{REFRESH_S}'><title>servicelab: the class</title>",
        f"<style>{_STYLE}</style></head><body><h1>The class</h1>",
        # relative: right at / and under the hub's /services/grading/ alike
        "<p>Export: <a href='export.csv'>grades (CSV)</a>, <a href='export/nbgrader'>nbgrader's CSV</a></p>",
    ]
    if not latest:
        parts.append("<p>No grading yet.</p>")
    for lab in sorted(labs):
        checks = labs[lab] or ["(no checks)"]
        head = "".join(f"<th>{escape(c)}</th>" for c in checks)
        parts.append(f"<h2>{escape(lab)}</h2><table><tr><th>student</th><th>score</th>{head}<th>finished</th></tr>")
        for student in students:
            row = by_key.get((student, lab))
            if row is None:
                continue
            score = f"{row.score}/{row.max_score}" if row.score is not None else escape(row.verdict or row.state)
            cells = "".join(_verdict_cell(row.checks.get(c, "")) for c in checks)
            parts.append(
                f"<tr><td>{escape(student)}</td><td class='{escape(row.verdict or '')}'>{score}</td>{cells}"
                f"<td>{escape(iso(row.finished) or '')}</td></tr>"
            )
        parts.append("</table>")
    if latest:
        parts.append("<h1>Latest reports</h1>")
    for student in students:
        parts.append(f"<h2 id='student-{escape(student)}'>{escape(student)}</h2>")
        parts += [_report(r) for r in latest if r.student == student]
    parts.append("</body></html>")
    return "".join(parts)


def _verdict_cell(verdict: str) -> str:
    return f"<td class='{escape(verdict)}'>{escape(verdict)}</td>"


def _report(row: Row) -> str:
    title = f"{row.lab}: {row.verdict or row.state}" + (
        f", {row.score}/{row.max_score}" if row.score is not None else ""
    )
    out = [f"<h3>{escape(title)} <small>({escape(iso(row.finished) or '')}, job {escape(row.job)})</small></h3>"]
    if row.error:
        out.append(f"<pre>{html_text(row.error)}</pre>")
    report: dict[str, Any] = row.report or {}
    if report.get("diagnosis"):
        out.append(f"<p>Diagnosis:</p><pre>{html_text(str(report['diagnosis']))}</pre>")
    checks = report.get("checks") or []
    if checks:
        out.append("<table><tr><th>check</th><th>verdict</th><th>points</th><th>hint / reason</th></tr>")
        for check in checks:
            verdict = row.checks.get(str(check.get("id")), str(check.get("status")))
            out.append(
                f"<tr><td>{escape(str(check.get('title') or check.get('id')))}</td>{_verdict_cell(verdict)}"
                f"<td>{check.get('earned', 0)}/{check.get('points', 0)}</td>"
                f"<td><pre>{html_text(str(check.get('message') or ''))}</pre></td></tr>"
            )
        out.append("</table>")
    return "".join(out)
