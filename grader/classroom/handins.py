"""What a class handed in: find the submissions in a folder, read each one as data, fingerprint it.

Layouts (`servicelab grade-batch DIR`):

    DIR/<student>/<lab>/            one folder per student and lab (nbgrader's submitted/ tree works too:
                                    `02-nodeport` names the lab `nodeport`)
    DIR/<student>/   with --lab LAB  one folder per student, all for the same lab

A submission folder holds manifests (*.yaml, *.yml, *.json), or a notebook (*.ipynb) whose answer cell is read
(grader.intake.answers). Nothing in it is run. The fingerprint (`digest`) covers the lab (lab.yaml, checks.py,
starter) and what was handed in, so a re-run grades only what changed.

A class survives its worst hand-in: the folder is walked within the limits `grade --manifests` keeps
(grader.grading.submission), and whatever reading one submission raises, a refusal or anything else, becomes
that submission's error (`Prepared.error`, shown escaped), never the end of the batch. Names stay as they are
on disk (the records' keys); every report shows them escaped (grader.base.text).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from grader.base.errors import BadInput
from grader.base.text import is_printable, printable, utf8
from grader.catalogue.labs import Lab, load_lab
from grader.catalogue.locate import all_labs
from grader.grading.submission import FOLDER_RULE, NAME_RULE, manifest_paths, readable, walk
from grader.intake.answers import Answer, answer_in, answer_of, is_blank_yaml
from grader.intake.manifests import manifest_files
from grader.intake.yamlread import read_file

_NUMBERED = re.compile(r"^\d+-(?P<lab>.+)$")


@dataclass(frozen=True)
class Submission:
    student: str
    lab: str  # lab id, or the folder name when no lab has it
    path: Path  # the folder handed in
    shown: str  # path relative to the class folder, for messages

    @property
    def key(self) -> tuple[str, str]:
        return (self.student, self.lab)


@dataclass(frozen=True)
class Prepared:
    """A submission read as data: the files to apply, or why it cannot be graded."""

    submission: Submission
    digest: str
    files: tuple[tuple[str, str], ...] = ()  # (label, text)
    error: str = ""  # the submission's own error: no score, this reason
    lab: Lab | None = field(default=None, compare=False)

    @property
    def empty(self) -> bool:
        return not self.error and all(is_blank_yaml(text) for _, text in self.files)


def discover(root: Path, lab: str | None = None) -> list[Submission]:
    """Every submission under root, sorted by student and lab; BadInput if root is not a class folder."""
    if not root.is_dir():
        raise BadInput(
            f"{root} is not a folder",
            rule="grade-batch reads DIR/<student>/<lab>/ or, with --lab, DIR/<student>/",
            fix="pass the folder that holds one folder per student",
        )
    found = []
    for student_dir in _subdirs(root):
        if lab is not None:
            found.append(Submission(student_dir.name, lab_id(lab), student_dir, student_dir.name))
            continue
        for lab_dir in _subdirs(student_dir):
            found.append(
                Submission(student_dir.name, lab_id(lab_dir.name), lab_dir, f"{student_dir.name}/{lab_dir.name}")
            )
        if not _subdirs(student_dir):
            found.append(Submission(student_dir.name, "?", student_dir, student_dir.name))
    if not found:
        raise BadInput(
            f"{root} holds no student folder",
            rule="grade-batch reads DIR/<student>/<lab>/",
            fix="pass the folder that holds one folder per student",
        )
    return found


def lab_id(name: str) -> str:
    """A lab folder's name as a lab id: `nodeport`, or an nbgrader assignment such as `02-nodeport`."""
    known = _known_labs()
    if name in known:
        return name
    numbered = _NUMBERED.match(name)
    return numbered.group("lab") if numbered and numbered.group("lab") in known else name


def prepare(sub: Submission, notebook: dict[str, Any] | None = None) -> Prepared:
    """Read a submission as data (its notebook `<lab>.ipynb` when given already read). Never raises for what a
    student handed in: that is `error`, whatever reading it raised (a KeyboardInterrupt still stops the batch)."""
    lab = _lab(sub.lab)  # outside the guard: a broken lab folder is the instructor's BadInput (exit 2), not a row
    if lab is None:
        known = ", ".join(sorted(_known_labs()))
        why = (
            "no lab: the student folder holds no lab folder (or pass --lab LAB)"
            if sub.lab == "?"
            else f"unknown lab '{printable(sub.lab)}' (known: {known})"
        )
        return Prepared(sub, _digest("", [(sub.shown, why)]), error=why)
    try:
        files = _read(sub, notebook)
    except BadInput as err:
        return _refused(sub, lab, err.render())
    except Exception as err:  # what one hand-in provokes is its row, never the batch's end
        return _refused(sub, lab, printable(f"cannot read the submission: {type(err).__name__}: {err}"))
    return Prepared(sub, _digest(lab_digest(lab.path), files), tuple(files), lab=lab)


def _refused(sub: Submission, lab: Lab, why: str) -> Prepared:
    return Prepared(sub, _digest(lab_digest(lab.path), [(sub.shown, why)]), error=why, lab=lab)


def _read(sub: Submission, notebook: dict[str, Any] | None) -> list[tuple[str, str]]:
    if not is_printable(sub.shown):
        raise BadInput(
            "this folder's name is not printable UTF-8 text",
            file=sub.shown,
            rule=NAME_RULE,
            fix="rename the student's folder with letters, digits, '-', '_' and '.'",
        )
    if sub.path.is_symlink():  # its files would be read wherever it points
        raise BadInput("this folder is a symlink", file=sub.shown, rule=FOLDER_RULE, fix="copy the folder in instead")
    if notebook is not None:
        answer = answer_in(notebook, f"{sub.shown}/{sub.lab}.ipynb")
        return [(answer.label, answer.text)]
    return _notebook_answer(sub) or _manifests(sub)


def _notebook_answer(sub: Submission) -> list[tuple[str, str]]:
    root = sub.path.resolve()
    notebooks = [(p, shown) for p, shown in walk(sub.path, sub.shown, descend=False) if p.suffix == ".ipynb"]
    if not notebooks:
        return []
    named = [(p, shown) for p, shown in notebooks if p.stem == sub.lab]
    if len(notebooks) > 1 and not named:
        raise BadInput(
            f"{len(notebooks)} notebooks and none is {sub.lab}.ipynb",
            file=sub.shown,
            rule="a notebook submission holds the lab's one notebook",
        )
    path, shown = (named or notebooks)[0]
    readable(path, shown, root)  # a printable name, a regular file, no link out of the folder
    answer: Answer = answer_of(path, shown)
    return [(answer.label, answer.text)]


def _manifests(sub: Submission) -> list[tuple[str, str]]:
    found = sorted(manifest_paths(sub.path, sub.shown))  # in path order, as digests of earlier runs were made
    return [(shown, read_file(path, shown)) for path, shown in found]


def _digest(lab_part: str, files: list[tuple[str, str]]) -> str:
    h = hashlib.sha256(lab_part.encode())
    for label, text in files:  # a name as it is on disk, not UTF-8 maybe: utf8() encodes it all the same
        h.update(b"\0" + utf8(label) + b"\0" + utf8(text))
    return h.hexdigest()[:16]


@cache
def lab_digest(path: Path) -> str:
    """The lab as far as grading goes: lab.yaml, checks.py and the starter manifests."""
    h = hashlib.sha256()
    for file in sorted([path / "lab.yaml", path / "checks.py", *manifest_files(path / "starter")]):
        if file.is_file():
            h.update(str(file.relative_to(path)).encode() + b"\0" + file.read_bytes())
    return h.hexdigest()


@cache
def _known_labs() -> frozenset[str]:
    return frozenset(p.name for p in all_labs())


@cache
def _lab(name: str) -> Lab | None:
    """The lab a submission names; a broken lab folder is the instructor's BadInput (exit 2), not a row."""
    return load_lab(name) if name in _known_labs() else None


def _subdirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
