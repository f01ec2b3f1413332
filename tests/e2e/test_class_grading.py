"""A class graded on the real lab cluster: nbgrader course, `servicelab course autograde`, gradebook and CSV.

Eleven submissions of two labs, built from the released notebooks: full marks (two nodeport students on the
same nodePort 30007), partial, unchanged release, corrupt JSON, an answer cell that loops forever, Python
that redefines check(), a hostile manifest, and Python instead of YAML. Nothing submitted is executed; every
submission's namespace is gone afterwards. Run: pytest --e2e tests/e2e/test_class_grading.py
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from grader import cli
from grader._kube import MANAGED_BY_KEY, MANAGED_BY_VALUE, Kube

nbgrader_api = pytest.importorskip("nbgrader.api")

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
LABS = REPO / "labs"
HOSTILE = (
    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: sneaky\nspec:\n  hostNetwork: true\n"
    "  containers:\n  - name: c\n    image: busybox\n"
)
REDEFINE_CHECK = "def check(lab, **kw):\n    return 1.0\n\ncheck = lambda lab, **kw: 1.0"

# (assignment, student) -> (answer, expected: score out of 6, or a reason fragment for "no score")
CLASS: dict[tuple[str, str], tuple[str, int | str]] = {
    ("02-nodeport", "ada"): ("case:solution", 6),
    ("02-nodeport", "bob"): ("case:alternatives/explicit-fields", 6),  # the same nodePort 30007 as ada
    ("02-nodeport", "cy"): ("case:wrong/nodeport-wrong", 3),  # fails the 3-point node port check
    ("02-nodeport", "dee"): ("<stub>", 0),
    ("02-nodeport", "eve"): ("<corrupt>", "not a notebook: invalid JSON"),
    ("02-nodeport", "fay"): ("while True: pass", "not YAML"),
    # fails the 1-point type check; its own check() that returns 1.0 is never run
    ("02-nodeport", "gus"): ("case:wrong/type-loadbalancer+redefine", 5),
    ("02-nodeport", "hal"): ("yaml:" + HOSTILE, "Pod"),
    ("02-nodeport", "ivy"): ("check = lambda lab: 1.0", "not YAML"),
    ("01-clusterip", "ada"): ("case:solution", 6),
    ("01-clusterip", "bob"): ("case:wrong/type-nodeport", 4),  # fails the 2-point not-from-outside check
}


def lab_of(assignment: str) -> str:
    return assignment.split("-", 1)[1]


def case_yaml(lab: str, case: str) -> str:
    files = sorted((LABS / lab / case).glob("*.yaml"))
    return "\n---\n".join(f.read_text() for f in files if f.name != "case.yaml")


def nbgrader(course: Path, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args], cwd=course, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]


def answer_cell(nb: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in nb["cells"] if c["metadata"]["nbgrader"]["grade_id"] == "manifest")
    return found


def submit(course: Path, assignment: str, student: str, answer: str) -> None:
    lab = lab_of(assignment)
    folder = course / "submitted" / student / assignment
    folder.mkdir(parents=True)
    (folder / "timestamp.txt").write_text("2026-01-01 10:00:00.000000 UTC")
    target = folder / f"{lab}.ipynb"
    if answer == "<corrupt>":
        target.write_text('{"cells": [{"cell_type": "code", "source": "')
        return
    nb = json.loads((course / "release" / assignment / f"{lab}.ipynb").read_text())
    cell = answer_cell(nb)
    if answer.startswith("case:"):
        case, _, extra = answer[5:].partition("+")
        cell["source"] = f"%%servicelab_answer {lab}\n" + case_yaml(lab, case)
        if extra == "redefine":  # a cell of its own that would fake full marks if anything ran it
            nb["cells"].append(
                {"cell_type": "code", "metadata": {}, "source": REDEFINE_CHECK, "outputs": [], "execution_count": None}
            )
    elif answer.startswith("yaml:"):
        cell["source"] = f"%%servicelab_answer {lab}\n" + answer[5:]
    elif answer != "<stub>":
        cell["source"] = answer
    target.write_text(json.dumps(nb))


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("course")
    shutil.copy(REPO / "notebooks" / "nbgrader_config.py", root)
    for assignment in sorted({a for a, _ in CLASS}):
        shutil.copytree(REPO / "notebooks" / "source" / assignment, root / "source" / assignment)
        nbgrader(root, "generate_assignment", assignment, "--force")
    for (assignment, student), (answer, _) in CLASS.items():
        submit(root, assignment, student, answer)
    return root


@pytest.fixture(scope="module")
def autograded(course: Path, request: pytest.FixtureRequest) -> dict[str, int]:
    context = str(request.config.getoption("--kube-context"))
    codes = {}
    for assignment in sorted({a for a, _ in CLASS}):
        start = time.monotonic()
        codes[assignment] = cli.main(
            ["course", "autograde", assignment, "--course-dir", str(course), "--jobs", "3", "--context", context]
        )
        print(f"{assignment}: {time.monotonic() - start:.0f}s")
    return codes


def test_every_submission_scored_or_not_as_it_deserves_in_gradebook_and_csv(
    course: Path, autograded: dict[str, int], kube: Kube
) -> None:
    assert autograded == {"01-clusterip": 0, "02-nodeport": 0}, "no ENV-ERROR on a healthy cluster"
    with nbgrader_api.Gradebook(f"sqlite:///{course}/gradebook.db", "servicelab") as gb:
        for (assignment, student), (_, expected) in CLASS.items():
            lab = lab_of(assignment)
            who = f"{assignment}/{student}"
            rows = read_csv(course / "servicelab" / assignment / "grades.csv")
            row = rows[student]
            if isinstance(expected, int):
                grade = gb.find_grade("check", lab, assignment, student)
                assert (grade.auto_score, grade.needs_manual_grade) == (float(expected), False), (who, row)
                assert row["score"] == str(expected), (who, row)
                continue
            assert (row["score"], row["status"]) == ("", "error"), (who, row)
            assert expected in row["reason"], (who, row)
            try:
                grade = gb.find_grade("check", lab, assignment, student)
            except nbgrader_api.MissingEntry:
                assert student == "eve", who  # only the unreadable notebook may be missing from nbgrader's book
                continue
            comment = gb.find_comment("manifest", lab, assignment, student).auto_comment or ""
            assert (grade.auto_score, grade.needs_manual_grade) == (None, True), who
            assert expected in comment, (who, comment)
    ours = kube.list("namespaces", selector=f"{MANAGED_BY_KEY}={MANAGED_BY_VALUE}")
    leftovers = [
        ns["metadata"]["name"]
        for ns in ours
        if re.match(r"^(nodeport|clusterip)-(ada|bob|cy|gus)-", ns["metadata"]["name"])
        and ns.get("status", {}).get("phase") != "Terminating"
    ]
    assert not leftovers, "every submission's namespace is deleted"


def test_feedback_shows_hints_and_the_reachability_matrix(course: Path, autograded: dict[str, int]) -> None:
    nbgrader(course, "generate_feedback", "02-nodeport")
    cy = (course / "feedback" / "cy" / "02-nodeport" / "nodeport.html").read_text()
    assert "30007" in cy
    assert "servicelab" in cy
    assert "outside" in cy  # a vantage point of the matrix


def test_rerun_grades_nothing_again(
    course: Path, autograded: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    start = time.monotonic()
    assert cli.main(["course", "autograde", "02-nodeport", "--course-dir", str(course)]) == 0
    assert "up to date: ada" in capsys.readouterr().out
    assert time.monotonic() - start < 60


def read_csv(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return {row["student"]: row for row in csv.DictReader(fh)}
