"""A submission read and judged before the cluster hears of it: lab, folder, files, static policy.

Only after `judge_submission` returns does anything contact the cluster. The folder is walked one folder at a
time (no recursion, no link followed) and bounded: at most MAX_ENTRIES files and folders are looked at and
folders nest at most MAX_FOLDER_DEPTH deep, so a crafted tree is refused, never walked to its end. A symlink
that leaves the folder or leads nowhere (missing target, a loop) is refused, as are special files (a FIFO
would hang a read), names that are not printable UTF-8 (they cannot be shown or written safely), and
folders over the file count and size caps. Hidden files and folders (`.git`, macOS `._*`) are not read.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

from grader.base.errors import BadInput
from grader.base.text import is_printable
from grader.catalogue.labs import Lab
from grader.intake.manifests import LEARNER, MANIFEST_SUFFIXES, STARTER, Doc, parse_docs, read_all
from grader.intake.policy import judge
from grader.intake.yamlread import MAX_FILE_BYTES, read_file

MAX_FOLDER_BYTES = 1024 * 1024
MAX_FILES = 40
MAX_ENTRIES = 1000  # files and folders looked at, manifests or not
MAX_FOLDER_DEPTH = 8  # folders inside the submission's folder
FOLDER_RULE = "a submission is the files in its folder"
NAME_RULE = "file and folder names in a submission are printable UTF-8 text"


def learner_files(directory: Path) -> list[tuple[Path, str]]:
    """The manifest files of a learner's folder, as (path to read, name shown in messages)."""
    if not directory.exists():
        raise BadInput(
            f"{directory} does not exist", rule="--manifests is a folder of .yaml files", fix="check the path"
        )
    if not directory.is_dir():
        raise BadInput(f"{directory} is not a folder", rule="--manifests is a folder of .yaml files")
    found = manifest_paths(directory)
    if not found:
        raise BadInput(f"{directory} holds no .yaml/.yml/.json file", rule="--manifests is a folder of manifests")
    return found


def manifest_paths(directory: Path, shown: str | None = None) -> list[tuple[Path, str]]:
    """The manifest files under directory (none is fine here), each shown as `shown/relative path` (default: its
    path); BadInput for the first that breaks a rule of the folder."""
    root = directory.resolve()
    found: list[tuple[Path, str]] = []
    total = 0
    for path, label in walk(directory, shown):
        if path.suffix not in MANIFEST_SUFFIXES or path.name == "case.yaml":
            continue  # a corpus case's case.yaml describes the case, it is not a manifest
        size = readable(path, label, root)
        if size > MAX_FILE_BYTES:
            read_file(path, label)  # refuses it unread, naming the limit
        total += size
        found.append((path, label))
    if len(found) > MAX_FILES or total > MAX_FOLDER_BYTES:
        raise BadInput(
            f"{shown or directory} holds {len(found)} manifest files, {total:,} bytes",
            rule=f"a submission is at most {MAX_FILES} files and {MAX_FOLDER_BYTES:,} bytes",
            fix="hand in only the manifests the task asks for",
        )
    return found


def walk(directory: Path, shown: str | None = None, descend: bool = True) -> Iterator[tuple[Path, str]]:
    """Every file under directory that is not hidden, in name order, folder by folder (os.walk's order), with
    the name it is shown by. Folders are bounded (MAX_ENTRIES, MAX_FOLDER_DEPTH) and their names must be
    printable; a symlinked folder is not walked."""
    looked_at = 0
    stack: list[tuple[Path, str | None, int]] = [(directory, shown, 0)]
    while stack:
        folder, label, depth = stack.pop()
        try:
            with os.scandir(folder) as listing:
                entries = []
                for entry in listing:
                    looked_at += 1
                    if looked_at > MAX_ENTRIES:
                        raise BadInput(
                            f"{shown or directory} holds more than {MAX_ENTRIES:,} files and folders",
                            rule=f"{FOLDER_RULE}: at most {MAX_ENTRIES:,} files and folders",
                            fix="hand in only the manifests the task asks for",
                        )
                    entries.append(entry)
        except OSError as err:
            raise BadInput(f"cannot read the folder: {err.strerror or err}", file=label or str(folder)) from err
        subfolders: list[tuple[Path, str | None, int]] = []
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name.startswith("."):
                continue
            path = folder / entry.name
            child = str(path) if label is None else f"{label}/{entry.name}"
            try:
                is_folder = entry.is_dir()  # follows a symlink
            except OSError:  # a symlink loop: no folder; readable() refuses it if it is named as a manifest
                is_folder = False
            if not is_folder:
                yield path, child
            elif descend and not entry.is_symlink():
                _must_be_printable(entry.name, child)
                if depth + 1 > MAX_FOLDER_DEPTH:
                    raise BadInput(
                        f"folders nested deeper than {MAX_FOLDER_DEPTH} levels",
                        file=child,
                        rule=f"{FOLDER_RULE}: folders nest at most {MAX_FOLDER_DEPTH} levels",
                        fix="hand in a flat folder of manifests",
                    )
                subfolders.append((path, None if label is None else child, depth + 1))
        stack.extend(reversed(subfolders))  # the first subfolder is walked next


def readable(path: Path, shown: str, root: Path) -> int:
    """The size of a file a submission may have read: a printable name, a regular file, a symlink only to a
    file inside root (the submission's folder, resolved)."""
    _must_be_printable(path.name, shown)
    if path.is_symlink():
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError) as err:  # RuntimeError: pathlib of Python 3.11 on a loop
            raise BadInput(
                "this symlink leads nowhere (its target is missing, or it is a loop)",
                file=shown,
                rule=FOLDER_RULE,
                fix="copy the file in instead",
            ) from err
        if not target.is_relative_to(root):
            raise BadInput(
                "this symlink points outside the folder", file=shown, rule=FOLDER_RULE, fix="copy the file in instead"
            )
    try:
        info = path.stat()
    except OSError as err:
        raise BadInput(f"cannot read the file: {err.strerror or err}", file=shown, rule=FOLDER_RULE) from err
    if not stat.S_ISREG(info.st_mode):
        raise BadInput("not a regular file", file=shown, rule="manifests are plain files")
    return info.st_size


def _must_be_printable(name: str, shown: str) -> None:
    if not is_printable(name):
        raise BadInput(
            "this name is not printable UTF-8 text",
            file=shown,
            rule=NAME_RULE,
            fix="rename it with letters, digits, '-', '_' and '.'",
        )


def starter_docs(lab: Lab) -> list[Doc]:
    return read_all([(f, str(f.relative_to(lab.path))) for f in lab.starter_files], origin=STARTER)


def judge_submission(
    lab: Lab, files: list[tuple[Path, str]] | None = None, text: str | None = None, text_label: str = "your manifest"
) -> list[Doc]:
    """Starter + learner documents, placeholders unfilled, after every static rule passed."""
    learner: list[Doc] = []
    for path, shown in files or []:
        found = read_all([(path, shown)], origin=LEARNER)
        if not found:
            raise BadInput(
                "the file holds no Kubernetes object",
                file=shown,
                line=1,
                rule="each manifest file holds at least one object (an empty answer is a mistake)",
                fix="write the objects the task asks for, or remove the file",
            )
        learner += found
    if text is not None:
        learner += parse_docs(text, text_label, origin=LEARNER)
    starter = starter_docs(lab)
    judge(learner, starter, lab.policy, set(lab.variables) | {"NAMESPACE"})
    return starter + learner
