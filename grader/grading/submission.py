"""A submission read and judged before the cluster hears of it: lab, folder, files, static policy.

Only after `judge_submission` returns does anything contact the cluster. The folder is walked without
following links: a symlink that leaves it is refused, as are special files (a FIFO would hang a read),
and the folder's size and file count are capped.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from grader.base.errors import BadInput
from grader.catalogue.labs import Lab
from grader.intake.manifests import LEARNER, MANIFEST_SUFFIXES, STARTER, Doc, parse_docs, read_all
from grader.intake.policy import judge
from grader.intake.yamlread import MAX_FILE_BYTES, read_file

MAX_FOLDER_BYTES = 1024 * 1024
MAX_FILES = 40


def learner_files(directory: Path) -> list[tuple[Path, str]]:
    """The manifest files of a learner's folder, as (path to read, name shown in messages)."""
    if not directory.exists():
        raise BadInput(
            f"{directory} does not exist", rule="--manifests is a folder of .yaml files", fix="check the path"
        )
    if not directory.is_dir():
        raise BadInput(f"{directory} is not a folder", rule="--manifests is a folder of .yaml files")
    root = directory.resolve()
    found: list[tuple[Path, str]] = []
    total = 0
    for here, dirs, names in os.walk(directory, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and _inside(Path(here) / d, root))
        for name in sorted(names):
            path = Path(here) / name
            if name.startswith(".") or path.suffix not in MANIFEST_SUFFIXES or name == "case.yaml":
                continue  # a corpus case's case.yaml describes the case, it is not a manifest
            shown = str(path)
            if not _inside(path, root):
                raise BadInput(
                    "this symlink points outside the folder",
                    file=shown,
                    rule="a submission is the files in its folder",
                    fix="copy the file in instead",
                )
            info = path.stat()
            if not stat.S_ISREG(info.st_mode):
                raise BadInput("not a regular file", file=shown, rule="manifests are plain files")
            if info.st_size > MAX_FILE_BYTES:
                read_file(path, shown)  # refuses it unread, naming the limit
            total += info.st_size
            found.append((path, shown))
    if not found:
        raise BadInput(f"{directory} holds no .yaml/.yml/.json file", rule="--manifests is a folder of manifests")
    if len(found) > MAX_FILES or total > MAX_FOLDER_BYTES:
        raise BadInput(
            f"{directory} holds {len(found)} manifest files, {total:,} bytes",
            rule=f"a submission is at most {MAX_FILES} files and {MAX_FOLDER_BYTES:,} bytes",
            fix="hand in only the manifests the task asks for",
        )
    return found


def _inside(path: Path, root: Path) -> bool:
    """False for a symlink whose target leaves root (a dangling one too)."""
    if not path.is_symlink():
        return True
    try:
        path.resolve(strict=True).relative_to(root)
    except (OSError, ValueError):
        return False
    return True


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
