"""The checks a lab declares in checks.py, read without importing it (so errors carry line numbers, and
reading a lab never runs its code)."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from grader.base.errors import BadInput


@dataclass(frozen=True)
class CheckSpec:
    id: str
    title: str
    points: int
    line: int
    evidence: str = ""  # "object": a structural check, earning its points on a field it reads


def read_checks(path: Path) -> list[CheckSpec]:
    """The checks declared in checks.py, read without importing it (so errors carry line numbers)."""
    if not path.is_file():
        raise BadInput("checks.py is missing", file=str(path), rule="a lab's checks are pytest tests in checks.py")
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as err:
        raise BadInput(f"syntax error: {err.msg}", file=str(path), line=err.lineno) from err
    checks: list[CheckSpec] = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test_"):
            continue
        marker = next((d for d in node.decorator_list if isinstance(d, ast.Call) and _is_check_marker(d.func)), None)
        rule = "each test_* function is marked @pytest.mark.check(points=N, title='...')"
        if marker is None:
            raise BadInput(f"{node.name} has no @pytest.mark.check marker", file=str(path), line=node.lineno, rule=rule)
        kwargs = {k.arg: k.value for k in marker.keywords if k.arg}
        points = kwargs.get("points")
        title = kwargs.get("title")
        if not (isinstance(points, ast.Constant) and isinstance(points.value, int) and points.value > 0):
            raise BadInput(
                f"{node.name}: points must be a positive integer literal", file=str(path), line=marker.lineno, rule=rule
            )
        if not (isinstance(title, ast.Constant) and isinstance(title.value, str) and title.value.strip()):
            raise BadInput(
                f"{node.name}: title must be a non-empty string literal", file=str(path), line=marker.lineno, rule=rule
            )
        evidence = kwargs.get("evidence")
        if evidence is not None and not (isinstance(evidence, ast.Constant) and evidence.value == "object"):
            raise BadInput(
                f"{node.name}: evidence, when given, is the literal 'object'",
                file=str(path),
                line=marker.lineno,
                rule="evidence='object' marks a structural check: it earns its points on a field it reads "
                "(LabContext.read_field); every other check on a probe",
            )
        checks.append(
            CheckSpec(
                node.name.removeprefix("test_"), title.value, points.value, node.lineno, "object" if evidence else ""
            )
        )
    if not checks:
        raise BadInput("checks.py declares no check", file=str(path), rule="at least one test_* function")
    return checks


def _is_check_marker(func: ast.expr) -> bool:
    return isinstance(func, ast.Attribute) and func.attr == "check" and ast.unparse(func.value).endswith("mark")
