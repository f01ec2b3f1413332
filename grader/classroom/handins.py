"""What a class handed in: find the submissions in a folder, read each one as data, fingerprint it.

Layouts (`servicelab grade-batch DIR`):

    DIR/<student>/<lab>/            one folder per student and lab (nbgrader's submitted/ tree works too:
                                    `02-nodeport` names the lab `nodeport`)
    DIR/<student>/   with --lab LAB  one folder per student, all for the same lab

A submission folder holds manifests (*.yaml, *.yml, *.json), or a notebook (*.ipynb) whose answer cell is read
(grader.intake.answers). Nothing in it is run. The fingerprint (`digest`) covers the lab (lab.yaml, checks.py,
starter) and what was handed in, so a re-run grades only what changed.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from grader.base.errors import BadInput
from grader.catalogue.labs import Lab, load_lab
from grader.catalogue.locate import all_labs
from grader.intake.answers import Answer, answer_in, answer_of, is_blank_yaml
from grader.intake.manifests import manifest_files

MAX_MANIFEST_BYTES = 256 * 1024
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
    student handed in: that is `error`."""
    lab = _lab(sub.lab)
    if lab is None:
        known = ", ".join(sorted(_known_labs()))
        why = (
            "no lab: the student folder holds no lab folder (or pass --lab LAB)"
            if sub.lab == "?"
            else f"unknown lab {sub.lab!r} (known: {known})"
        )
        return Prepared(sub, _digest("", [(sub.shown, why)]), error=why)
    try:
        if notebook is not None:
            answer = answer_in(notebook, f"{sub.shown}/{sub.lab}.ipynb")
            files = [(answer.label, answer.text)]
        else:
            files = _notebook_answer(sub) or _manifests(sub)
    except BadInput as err:
        return Prepared(sub, _digest(lab_digest(lab.path), [(sub.shown, err.render())]), error=err.render(), lab=lab)
    return Prepared(sub, _digest(lab_digest(lab.path), files), tuple(files), lab=lab)


def _notebook_answer(sub: Submission) -> list[tuple[str, str]]:
    notebooks = sorted(p for p in sub.path.glob("*.ipynb") if p.is_file())
    if not notebooks:
        return []
    named = [p for p in notebooks if p.stem == sub.lab]
    if len(notebooks) > 1 and not named:
        raise BadInput(
            f"{len(notebooks)} notebooks and none is {sub.lab}.ipynb",
            file=sub.shown,
            rule="a notebook submission holds the lab's one notebook",
        )
    path = (named or notebooks)[0]
    answer: Answer = answer_of(path, f"{sub.shown}/{path.name}")
    return [(answer.label, answer.text)]


def _manifests(sub: Submission) -> list[tuple[str, str]]:
    files = []
    for path in manifest_files(sub.path):
        shown = f"{sub.shown}/{path.relative_to(sub.path)}"
        try:
            if path.stat().st_size > MAX_MANIFEST_BYTES:
                raise BadInput(
                    f"larger than {MAX_MANIFEST_BYTES // 1024} KiB",
                    file=shown,
                    rule="a manifest file is a few Kubernetes objects",
                )
            files.append((shown, path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as err:
            raise BadInput(f"cannot read manifest: {err}", file=shown, rule="manifests are UTF-8 text") from err
    return files


def _digest(lab_part: str, files: list[tuple[str, str]]) -> str:
    h = hashlib.sha256(lab_part.encode())
    for label, text in files:
        h.update(b"\0" + label.encode() + b"\0" + text.encode())
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
