"""The refusal corpora (tests/hostile, tests/badinput) as a grading sees them, for the unit and the e2e tests."""

from __future__ import annotations

import codecs
import os
import shutil
from pathlib import Path
from typing import Any


def made_case(case: Path, spec: dict[str, Any], tmp_path: Path) -> Path:
    """A copy of the case's submission folder with the renames and symlinks its case.yaml declares (names no
    checkout can hold on every system: not UTF-8, control characters; links that lead nowhere)."""
    copy = tmp_path / case.name
    shutil.copytree(case, copy, symlinks=True)
    folder = copy / "submission"
    for name, new in (spec.get("rename") or {}).items():
        os.rename(folder / name, os.path.join(os.fsencode(folder), codecs.escape_decode(new)[0]))
    for name, target in (spec.get("symlink") or {}).items():
        (folder / name).symlink_to(target)
    return folder
