"""The gradebook: results survive a restart, each check's verdict is kept, and the exports say what they must."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from _service_fakes import report

from grader.classroom.service.gradebook import Gradebook
from grader.classroom.service.nbexport import assignment_of, nbgrader_csv

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def _graded(book: Gradebook, job: str, student: str, lab: str, statuses: dict[str, str], *, at: float) -> None:
    ns = f"servicelab-student-{student}"
    book.queued(job, student, lab, ns, at)
    book.started(job, at + 1)
    book.finished(job, at + 2, report(lab, ns, statuses, message="the Service selects no pod"))


def test_a_result_survives_closing_and_reopening(tmp_path: Path) -> None:
    path = tmp_path / "state" / "gradebook.sqlite"
    book = Gradebook(path)
    _graded(book, "j1", "ann", "nodeport", {"exists": "pass", "reach": "fail", "local": "blocked"}, at=T0)
    book.refused(T0 + 5, "student bo", "grade nodeport", "namespace servicelab-student-ann is not yours")
    book.close()

    again = Gradebook(path)
    row = again.get("j1")
    assert row is not None
    assert (row.student, row.lab, row.namespace, row.state) == ("ann", "nodeport", "servicelab-student-ann", "done")
    assert (row.requested, row.started, row.finished) == (T0, T0 + 1, T0 + 2)
    assert (row.score, row.max_score, row.verdict) == (1, 3, "FAIL")
    assert row.checks == {"exists": "PASS", "reach": "FAIL", "local": "BLOCKED"}  # in the lab's order
    assert row.report is not None
    assert row.report["checks"][1]["message"] == "the Service selects no pod"
    why = "namespace servicelab-student-ann is not yours"
    assert again.refusals() == [(T0 + 5, "student bo", "grade nodeport", why)]
    again.close()


def test_the_file_is_in_wal_mode(tmp_path: Path) -> None:
    Gradebook(tmp_path / "g.sqlite").close()
    with sqlite3.connect(tmp_path / "g.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_every_check_verdict_is_kept_by_its_name(tmp_path: Path) -> None:
    book = Gradebook(tmp_path / "g.sqlite")
    statuses = {"a": "pass", "b": "fail", "c": "blocked", "d": "env-error", "e": "n/a"}
    _graded(book, "j1", "ann", "nodeport", statuses, at=T0)
    row = book.get("j1")
    assert row is not None
    assert row.checks == {"a": "PASS", "b": "FAIL", "c": "BLOCKED", "d": "ENV-ERROR", "e": "n-a"}
    assert (row.score, row.max_score, row.verdict) == (None, None, "ENV-ERROR")


def test_a_grading_cut_short_by_a_restart_is_marked_interrupted(tmp_path: Path) -> None:
    book = Gradebook(tmp_path / "g.sqlite")
    book.queued("waiting", "ann", "nodeport", "servicelab-student-ann", T0)
    book.queued("running", "bo", "nodeport", "servicelab-student-bo", T0)
    book.started("running", T0 + 1)
    book.close()
    again = Gradebook(tmp_path / "g.sqlite")
    for job in ("waiting", "running"):
        row = again.get(job)
        assert row is not None
        assert row.state == "interrupted"
        assert "restarted" in row.error
        assert row.score is None


def test_a_grading_that_could_not_run_has_its_reason_and_no_score(tmp_path: Path) -> None:
    book = Gradebook(tmp_path / "g.sqlite")
    book.queued("j1", "ann", "nodeport", "servicelab-student-ann", T0)
    book.failed("j1", T0 + 3, "namespace servicelab-student-ann does not exist")
    row = book.get("j1")
    assert row is not None
    assert (row.state, row.verdict, row.score, row.error) == (
        "error",
        "ERROR",
        None,
        "namespace servicelab-student-ann does not exist",
    )


def _class(book: Gradebook) -> None:
    _graded(book, "a1", "ann", "nodeport", {"x": "fail", "y": "fail"}, at=T0)
    _graded(book, "a2", "ann", "nodeport", {"x": "pass", "y": "pass"}, at=T0 + 60)  # her latest: full marks
    _graded(book, "a3", "ann", "nodeport", {"x": "pass", "y": "env-error"}, at=T0 + 120)  # no score: not counted
    _graded(book, "b1", "bo", "nodeport", {"x": "pass", "y": "fail"}, at=T0 + 30)
    _graded(book, "b2", "bo", "clusterip", {"x": "pass"}, at=T0 + 40)
    book.queued("c1", "cy", "nodeport", "servicelab-student-cy", T0)  # never finished: nothing to export


def test_the_csv_export_has_each_latest_scored_result(tmp_path: Path) -> None:
    book = Gradebook(tmp_path / "g.sqlite")
    _class(book)
    assert book.export_csv() == (
        "student,lab,score,max,finished\n"
        "ann,nodeport,2,2,2027-01-15T08:01:02Z\n"
        "bo,clusterip,1,1,2027-01-15T08:00:42Z\n"
        "bo,nodeport,1,2,2027-01-15T08:00:32Z\n"
    )


def test_the_nbgrader_export_has_nbgrader_exports_columns_and_every_student_and_assignment(tmp_path: Path) -> None:
    book = Gradebook(tmp_path / "g.sqlite")
    _class(book)
    assignments = {"nodeport": "02-nodeport", "clusterip": "01-clusterip"}
    assert nbgrader_csv(book.latest_scored(), assignments.__getitem__) == (
        "assignment,duedate,timestamp,student_id,last_name,first_name,email,raw_score,late_submission_penalty,"
        "score,max_score\n"
        "01-clusterip,,,ann,,,,0.0,0.0,0.0,1.0\n"  # not graded: 0, no timestamp, as nbgrader writes it
        "01-clusterip,,2027-01-15T08:00:42Z,bo,,,,1.0,0.0,1.0,1.0\n"
        "02-nodeport,,2027-01-15T08:01:02Z,ann,,,,2.0,0.0,2.0,2.0\n"
        "02-nodeport,,2027-01-15T08:00:32Z,bo,,,,1.0,0.0,1.0,2.0\n"
    )


def test_an_assignment_is_the_labs_notebook_folder() -> None:
    assert assignment_of("nodeport") == "02-nodeport"
    assert (Path(__file__).parents[3] / "notebooks/source" / assignment_of("clusterip")).is_dir()
