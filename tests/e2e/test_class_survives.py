"""A class survives its worst hand-ins on the real lab cluster: `servicelab grade-batch` of ten, three crafted.

Seven hand-ins deserve full marks (nodeport and clusterip, as manifests or as a notebook; the three nodeport
ones share nodePort 30007, so their claims run them one after another). Three are crafted to break a reader:
a folder nested 1,100 levels deep (a recursive walk raises RecursionError), a manifest whose file name is not
UTF-8 (the name cannot be encoded), a notebook holding an integer of 5,000 digits (Python's JSON reader
raises). Each of the three is its own error row naming the rule it broke, settled before the cluster hears
of it; the seven are graded; the batch exits 0 with every row in grades.csv and the JSON reports, and no
namespace of theirs is left. The unit twin (tests/unit/test_batch_survives.py) fakes the grading.
Run: pytest --e2e tests/e2e/test_class_survives.py
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _coursework import LABS, answer_cell, answered

from grader import cli
from grader.kube.client import MANAGED_BY_KEY, MANAGED_BY_VALUE, Kube

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = {"nodeport": "02-nodeport", "clusterip": "01-clusterip"}
DEEP = 1_100  # deeper than Python's recursion limit
GOOD: dict[str, tuple[str, str]] = {  # student -> (lab, handed in as)
    "amy": ("nodeport", "manifests"),
    "ben": ("nodeport", "manifests"),
    "cal": ("nodeport", "notebook"),
    "dan": ("clusterip", "manifests"),
    "eli": ("clusterip", "manifests"),
    "fio": ("clusterip", "notebook"),
    "gia": ("clusterip", "manifests"),
}
CRAFTED: dict[str, tuple[str, str]] = {  # student -> (lab, what the error row's reason must hold)
    "hal": ("nodeport", "folders nested deeper than 8 levels"),
    "ivo": ("clusterip", "service-\\xff.yaml: this name is not printable UTF-8 text"),
    "jun": ("nodeport", "(5,000 characters) is out of range"),
}
FULL_MARKS = 6  # nodeport and clusterip alike


def solution_into(folder: Path, lab: str) -> None:
    folder.mkdir(parents=True)
    for path in (LABS / lab / "solution").glob("*.yaml"):
        (folder / path.name).write_bytes(path.read_bytes())


def notebook_text(lab: str) -> str:
    """The lab's notebook as a student saves it: the answer cell holds the solution under the magic."""
    nb: dict[str, Any] = json.loads((REPO / "notebooks" / "source" / NOTEBOOKS[lab] / f"{lab}.ipynb").read_text())
    answer_cell(nb)["source"] = answered(lab, "solution")
    return json.dumps(nb, indent=1)


@pytest.fixture(scope="module")
def hand_ins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("survive") / "hand-ins"
    for student, (lab, form) in GOOD.items():
        if form == "notebook":
            (root / student / lab).mkdir(parents=True)
            (root / student / lab / f"{lab}.ipynb").write_text(notebook_text(lab), encoding="utf-8")
        else:
            solution_into(root / student / lab, lab)
    bottom = root / "hal" / "nodeport"
    bottom.mkdir(parents=True)
    for _ in range(DEEP):  # os.makedirs recurses: one folder at a time
        bottom = bottom / "d"
        bottom.mkdir()
    (bottom / "service.yaml").write_bytes((LABS / "nodeport" / "solution" / "service.yaml").read_bytes())
    solution_into(root / "ivo" / "clusterip", "clusterip")
    with open(os.path.join(os.fsencode(root / "ivo" / "clusterip"), b"service-\xff.yaml"), "wb") as out:
        out.write((LABS / "clusterip" / "solution" / "service.yaml").read_bytes())
    (root / "jun" / "nodeport").mkdir(parents=True)
    huge = notebook_text("nodeport").replace('"nbformat": 4', '"execution_count": ' + "9" * 5_000 + ', "nbformat": 4')
    (root / "jun" / "nodeport" / "nodeport.ipynb").write_text(huge, encoding="utf-8")
    yield root
    (bottom / "service.yaml").unlink()  # shutil.rmtree recurses too: the deep tree goes bottom-up
    while bottom != root / "hal" / "nodeport":
        bottom.rmdir()
        bottom = bottom.parent


@pytest.fixture(scope="module")
def batch_run(hand_ins: Path, request: pytest.FixtureRequest) -> tuple[int, str, Path]:
    out = hand_ins.parent / "grades"
    code, text = grade_batch(hand_ins, out, str(request.config.getoption("--kube-context")))
    return code, text, out


def grade_batch(hand_ins: Path, out: Path, context: str) -> tuple[int, str]:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = cli.main(["grade-batch", str(hand_ins), "--out", str(out), "--jobs", "3", "--context", context])
    sys.stdout.write(buffer.getvalue())  # shown by pytest when the test fails
    return code, buffer.getvalue()


def test_seven_graded_three_error_rows_with_their_rule_and_the_batch_ends_well(
    batch_run: tuple[int, str, Path], kube: Kube
) -> None:
    code, text, out = batch_run
    assert code == 0, "no ENV-ERROR on a healthy cluster, and no crash"
    assert "Traceback" not in text
    assert "\x1b" not in text
    summary = (
        "10 submission(s): 7 graded, 0 no answer, 3 not graded: error in the submission, 0 not graded: environment"
    )
    assert summary in text, text
    rows = read_csv(out / "grades.csv")
    records = read_json(out)
    expected = {(s, lab) for s, (lab, _) in GOOD.items()} | {(s, lab) for s, (lab, _) in CRAFTED.items()}
    assert set(rows) == expected, "one row per student and lab"
    assert set(records) == expected, "every submission in its student's JSON report"
    for student, (lab, _) in GOOD.items():
        row, record = rows[(student, lab)], records[(student, lab)]
        assert (row["status"], row["score"], row["max_score"]) == ("graded", str(FULL_MARKS), str(FULL_MARKS)), row
        assert (record["report"]["score"], record["report"]["verdict"]) == (FULL_MARKS, "PASS"), student
        assert record["report"]["matrix"], student
    for student, (lab, reason) in CRAFTED.items():
        row, record = rows[(student, lab)], records[(student, lab)]
        assert (row["status"], row["score"], row["max_score"]) == ("error", "", ""), row
        assert reason in row["reason"], row
        assert "rule: " in row["reason"], row
        assert (record["outcome"], record["score"], record["report"]) == ("error", None, None), student
        assert record["seconds"] == 0.0, "settled before the cluster heard of it"
    assert not leftovers(kube), "every submission's namespace is deleted"


def test_a_rerun_grades_nothing_again(batch_run: tuple[int, str, Path], hand_ins: Path, context: str) -> None:
    _, _, out = batch_run
    before = read_json(out)
    code, text = grade_batch(hand_ins, out, context)
    assert code == 0, text
    assert read_json(out) == before, "every record reused as it was (a grading again would change seconds)"


def leftovers(kube: Kube) -> list[str]:
    pattern = re.compile(r"^(nodeport|clusterip)-(" + "|".join([*GOOD, *CRAFTED]) + ")-")
    return [
        ns["metadata"]["name"]
        for ns in kube.list("namespaces", selector=f"{MANAGED_BY_KEY}={MANAGED_BY_VALUE}")
        if pattern.match(ns["metadata"]["name"]) and ns.get("status", {}).get("phase") != "Terminating"
    ]


def read_csv(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return {(row["student"], row["lab"]): row for row in csv.DictReader(fh)}


def read_json(out: Path) -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for path in sorted(out.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        assert (doc["schema"], doc["student"]) == ("servicelab.batch/v1", path.stem), path
        found |= {(doc["student"], item["lab"]): item for item in doc["submissions"]}
    return found
