"""`servicelab course autograde` with nbgrader's real gradebook and converters, the grading faked (no cluster).

One course, seven submissions of 02-nodeport: the gradebook gets a score where there is one, no score (needs
manual grading, the reason as comment) where the grader could not judge, and a re-run grades only the
ENV-ERROR one. generate_feedback shows the report and the reason.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _batch_fakes import FakeGrading, graded

from grader import cli
from grader.classroom import course

nbgrader_api = pytest.importorskip("nbgrader.api")


REPO = Path(__file__).resolve().parents[3]
ASSIGNMENT = "02-nodeport"
STUDENTS = {  # student -> (what the answer cell holds, what the fake grader says)
    "ada": ("solution", "pass"),
    "bob": ("solution", "partial"),
    "cy": ("check = lambda lab: 1.0", "pass"),
    "dee": ("<corrupt>", "pass"),
    "eve": ("<stub>", "pass"),
    "fay": ("solution", "env"),
    "gil": ("<huge-int>", "pass"),  # the solution, and an integer of 5,000 digits that Python's JSON reader refuses
}
KNOWLEDGE = {"ada": "right", "bob": "wrong", "fay": "right"}  # the others hand in the released, unanswered cells


def nbgrader(course_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course_dir,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done


def submit(course_dir: Path, student: str, answer: str) -> None:
    released = json.loads((course_dir / "release" / ASSIGNMENT / "nodeport.ipynb").read_text())
    source = json.loads((course_dir / "source" / ASSIGNMENT / "nodeport.ipynb").read_text())
    folder = course_dir / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True)
    (folder / "timestamp.txt").write_text("2026-01-01 10:00:00.000000 UTC")
    if answer == "<corrupt>":
        (folder / "nodeport.ipynb").write_text('{"cells": [')
        return
    if answer != "<stub>":
        cell = answer_cell(released)
        solution = "".join(answer_cell(source)["source"])
        cell["source"] = solution if answer in ("solution", "<huge-int>") else answer
    for number in (1, 2, 3):  # the knowledge check: the reference's letters, another letter, or the released stub
        if student in KNOWLEDGE:
            cell_text = "".join(answer_cell(source, f"knowledge-{number}-answer")["source"])
            right = re.findall(rf'^answer_{number} = "(.)"', cell_text, re.MULTILINE)[0]
            letter = right if KNOWLEDGE[student] == "right" else ("a" if right != "a" else "b")
            answer_cell(released, f"knowledge-{number}-answer")["source"] = f'answer_{number} = "{letter}"\n'
    text = json.dumps(released)
    if answer == "<huge-int>":
        text = text.replace('"nbformat": 4', '"execution_count": ' + "9" * 5_000 + ', "nbformat": 4', 1)
    (folder / "nodeport.ipynb").write_text(text)


def answer_cell(nb: dict[str, Any], grade_id: str = "manifest") -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in nb["cells"] if c["metadata"]["nbgrader"]["grade_id"] == grade_id)
    return found


@pytest.fixture(scope="module")
def course_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("course")
    shutil.copy(REPO / "notebooks" / "nbgrader_config.py", root)
    shutil.copytree(REPO / "notebooks" / "source" / ASSIGNMENT, root / "source" / ASSIGNMENT)
    nbgrader(root, "generate_assignment", ASSIGNMENT, "--force")
    for student, (answer, _) in STUDENTS.items():
        submit(root, student, answer)
    return root


def knowledge_grades(course_dir: Path) -> dict[str, list[float | None]]:
    """student -> the auto scores of knowledge questions 1, 2, 3"""
    found = {}
    with nbgrader_api.Gradebook(f"sqlite:///{course_dir}/gradebook.db", "servicelab") as gb:
        for student in ("ada", "bob", "eve", "fay"):
            found[student] = [
                gb.find_grade(f"knowledge-{n}", "nodeport", ASSIGNMENT, student).auto_score for n in (1, 2, 3)
            ]
    return found


def grades(course_dir: Path) -> dict[str, tuple[float | None, bool, str | None]]:
    """student -> (auto_score, needs_manual_grade, answer comment)"""
    found = {}
    with nbgrader_api.Gradebook(f"sqlite:///{course_dir}/gradebook.db", "servicelab") as gb:
        for student in STUDENTS:
            try:
                grade = gb.find_grade("check", "nodeport", ASSIGNMENT, student)
                comment = gb.find_comment("manifest", "nodeport", ASSIGNMENT, student)
            except nbgrader_api.MissingEntry:
                continue
            found[student] = (grade.auto_score, grade.needs_manual_grade, comment.auto_comment)
    return found


def test_autograde_fills_the_gradebook_never_scores_what_it_could_not_judge_and_reruns_only_that(
    course_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    verdicts = tuple((s, v) for s, (_, v) in STUDENTS.items())
    monkeypatch.setattr(course, "GraderSpec", lambda *a: FakeGrading(str(tmp_path), verdicts))
    monkeypatch.setattr(course, "cluster_facts", lambda spec: None)  # no cluster here
    code = cli.main(["course", "autograde", ASSIGNMENT, "--course-dir", str(course_dir), "--jobs", "1"])
    out = capsys.readouterr().out
    assert code == 3, out
    assert "7 submission(s): 2 graded, 1 no answer, 3 not graded: error in the submission, 1 not" in out
    assert "1 submissions not graded: environment" in out
    assert "fay/nodeport: probe pods cannot start" in out
    assert graded(tmp_path) == ["ada/nodeport", "bob/nodeport", "fay/nodeport"]  # nothing else needs a cluster
    book = grades(course_dir)
    assert book["ada"][:2] == (6.0, False)
    assert book["bob"][:2] == (4.0, False)
    assert book["eve"][:2] == (0.0, False)
    for student, why in (("cy", "not YAML"), ("fay", "ImagePullBackOff")):
        score, manual, comment = book[student]
        assert (score, manual) == (None, True), student
        assert why in (comment or ""), comment
    if "dee" in book:  # nbgrader cannot read the notebook; whatever it recorded must not be a score
        assert book["dee"][0] is None
    if "gil" in book:  # nor can it read this one: whatever it recorded must not be a score
        assert book["gil"][0] is None
    # the knowledge check is graded from its answer cells as data, apart from the lab (fay's lab was not graded)
    assert knowledge_grades(course_dir) == {
        "ada": [1.0, 1.0, 1.0],
        "bob": [0.0, 0.0, 0.0],
        "eve": [0.0, 0.0, 0.0],
        "fay": [1.0, 1.0, 1.0],
    }
    rows = (course_dir / "servicelab" / ASSIGNMENT / "grades.csv").read_text()
    assert re.search(r"^dee,nodeport,error,,,.*invalid JSON", rows, re.MULTILINE), rows
    assert re.search(
        r"^gil,nodeport,error,,,.*nodeport.ipynb:1: the number 9{20}\.\.\. \(5,000 characters\)", rows, re.M
    )
    assert re.search(r"^fay,nodeport,env-error,,,", rows, re.MULTILINE), rows
    # The rerun reads what this run recorded: in this test, so no test depends on another's order or worker.
    rerun = tmp_path / "rerun"
    rerun.mkdir()
    _rerun_grades_only_the_env_error_and_feedback_shows_report_and_reason(course_dir, rerun, monkeypatch, capsys)


def _rerun_grades_only_the_env_error_and_feedback_shows_report_and_reason(
    course_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(course, "GraderSpec", lambda *a: FakeGrading(str(tmp_path)))
    monkeypatch.setattr(course, "cluster_facts", lambda spec: None)
    code = cli.main(["course", "autograde", ASSIGNMENT, "--course-dir", str(course_dir)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert graded(tmp_path) == ["fay/nodeport"]
    assert "up to date: ada" in out
    assert grades(course_dir)["fay"][:2] == (6.0, False)
    nbgrader(course_dir, "generate_feedback", ASSIGNMENT)
    ada = (course_dir / "feedback" / "ada" / ASSIGNMENT / "nodeport.html").read_text()
    assert "fake report for ada" in ada
    cy = (course_dir / "feedback" / "cy" / ASSIGNMENT / "nodeport.html").read_text()
    assert "not YAML" in cy
    assert "Question 1: right." in ada  # the feedback says why
    bob = (course_dir / "feedback" / "bob" / ASSIGNMENT / "nodeport.html").read_text()
    assert "The answer is " in bob


def test_no_course_no_assignment_or_no_submission_is_bad_input(
    course_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["course", "autograde", ASSIGNMENT, "--course-dir", str(tmp_path)]) == 2
    assert "no nbgrader_config.py" in capsys.readouterr().err
    shutil.copy(REPO / "notebooks" / "nbgrader_config.py", tmp_path)
    shutil.copytree(REPO / "notebooks" / "source" / ASSIGNMENT, tmp_path / "source" / ASSIGNMENT)
    assert cli.main(["course", "autograde", ASSIGNMENT, "--course-dir", str(tmp_path)]) == 2
    assert "nbgrader generate_assignment 02-nodeport" in capsys.readouterr().err
    assert cli.main(["course", "autograde", ASSIGNMENT, "--course-dir", str(course_dir), "--student", "zed"]) == 2
    assert "nbgrader collect 02-nodeport" in capsys.readouterr().err
