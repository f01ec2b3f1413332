"""The gradebook for nbgrader: its `nbgrader export` CSV, and that CSV written into an nbgrader gradebook.

An nbgrader assignment of this course is a lab's notebook folder `<order>-<lab>` (notebooks/source/02-nodeport,
as grader.classroom.handins.lab_id reads it back). `GET /export/nbgrader` is the CSV; an instructor with an nbgrader
course writes it into the course's gradebook:

    python -m grader.classroom.service.nbexport nbgrader-grades.csv --course-dir COURSE

Each graded student gets a submission of the assignment (if nbgrader has none), and the lab's grade cells get
the lab's fraction of their points, as `servicelab course autograde` writes them
(grader.classroom.course.record_in_gradebook). The knowledge check's cells are not the lab's: the service does not
grade them, so they stay as nbgrader has them.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

from grader.base.errors import BadInput
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


def into_nbgrader(nbgrader_csv_text: str, db_url: str, course_id: str) -> list[str]:
    """Write an nbgrader_csv() export into an nbgrader gradebook; returns what could not be written, and why.
    Rows without a timestamp (not graded) are left out: nbgrader counts a missing submission as 0 itself."""
    from nbgrader.api import Gradebook, MissingEntry  # type: ignore[import-untyped]  # noqa: PLC0415 - [teach] extra

    from grader.classroom.course import record_in_gradebook  # noqa: PLC0415 - nbgrader's side of the classroom
    from grader.classroom.handins import lab_id  # noqa: PLC0415

    rows = [r for r in csv.DictReader(io.StringIO(nbgrader_csv_text)) if r.get("timestamp")]
    if rows and set(NBGRADER_COLUMNS) - set(rows[0]):
        return [f"not an nbgrader export: its columns lack {sorted(set(NBGRADER_COLUMNS) - set(rows[0]))}"]
    missed: list[str] = []
    ready: list[tuple[str, Record]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nbgrader's own SQLAlchemy warnings
        with Gradebook(db_url, course_id) as gb:
            for row in rows:
                assignment, student = row["assignment"], row["student_id"]
                try:
                    gb.find_assignment(assignment)
                except MissingEntry:
                    missed.append(
                        f"{student}/{assignment}: the assignment is not in the gradebook "
                        f"(run 'nbgrader generate_assignment {assignment}')"
                    )
                    continue
                gb.update_or_create_student(student)
                try:
                    gb.find_submission(assignment, student)
                except MissingEntry:
                    gb.add_submission(assignment, student, timestamp=row["timestamp"])
                score, top = round(float(row["raw_score"])), round(float(row["max_score"]))
                record = Record(student, lab_id(assignment), Outcome.GRADED, "service", score=score, max_score=top)
                ready.append((assignment, record))
        for assignment, record in ready:
            record_in_gradebook(db_url, course_id, assignment, record.lab, record)
    return missed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m grader.classroom.service.nbexport",
        description="write the grading service's nbgrader export into an nbgrader course's gradebook",
    )
    p.add_argument("csv", type=Path, help="what GET /export/nbgrader gave")
    p.add_argument("--course-dir", type=Path, default=Path("."), help="the nbgrader course folder (default: .)")
    args = p.parse_args(argv)
    from grader.classroom.course import open_course  # noqa: PLC0415 - reads nbgrader_config.py

    try:
        course = open_course(args.course_dir)
    except BadInput as err:
        print(err.render(), file=sys.stderr)
        return err.exit_code
    missed = into_nbgrader(args.csv.read_text(encoding="utf-8"), course.coursedir.db_url, course.coursedir.course_id)
    for line in missed:
        print(f"not written: {line}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
