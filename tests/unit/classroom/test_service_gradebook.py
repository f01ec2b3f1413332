"""The gradebook: results survive a restart, each check's verdict is kept, and the exports say what they must; on
both backends (gradebook_where: an SQLite file, a real PostgreSQL database), and replicas sharing one gradebook
interrupt only the gradings of instances that are gone."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from _service_fakes import report

from grader.base.errors import EnvError
from grader.base.wait import wait_for
from grader.classroom.service.gradebook import SCHEMA_VERSION, Gradebook
from grader.classroom.service.nbexport import assignment_of, nbgrader_csv

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z
HOUR = 3600.0  # a heartbeat that never comes in a test: a crashed instance
STALE_S = 0.5


def _graded(book: Gradebook, job: str, student: str, lab: str, statuses: dict[str, str], *, at: float) -> None:
    ns = f"servicelab-student-{student}"
    book.queued(job, student, lab, ns, at)
    book.started(job, at + 1)
    book.finished(job, at + 2, report(lab, ns, statuses, message="the Service selects no pod"))


def test_a_result_survives_closing_and_reopening(gradebook_where: str) -> None:
    path = gradebook_where
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


def test_every_check_verdict_is_kept_by_its_name(gradebook_where: str) -> None:
    book = Gradebook(gradebook_where)
    statuses = {"a": "pass", "b": "fail", "c": "blocked", "d": "env-error", "e": "n/a"}
    _graded(book, "j1", "ann", "nodeport", statuses, at=T0)
    row = book.get("j1")
    assert row is not None
    assert row.checks == {"a": "PASS", "b": "FAIL", "c": "BLOCKED", "d": "ENV-ERROR", "e": "n-a"}
    assert (row.score, row.max_score, row.verdict) == (None, None, "ENV-ERROR")
    book.close()


def _unfinished(book: Gradebook, student: str) -> None:
    """One grading waiting and one running, for student."""
    book.queued(f"{student}-waiting", student, "nodeport", f"servicelab-student-{student}", T0)
    book.queued(f"{student}-running", student, "nodeport", f"servicelab-student-{student}", T0)
    book.started(f"{student}-running", T0 + 1)


def _states(book: Gradebook, student: str) -> list[str]:
    rows = [book.get(f"{student}-{job}") for job in ("waiting", "running")]
    return [row.state if row else "missing" for row in rows]


def _assert_interrupted(book: Gradebook, student: str) -> None:
    for job in ("waiting", "running"):
        row = book.get(f"{student}-{job}")
        assert row is not None
        assert row.state == "interrupted"
        assert "restarted" in row.error
        assert row.score is None


@pytest.mark.parametrize("crashed", [False, True], ids=["closed", "crashed"])
def test_a_grading_cut_short_by_a_restart_is_marked_interrupted(gradebook_where: str, crashed: bool) -> None:
    book = Gradebook(gradebook_where, instance="grading-0", heartbeat_s=HOUR)
    _unfinished(book, "ann")
    if not crashed:
        book.close()
    again = Gradebook(gradebook_where, instance="grading-0")  # crashed: the same name starts again, the old is gone
    _assert_interrupted(again, "ann")
    again.close()
    book.close()  # crashed: its connection closed only now; closed: a second close does nothing


def test_replicas_do_not_interrupt_each_others_live_gradings(gradebook_where: str) -> None:
    first = Gradebook(gradebook_where, instance="grading-a", heartbeat_s=0.05, stale_s=STALE_S)
    _unfinished(first, "ann")
    second = Gradebook(gradebook_where, instance="grading-b", heartbeat_s=0.05, stale_s=STALE_S)
    _unfinished(second, "bo")
    assert _states(second, "ann") == ["queued", "running"]  # the other replica's: alive, so left alone
    # a replica that died and never came back (a Deployment's pod replaced by one of another name): no heartbeat
    gone = Gradebook(gradebook_where, instance="grading-c", heartbeat_s=HOUR, stale_s=STALE_S)
    _unfinished(gone, "cy")
    wait_for(
        lambda: (_states(first, "cy") == ["interrupted"] * 2 or None, str(_states(first, "cy"))),
        what="the gone replica's gradings interrupted by a live one's heartbeat",
        timeout_s=STALE_S * 10,
        interval_s=0.05,
    )
    _assert_interrupted(first, "cy")
    # heartbeats for longer than STALE_S went by, and the live replicas' gradings stand
    assert _states(first, "bo") == _states(second, "ann") == ["queued", "running"]
    second.close()  # a replica that stops: its own unfinished gradings, and no one else's
    _assert_interrupted(first, "bo")
    assert _states(first, "ann") == ["queued", "running"]
    first.finished("ann-running", T0 + 5, report("nodeport", "servicelab-student-ann", {"x": "pass"}))
    row = first.get("ann-running")
    assert row is not None
    assert (row.state, row.score) == ("done", 1)
    first.close()
    gone.close()


def test_the_schema_is_recorded_and_a_newer_one_refused(gradebook_where: str) -> None:
    Gradebook(gradebook_where).close()
    book = Gradebook(gradebook_where)
    with book._tx() as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'schema'") == [{"value": str(SCHEMA_VERSION)}]
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (str(SCHEMA_VERSION + 1),))
    book.close()
    with pytest.raises(EnvError, match=f"schema {SCHEMA_VERSION + 1}, newer than"):
        Gradebook(gradebook_where)


SCHEMA_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE results (job TEXT PRIMARY KEY, student TEXT NOT NULL, lab TEXT NOT NULL, namespace TEXT NOT NULL,
    state TEXT NOT NULL, requested REAL NOT NULL, started REAL, finished REAL, score INTEGER, max_score INTEGER,
    verdict TEXT, error TEXT NOT NULL DEFAULT '', report TEXT);
CREATE TABLE checks (job TEXT NOT NULL REFERENCES results (job), position INTEGER NOT NULL, check_id TEXT NOT NULL,
    verdict TEXT NOT NULL, PRIMARY KEY (job, check_id));
CREATE TABLE refusals (at REAL NOT NULL, who TEXT NOT NULL, what TEXT NOT NULL, why TEXT NOT NULL);
INSERT INTO meta VALUES ('schema', '1');
INSERT INTO results (job, student, lab, namespace, state, requested, started, finished, score, max_score, verdict)
    VALUES ('old', 'ann', 'nodeport', 'servicelab-student-ann', 'done', 1, 2, 3, 2, 2, 'PASS');
INSERT INTO checks VALUES ('old', 0, 'x', 'PASS');
INSERT INTO results (job, student, lab, namespace, state, requested)
    VALUES ('cut', 'bo', 'nodeport', 'ns', 'running', 1);
"""


def test_a_schema_1_file_is_brought_to_schema_2_keeping_its_results(tmp_path: Path) -> None:
    """The SQLite gradebooks written before instances (kind's volume keeps them across `classroom up`)."""
    with sqlite3.connect(tmp_path / "g.sqlite") as old:
        old.executescript(SCHEMA_1)
    old.close()
    book = Gradebook(tmp_path / "g.sqlite")
    kept, cut = book.get("old"), book.get("cut")
    assert kept is not None
    assert (kept.state, kept.score, kept.checks) == ("done", 2, {"x": "PASS"})
    assert cut is not None
    assert cut.state == "interrupted"
    book.queued("new", "ann", "nodeport", "servicelab-student-ann", T0)
    assert book.export_csv().splitlines()[1] == "ann,nodeport,2,2,1970-01-01T00:00:03Z"
    book.close()
    with sqlite3.connect(tmp_path / "g.sqlite") as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == (str(SCHEMA_VERSION),)


def test_a_grading_that_could_not_run_has_its_reason_and_no_score(gradebook_where: str) -> None:
    book = Gradebook(gradebook_where)
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
    book.close()


def _class(book: Gradebook) -> None:
    _graded(book, "a1", "ann", "nodeport", {"x": "fail", "y": "fail"}, at=T0)
    _graded(book, "a2", "ann", "nodeport", {"x": "pass", "y": "pass"}, at=T0 + 60)  # her latest: full marks
    _graded(book, "a3", "ann", "nodeport", {"x": "pass", "y": "env-error"}, at=T0 + 120)  # no score: not counted
    _graded(book, "b1", "bo", "nodeport", {"x": "pass", "y": "fail"}, at=T0 + 30)
    _graded(book, "b2", "bo", "clusterip", {"x": "pass"}, at=T0 + 40)
    book.queued("c1", "cy", "nodeport", "servicelab-student-cy", T0)  # never finished: nothing to export


def test_the_csv_export_has_each_latest_scored_result(gradebook_where: str) -> None:
    book = Gradebook(gradebook_where)
    _class(book)
    assert book.export_csv() == (
        "student,lab,score,max,finished\n"
        "ann,nodeport,2,2,2027-01-15T08:01:02Z\n"
        "bo,clusterip,1,1,2027-01-15T08:00:42Z\n"
        "bo,nodeport,1,2,2027-01-15T08:00:32Z\n"
    )
    book.close()


def test_the_nbgrader_export_has_nbgrader_exports_columns_and_every_student_and_assignment(
    gradebook_where: str,
) -> None:
    book = Gradebook(gradebook_where)
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
    book.close()


def test_an_assignment_is_the_labs_notebook_folder() -> None:
    assert assignment_of("nodeport") == "02-nodeport"
    assert (Path(__file__).parents[3] / "notebooks/source" / assignment_of("clusterip")).is_dir()
