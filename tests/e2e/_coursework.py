"""What the class tests share: a lab case's YAML, and the answer cell of a released notebook."""

from __future__ import annotations

from pathlib import Path
from typing import Any

LABS = Path(__file__).resolve().parents[2] / "labs"


def case_yaml(lab: str, case: str) -> str:
    """The manifests of labs/<lab>/<case>/ as one YAML stream (case.yaml, the case's declaration, left out)."""
    files = sorted((LABS / lab / case).glob("*.yaml"))
    return "\n---\n".join(f.read_text() for f in files if f.name != "case.yaml")


def answer_cell(nb: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in nb["cells"] if c["metadata"]["nbgrader"]["grade_id"] == "manifest")
    return found


def answered(lab: str, case: str) -> str:
    """The answer cell's source a student would write: the magic line, then the case's YAML."""
    return f"%%servicelab_answer {lab}\n" + case_yaml(lab, case)
