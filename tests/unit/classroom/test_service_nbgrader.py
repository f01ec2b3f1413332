"""The grading service's nbgrader export written into a real nbgrader course's gradebook (nbgrader's own API and
`nbgrader export`): the lab's cells get the lab's fraction of their points, the knowledge check's stay untouched."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _service_fakes import report

from grader.classroom.service.gradebook import Gradebook
from grader.classroom.service.nbexport import into_nbgrader, main, nbgrader_csv

nbgrader_api = pytest.importorskip("nbgrader.api")

REPO = Path(__file__).resolve().parents[3]
ASSIGNMENT = "02-nodeport"


def _nbgrader(course: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args], cwd=course, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("course")
    shutil.copy(REPO / "notebooks" / "nbgrader_config.py", root)
    shutil.copytree(REPO / "notebooks" / "source" / ASSIGNMENT, root / "source" / ASSIGNMENT)
    _nbgrader(root, "generate_assignment", ASSIGNMENT, "--force")
    return root


def _export(tmp_path: Path) -> str:
    book = Gradebook(tmp_path / "g.sqlite")
    for job, student, statuses in (
        ("j1", "ann", {"a": "pass", "b": "pass"}),
        ("j2", "bo", {"a": "pass", "b": "fail"}),
        ("j3", "cy", {"a": "pass"}),
    ):
        ns = f"servicelab-student-{student}"
        lab = "nodeport" if student != "cy" else "clusterip"
        book.queued(job, student, lab, ns, 1_800_000_000.0)
        book.finished(job, 1_800_000_060.0, report(lab, ns, statuses))
    return nbgrader_csv(book.latest_scored(), {"nodeport": ASSIGNMENT, "clusterip": "01-clusterip"}.__getitem__)


def test_the_export_lands_in_the_courses_gradebook(course: Path, tmp_path: Path) -> None:
    db_url = f"sqlite:///{course}/gradebook.db"
    missed = into_nbgrader(_export(tmp_path), db_url, "servicelab")
    assert missed == [
        "cy/01-clusterip: the assignment is not in the gradebook (run 'nbgrader generate_assignment 01-clusterip')"
    ]
    with nbgrader_api.Gradebook(db_url, "servicelab") as gb:
        cells = {c.name: c.max_score for c in gb.find_notebook("nodeport", ASSIGNMENT).grade_cells}
        assert "check" in cells
        for student, fraction in (("ann", 1.0), ("bo", 0.5)):
            check = gb.find_grade("check", "nodeport", ASSIGNMENT, student)
            assert check.auto_score == round(fraction * cells["check"], 2)
            assert check.needs_manual_grade is False
            knowledge = gb.find_grade("knowledge-1", "nodeport", ASSIGNMENT, student)
            assert knowledge.auto_score is None  # not the lab's: the service leaves it to nbgrader
        assert sorted(s.id for s in gb.students) == ["ann", "bo"]
    exported = _nbgrader(course, "export", "--to", str(tmp_path / "grades.csv"))
    assert exported is not None
    rows = {r["student_id"]: r for r in csv.DictReader(io.StringIO((tmp_path / "grades.csv").read_text()))}
    assert float(rows["ann"]["raw_score"]) == cells["check"]
    assert float(rows["bo"]["raw_score"]) == cells["check"] / 2


def test_the_command_reads_the_course_folder(course: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export = tmp_path / "nbgrader-grades.csv"
    export.write_text(_export(tmp_path))
    assert main([str(export), "--course-dir", str(course)]) == 1  # cy's assignment is not generated
    assert "not written: cy/01-clusterip" in capsys.readouterr().err
    assert main([str(export), "--course-dir", str(tmp_path)]) == 2  # no nbgrader_config.py there
    assert "no nbgrader_config.py" in capsys.readouterr().err
