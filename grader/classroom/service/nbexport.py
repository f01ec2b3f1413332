"""The gradebook for nbgrader: its `nbgrader export` CSV, and the scores written into an nbgrader gradebook.

An nbgrader assignment of this course is a lab's notebook folder `<order>-<lab>` (notebooks/source/02-nodeport,
as grader.classroom.handins.lab_id reads it back); its lab checks' grade cells get the lab's fraction of their
points, as `servicelab course autograde` writes them (grader.classroom.course.record_in_gradebook). The knowledge
check's cells are not the lab's: the service does not grade them, so they stay as nbgrader has them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

from grader.base.text import csv_cell
from grader.catalogue.labs import load_lab
from grader.classroom.records import Outcome, Record
from grader.classroom.service.gradebook import NBGRADER_COLUMNS, Row, iso


def assignment_of(lab: str) -> str:
    """The nbgrader assignment that holds lab's notebook (notebooks/build_notebooks.py names it)."""
    return f"{load_lab(lab).order:02d}-{lab}"


def nbgrader_csv(latest_scored: list[Row], assignment: Callable[[str], str] = assignment_of) -> str:
    """`nbgrader export`'s CSV: one row for every student and every assignment anyone was graded on; one not
    graded scores 0 with no timestamp, as nbgrader writes a missing submission. No due dates, no late penalty:
    the service grades live. Names are as nbgrader's student ids (the namespace's name), escaped for spreadsheets."""
    students = sorted({r.student for r in latest_scored})
    labs = sorted({r.lab for r in latest_scored}, key=lambda lab: (assignment(lab), lab))
    by_key = {(r.student, r.lab): r for r in latest_scored}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(NBGRADER_COLUMNS)
    for lab in labs:
        for student in students:
            row = by_key.get((student, lab))
            score = float(row.score or 0) if row else 0.0
            top = next(r.max_score for r in latest_scored if r.lab == lab)  # one lab, one maximum
            when = iso(row.finished) if row else ""
            writer.writerow(
                [csv_cell(assignment(lab)), "", when, csv_cell(student), "", "", "", score, 0.0, score, float(top or 0)]
            )
    return out.getvalue()


def record_of(row: Row) -> Record:
    """A gradebook row as the classroom's Record (grader.classroom.records), what the nbgrader path writes."""
    if row.score is not None:
        outcome = Outcome.GRADED
    else:
        outcome = Outcome.ENV_ERROR if row.verdict == "ENV-ERROR" else Outcome.ERROR
    reason = row.error or str((row.report or {}).get("diagnosis") or "")
    return Record(
        row.student,
        row.lab,
        outcome,
        digest=f"service:{row.job}",
        score=row.score,
        max_score=row.max_score,
        reason=reason,
        source=f"namespace {row.namespace}",
        report=row.report,
    )
