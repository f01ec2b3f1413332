"""A class graded on the real lab cluster: nbgrader course, `servicelab course autograde`, gradebook and CSV.

Eleven submissions of two labs, built from the released notebooks: full marks (two nodeport students on the
same nodePort 30007), partial, unchanged release, corrupt JSON, an answer cell that loops forever, Python
that redefines check(), a hostile manifest, and Python instead of YAML. Nothing submitted is executed; every
submission's namespace is gone afterwards.

The same class goes through `servicelab grade-batch` too: the collected submitted/ tree (notebooks) plus four
hand-ins of manifests (a third full-marks nodeport student on 30007, a full-marks ClusterIP, a hostile
ClusterRoleBinding, a YAML alias bomb); every score or reason is asserted in grades.csv and the JSON reports.
Run: pytest --e2e tests/e2e/test_class_grading.py
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from _coursework import LABS, answer_cell, answered

from grader import cli
from grader.kube.client import MANAGED_BY_KEY, MANAGED_BY_VALUE, Kube

nbgrader_api = pytest.importorskip("nbgrader.api")

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
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


def nbgrader(course: Path, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args], cwd=course, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]


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
        cell["source"] = answered(lab, case)
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
    assert cli.main(["course", "autograde", "02-nodeport", "--course-dir", str(course)]) == 0
    out = capsys.readouterr().out
    for student in ("ada", "bob", "cy"):
        assert f"up to date: {student}" in out, out


def read_csv(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return {row["student"]: row for row in csv.DictReader(fh)}


# grade-batch: the same class as folders. The nbgrader submitted/ tree as collected (DIR/<student>/02-nodeport/
# nodeport.ipynb), plus hand-ins of manifests (DIR/<student>/<lab>/*.yaml): a third nodeport student on 30007,
# a full-marks ClusterIP, a hostile manifest and a YAML alias bomb taken from the refusal corpus.
# (student, lab) -> (folder to copy, expected: score out of 6, or a reason fragment for "no score")
MANIFESTS: dict[tuple[str, str], tuple[Path, int | str]] = {
    ("kim", "nodeport"): (LABS / "nodeport" / "solution", 6),
    ("lou", "clusterip"): (LABS / "clusterip" / "solution", 6),
    ("max", "clusterip"): (REPO / "tests/hostile/clusterrolebinding/submission", "ClusterRoleBinding is not part"),
    ("ned", "clusterip"): (REPO / "tests/badinput/alias-bomb/submission", "anchors (&name) and aliases"),
}


def batch_expected() -> dict[tuple[str, str], int | str]:
    expected = {(student, lab_of(a)): want for (a, student), (_, want) in CLASS.items()}
    return expected | {key: want for key, (_, want) in MANIFESTS.items()}


@pytest.fixture(scope="module")
def hand_ins(course: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("batch") / "hand-ins"
    shutil.copytree(course / "submitted", root)
    for (student, lab), (folder, _) in MANIFESTS.items():
        shutil.copytree(folder, root / student / lab)
    return root


@pytest.fixture(scope="module")
def batch_run(hand_ins: Path, request: pytest.FixtureRequest) -> tuple[int, str, Path]:
    out = hand_ins.parent / "grades"
    code, text, seconds = grade_batch(hand_ins, out, str(request.config.getoption("--kube-context")))
    print(f"grade-batch of {len(batch_expected())} submissions: {seconds:.0f}s")
    return code, text, out


def grade_batch(hand_ins: Path, out: Path, context: str) -> tuple[int, str, float]:
    buffer = io.StringIO()
    start = time.monotonic()
    with contextlib.redirect_stdout(buffer):
        code = cli.main(["grade-batch", str(hand_ins), "--out", str(out), "--jobs", "3", "--context", context])
    sys.stdout.write(buffer.getvalue())  # shown by pytest when the test fails
    return code, buffer.getvalue(), time.monotonic() - start


def test_grade_batch_scores_every_submission_as_it_deserves_in_csv_and_json(
    batch_run: tuple[int, str, Path], kube: Kube
) -> None:
    code, text, out = batch_run
    expected = batch_expected()
    assert code == 0, "no ENV-ERROR on a healthy cluster"
    rows = read_batch_csv(out / "grades.csv")
    assert sorted(rows) == sorted(expected), "one row per student and lab"
    records = read_batch_json(out)
    assert sorted(records) == sorted(expected), "every submission in its student's JSON report"
    for key, want in expected.items():
        row, record, who = rows[key], records[key], "/".join(key)
        if isinstance(want, int):
            status = "no-answer" if key == ("dee", "nodeport") else "graded"
            assert (row["status"], row["score"], row["max_score"]) == (status, str(want), "6"), (who, row)
            assert (record["outcome"], record["score"], record["max_score"]) == (status, want, 6), who
            if status == "graded":  # the full servicelab.result/v1 report, the matrix included
                assert (record["report"]["score"], record["report"]["verdict"]) == (
                    want,
                    "PASS" if want == 6 else "FAIL",
                )
                assert record["report"]["matrix"], who
            continue
        assert (row["status"], row["score"], row["max_score"]) == ("error", "", ""), (who, row)
        assert want in row["reason"], (who, row)
        assert (record["outcome"], record["score"], record["max_score"]) == ("error", None, None), who
        assert want in record["reason"], (who, record["reason"])
    graded = sum(isinstance(w, int) for w in expected.values()) - 1  # dee's unchanged stub is "no answer"
    errors = sum(isinstance(w, str) for w in expected.values())
    summary = (
        f"{len(expected)} submission(s): {graded} graded, 1 no answer, {errors} not graded: error in the "
        "submission, 0 not graded: environment"
    )
    assert summary in text, text
    nodeport_full = [k for k, w in expected.items() if k[1] == "nodeport" and w == 6]
    assert len(nodeport_full) == 3, "three students on nodePort 30007, all full marks"
    assert not batch_leftovers(kube), "every submission's namespace is deleted"


def test_grade_batch_rerun_grades_nothing_again(batch_run: tuple[int, str, Path], hand_ins: Path, context: str) -> None:
    _, _, out = batch_run
    before = read_batch_json(out)
    code, text, _ = grade_batch(hand_ins, out, context)
    assert code == 0, text
    assert read_batch_json(out) == before, "every record reused as it was (a grading again would change seconds)"


def batch_leftovers(kube: Kube) -> list[str]:
    pattern = re.compile(r"^(nodeport|clusterip)-(ada|bob|cy|gus|kim|lou)-")
    return [
        ns["metadata"]["name"]
        for ns in kube.list("namespaces", selector=f"{MANAGED_BY_KEY}={MANAGED_BY_VALUE}")
        if pattern.match(ns["metadata"]["name"]) and ns.get("status", {}).get("phase") != "Terminating"
    ]


def read_batch_csv(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return {(row["student"], row["lab"]): row for row in csv.DictReader(fh)}


def read_batch_json(out: Path) -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for path in sorted(out.glob("*.json")):
        doc = json.loads(path.read_text())
        assert (doc["schema"], doc["student"]) == ("servicelab.batch/v1", path.stem), path
        found |= {(doc["student"], item["lab"]): item for item in doc["submissions"]}
    return found
