"""A lab imports one thing of the grader: `grader.lab`, its front door (docs/WRITING_CHECKS.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import grader.lab
from grader.catalogue.locate import all_labs

LABS = all_labs()


def _grader_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "grader":
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "grader"]
    return found


def test_the_catalogue_has_labs() -> None:
    assert LABS, "no lab found: the catalogue is empty"


@pytest.mark.parametrize("lab", LABS, ids=lambda p: p.name)
def test_a_lab_imports_only_the_front_door(lab: Path) -> None:
    for path in sorted(lab.rglob("*.py")):
        others = [m for m in _grader_imports(path) if m != "grader.lab"]
        assert others == [], f"{path}: import these from grader.lab instead of {others}"


def test_every_name_of_the_front_door_exists() -> None:
    missing = [name for name in grader.lab.__all__ if not hasattr(grader.lab, name)]
    assert missing == []


def test_every_name_of_the_front_door_is_documented() -> None:
    guide = (Path(__file__).parents[3] / "docs" / "WRITING_CHECKS.md").read_text(encoding="utf-8")
    undocumented = [name for name in grader.lab.__all__ if f"`{name}" not in guide and f"{name}(" not in guide]
    assert undocumented == [], "docs/WRITING_CHECKS.md documents every name a lab imports"
