"""JSON report with a versioned schema (`schema: servicelab.result/v1`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grader.grading.results import LabResult

SCHEMA = "servicelab.result/v1"


def to_dict(result: LabResult) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "lab": result.lab,
        "title": result.title,
        "namespace": result.namespace,
        "context": result.context,
        "run_id": result.run_id,
        "verdict": result.verdict.value,
        "graded_without": result.graded_without,
        "score": None if result.fraction is None else result.score,
        "max_score": None if result.fraction is None else result.max_score,
        "fraction": result.fraction,
        "diagnosis": result.diagnosis or None,
        "duration_s": result.duration_s,
        "checks": [
            {
                "id": c.id,
                "title": c.title,
                "points": c.points,
                "earned": c.earned,
                "status": c.status.value,
                "message": c.message,
                "detail": c.detail,
                "diagnosis": c.diagnosis or None,
                "blocked_by": c.blocked_by or None,
                "structural": c.structural,
                "duration_s": c.duration_s,
                "evidence": [seen.to_dict() for seen in c.evidence],
            }
            for c in result.checks
        ],
        "matrix": result.matrix.to_dict(),
    }


def write(result: LabResult, path: Path) -> None:
    path.write_text(json.dumps(to_dict(result), indent=2) + "\n", encoding="utf-8")
