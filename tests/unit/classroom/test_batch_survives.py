"""A class survives its worst hand-ins: grade-batch of ten, three of them crafted, without a cluster.

The three (a folder nested 1,100 levels deep, a file name that is not UTF-8, a notebook holding an integer of
5,000 digits) each provoked an exception the batch did not catch (RecursionError, UnicodeEncodeError,
ValueError) and ended it with a traceback and no grades.csv. Now each is its own error row with the rule it
broke, and the seven others are graded.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from _batch_fakes import FakeGrading, graded

from grader import cli
from grader.classroom import gradebatch as batchcmd
from grader.classroom import handins
from grader.classroom.handins import Submission, prepare
from grader.classroom.records import CSV_NAME

REPO = Path(__file__).resolve().parents[3]
NOTEBOOK = REPO / "notebooks" / "source" / "02-nodeport" / "nodeport.ipynb"  # the source holds the solution
SOLUTIONS = {lab: REPO / "labs" / lab / "solution" for lab in ("nodeport", "clusterip")}
DEEP = 1_100  # deeper than Python's recursion limit: a recursive walk of it raised RecursionError
GOOD = {  # student -> lab: seven hand-ins that deserve full marks, as manifests or as a notebook
    "ada": "nodeport",
    "bob": "clusterip",
    "cy": "nodeport:notebook",
    "dee": "clusterip",
    "eve": "nodeport:notebook",
    "fay": "clusterip",
    "gus": "nodeport",
}
CRAFTED = {  # student -> what the error row's reason must name
    "hal": "folders nested deeper than",
    "ivy": "not printable UTF-8",
    "jo": "numbers are 64-bit integers",
}


def copy_solution(folder: Path, lab: str) -> None:
    folder.mkdir(parents=True)
    for path in SOLUTIONS[lab].glob("*.yaml"):
        (folder / path.name).write_bytes(path.read_bytes())


def deep_folder(top: Path, levels: int) -> Path:
    """levels nested folders made one by one (os.makedirs recurses), a manifest at the bottom."""
    here = top
    for _ in range(levels):
        here = here / "d"
        here.mkdir()
    (here / "service.yaml").write_bytes((SOLUTIONS["nodeport"] / "service.yaml").read_bytes())
    return here


def remove_deep(top: Path, bottom: Path) -> None:
    """Bottom-up, one folder at a time: shutil.rmtree recurses and would fail on it at clean-up."""
    for path in bottom.iterdir():
        path.unlink()
    here = bottom
    while here != top:
        here.rmdir()
        here = here.parent


def huge_integer_notebook() -> str:
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    text = json.dumps(nb)
    return text.replace('"nbformat": 4,', '"nbformat": 4, "execution_count": ' + "9" * 5_000 + ",", 1)


@pytest.fixture
def klass(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "class"
    for student, what in GOOD.items():
        lab, _, form = what.partition(":")
        if form == "notebook":
            (root / student / lab).mkdir(parents=True)
            (root / student / lab / f"{lab}.ipynb").write_bytes(NOTEBOOK.read_bytes())
        else:
            copy_solution(root / student / lab, lab)
    (root / "hal" / "nodeport").mkdir(parents=True)
    bottom = deep_folder(root / "hal" / "nodeport", DEEP)
    copy_solution(root / "ivy" / "clusterip", "clusterip")
    not_utf8 = os.path.join(os.fsencode(root / "ivy" / "clusterip"), b"service-\xff.yaml")
    with open(not_utf8, "wb") as out:
        out.write((SOLUTIONS["clusterip"] / "service.yaml").read_bytes())
    (root / "jo" / "nodeport").mkdir(parents=True)
    (root / "jo" / "nodeport" / "nodeport.ipynb").write_text(huge_integer_notebook(), encoding="utf-8")
    yield root
    remove_deep(root / "hal" / "nodeport", bottom)


def read_rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return {row["student"]: row for row in csv.DictReader(fh)}


def test_a_class_of_ten_with_three_crafted_hand_ins_is_graded_to_the_end(
    klass: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    monkeypatch.setattr(batchcmd, "GraderSpec", lambda *a: FakeGrading(str(logs)))
    monkeypatch.setattr(batchcmd, "cluster_facts", lambda spec: None)  # no cluster here
    out = tmp_path / "grades"
    code = cli.main(["grade-batch", str(klass), "--out", str(out), "--jobs", "2"])
    printed = capsys.readouterr()
    assert code == 0, printed.out + printed.err
    assert "Traceback" not in printed.out + printed.err
    assert "10 submission(s): 7 graded, 0 no answer, 3 not graded: error in the submission" in printed.out
    assert graded(logs) == sorted(f"{s}/{what.partition(':')[0]}" for s, what in GOOD.items())
    rows = read_rows(out / CSV_NAME)
    assert sorted(rows) == sorted([*GOOD, *CRAFTED])
    for student in GOOD:
        assert (rows[student]["status"], rows[student]["score"], rows[student]["max_score"]) == ("graded", "6", "6")
    for student, rule in CRAFTED.items():
        row = rows[student]
        assert (row["status"], row["score"], row["max_score"]) == ("error", "", ""), row
        assert rule in row["reason"], row
        assert "rule:" in row["reason"], row  # the refusal's rule, not a bare exception
    assert "service-\\xff.yaml" in rows["ivy"]["reason"]  # the byte shown, never written raw
    for path in out.glob("*.json"):
        json.loads(path.read_text(encoding="utf-8"))  # every student's record is readable JSON


def test_a_hand_in_that_breaks_the_reader_is_its_own_error_row(klass: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> list[tuple[str, str]]:
        raise MemoryError("the reader ran out of memory")

    monkeypatch.setattr(handins, "_manifests", broken)
    prepared = prepare(Submission("ada", "nodeport", klass / "ada" / "nodeport", "ada/nodeport"))
    assert prepared.error == "cannot read the submission: MemoryError: the reader ran out of memory"
    assert prepared.digest


def test_an_interrupt_while_reading_still_stops_the_batch(
    klass: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(*args: object) -> list[tuple[str, str]]:
        raise KeyboardInterrupt

    monkeypatch.setattr(handins, "_manifests", interrupted)
    monkeypatch.setattr(batchcmd, "cluster_facts", lambda spec: None)
    out = tmp_path / "grades"
    assert cli.main(["grade-batch", str(klass), "--out", str(out)]) == 130
    assert "Traceback" not in capsys.readouterr().err
    assert not (out / CSV_NAME).exists()


def test_names_as_the_class_handed_them_in_are_shown_escaped_and_never_run_as_formulas(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "class"
    copy_solution(root / "=HYPERLINK(1)" / "nodeport", "nodeport")  # a name a spreadsheet would run
    hostile = os.path.join(os.fsencode(root), b"zed\xff\x1b[2J")  # not UTF-8, and clears the screen
    os.mkdir(hostile)
    copy_solution(Path(os.fsdecode(hostile)) / "nodeport", "nodeport")
    logs = tmp_path / "logs"
    logs.mkdir()
    monkeypatch.setattr(batchcmd, "GraderSpec", lambda *a: FakeGrading(str(logs)))
    monkeypatch.setattr(batchcmd, "cluster_facts", lambda spec: None)
    out = tmp_path / "grades"
    assert cli.main(["grade-batch", str(root), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "\x1b" not in printed
    assert "error     zed\\xff\\x1b[2J/nodeport: no score" in printed
    assert graded(logs) == ["=HYPERLINK(1)/nodeport"]
    rows = read_rows(out / CSV_NAME)
    assert rows["'=HYPERLINK(1)"]["status"] == "graded"
    zed = rows["zed\\xff\\x1b[2J"]
    assert (zed["status"], zed["source"]) == ("error", "zed\\xff\\x1b[2J/nodeport")
    assert "this folder's name is not printable UTF-8 text" in zed["reason"]


def test_links_out_of_a_hand_in_are_refused_not_followed(tmp_path: Path) -> None:
    secret = tmp_path / "instructor.ipynb"
    secret.write_bytes(NOTEBOOK.read_bytes())
    (tmp_path / "class" / "ada" / "nodeport").mkdir(parents=True)
    (tmp_path / "class" / "ada" / "nodeport" / "nodeport.ipynb").symlink_to(secret)
    (tmp_path / "class" / "bob").mkdir(parents=True)
    copy_solution(tmp_path / "elsewhere", "nodeport")
    (tmp_path / "class" / "bob" / "nodeport").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    prepared = {p.submission.student: p for p in map(prepare, handins.discover(tmp_path / "class"))}
    assert "ada/nodeport/nodeport.ipynb: this symlink points outside the folder" in prepared["ada"].error
    assert "bob/nodeport: this folder is a symlink" in prepared["bob"].error
