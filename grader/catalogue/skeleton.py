"""`servicelab new-lab ID`: a new lab folder that works as written, to be made into a lab of one's own.

The templates are grader/data/newlab/, the folder as it is written with `.tmpl` after each file's name (so no tool
takes the template checks.py for a module): a ClusterIP Service in front of a two-pod starter, two checks, one
alternative and one wrong case, and the notebook's parts (the diagram with its pictures, which
tools/diagrams/render.py drew). `{{id}}`, `{{order}}` and the lab images are filled in. The folder is assembled
beside the catalogue's labs, loaded as a lab, and only then renamed into place: it is there complete, or not at all.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from grader.base import images
from grader.base.errors import BadInput
from grader.catalogue.labs import load_lab
from grader.catalogue.locate import ID_RE, all_labs, order_of

SUFFIX = ".tmpl"
BINARY = {".png"}  # written as they are (the diagram's picture): nothing to fill in
_TOKEN = re.compile(r"\{\{(\w+)\}\}")


def templates() -> Traversable:
    return resources.files("grader") / "data" / "newlab"


def new_lab(lab_id: str, root: Path) -> Path:
    """Write the skeleton lab `lab_id` into the catalogue folder root; returns its folder."""
    if not ID_RE.match(lab_id):
        raise BadInput(
            f"'{lab_id}' is not a lab id",
            rule="a lab id is 1 to 32 lowercase letters, digits and '-', first and last a letter or digit",
            fix="e.g. servicelab new-lab my-lab",
        )
    target = root / lab_id
    if target.exists() or target.is_symlink():
        raise BadInput(
            f"{target} already exists",
            rule="new-lab writes a new folder and never changes one",
            fix="choose another id, or move that folder away",
        )
    values = {
        "id": lab_id,
        "order": str(next_order(root)),
        "agnhost": images.AGNHOST,
        "busybox": images.BUSYBOX,
    }
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".new-lab-{lab_id}-", dir=root))
    except OSError as err:
        raise BadInput(
            f"cannot write into {root}: {err.strerror or err}", rule="--labs DIR is a folder you can write"
        ) from err
    try:
        draft = staging / lab_id
        for relative, template in _files(templates()):
            out = draft / relative
            out.parent.mkdir(parents=True, exist_ok=True)
            if out.suffix in BINARY:
                out.write_bytes(template.read_bytes())
            else:
                out.write_text(fill(template.read_text(encoding="utf-8"), values, relative), encoding="utf-8")
        load_lab(draft)  # a template that does not make a valid lab is our bug: nothing is written
        try:
            draft.rename(target)
        except OSError as err:  # made meanwhile by someone else
            raise BadInput(
                f"{target} already exists", rule="new-lab writes a new folder and never changes one"
            ) from err
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def next_order(root: Path) -> int:
    """After every lab of the catalogue: orders stay unique and the new lab comes last."""
    return max((order_of(p) for p in all_labs(root)), default=0) + 1


def fill(text: str, values: dict[str, str], name: Path) -> str:
    def value(match: re.Match[str]) -> str:
        if match.group(1) not in values:
            raise KeyError(f"template {name}{SUFFIX}: no value for {match.group(0)}")
        return values[match.group(1)]

    return _TOKEN.sub(value, text)


def _files(folder: Traversable, under: Path = Path()) -> list[tuple[Path, Traversable]]:
    """(path in the new lab, template) for every template under folder, sorted."""
    found: list[tuple[Path, Traversable]] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            found += _files(entry, under / entry.name)
        elif entry.name.endswith(SUFFIX):
            found.append((under / entry.name.removesuffix(SUFFIX), entry))
    return found
