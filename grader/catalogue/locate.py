"""The lab catalogue: find a lab by id or folder, and list every lab in their course order.

A submission's folder is never searched for labs."""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

from grader.base.errors import BadInput
from grader.base.shipped import shipped

ID_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")


def labs_root() -> Path | None:
    """The lab catalogue: $SERVICELAB_LABS when set, else the one installed with the grader.

    Never the working directory: a submission folder holding its own labs/ must not replace the checks.
    """
    env = os.environ.get("SERVICELAB_LABS")
    folder = Path(env) if env else shipped("labs")
    return folder.resolve() if folder.is_dir() else None


def find_lab(name: str) -> Path:
    """A lab by id, from the catalogue; or by folder, when name is a path (holds a '/')."""
    root = labs_root()
    if ID_RE.match(name):
        if root is not None and (root / name / "lab.yaml").is_file():
            return root / name
    elif (Path(name) / "lab.yaml").is_file():
        return Path(name).resolve()
    known = sorted(p.name for p in root.iterdir() if (p / "lab.yaml").is_file()) if root else []
    raise BadInput(
        f"no lab '{name}' in the catalogue {root}",
        rule="LAB is a lab id from the catalogue, or a path to a folder holding lab.yaml",
        fix=f"known labs: {', '.join(known) or 'none found'} (SERVICELAB_LABS or --labs picks a catalogue)",
    )


def all_labs(root: Path | None = None) -> list[Path]:
    """Every lab folder (one holding lab.yaml) of the catalogue, or of root, in course order."""
    root = root or labs_root()
    if root is None:
        return []
    return sorted((p for p in root.iterdir() if (p / "lab.yaml").is_file()), key=lambda p: (order_of(p), p.name))


def order_of(path: Path) -> int:
    """The lab's order from its lab.yaml; 1000 when it has none or cannot be read (load_lab says why)."""
    try:
        data = yaml.safe_load((path / "lab.yaml").read_text(encoding="utf-8"))
        return int(data.get("order", 1000)) if isinstance(data, dict) else 1000
    except (OSError, ValueError, TypeError, yaml.YAMLError):
        return 1000
