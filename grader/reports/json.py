"""JSON report with a versioned schema (`schema: servicelab.result/v1`), and its reader (`from_dict`): a report
another process wrote (the classroom's grading service) becomes the LabResult it was made from, so a notebook shows
it as it shows its own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

from grader.grading.results import CheckResult, LabResult, Status
from grader.probes.matrix import Cell, Matrix, Observation

SCHEMA = "servicelab.result/v1"
T = TypeVar("T")


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
                "without": c.without or None,
                "duration_s": c.duration_s,
                "evidence": [seen.to_dict() for seen in c.evidence],
            }
            for c in result.checks
        ],
        "matrix": result.matrix.to_dict(),
    }


def write(result: LabResult, path: Path) -> None:
    path.write_text(json.dumps(to_dict(result), indent=2) + "\n", encoding="utf-8")


class UnreadableReport(ValueError):
    """A document that is not a servicelab.result/v1 report; says where (a JSON path) and what was wanted."""


def from_dict(data: object) -> LabResult:
    """The LabResult a servicelab.result/v1 document was written from (to_dict's inverse, as far as the reports
    render it: the matrix's address labels are not in the document). UnreadableReport when it is not one."""
    doc = _object(data, "$")
    if doc.get("schema") != SCHEMA:
        raise UnreadableReport(f"$.schema is {doc.get('schema')!r}, not {SCHEMA!r}")
    checks = [_check(item, f"$.checks[{i}]") for i, item in enumerate(_field(doc, "checks", list, "$"))]
    _own_without(checks, _strings(doc.get("graded_without") or [], "$.graded_without"))
    matrix_doc = _object(doc.get("matrix") or {}, "$.matrix")
    cells = [
        _cell(item, f"$.matrix.cells[{i}]") for i, item in enumerate(_field(matrix_doc, "cells", list, "$.matrix"))
    ]
    result = LabResult(
        lab=_field(doc, "lab", str, "$"),
        title=_field(doc, "title", str, "$"),
        namespace=_field(doc, "namespace", str, "$"),
        run_id=_field(doc, "run_id", str, "$"),
        checks=checks,
        matrix=Matrix(cells=cells, evidence={c.id: list(c.evidence) for c in checks if c.evidence}),
        duration_s=_number(doc.get("duration_s"), "$.duration_s"),
        context=_optional(doc, "context", "$"),
    )
    diagnosis = _optional(doc, "diagnosis", "$")
    if doc.get("verdict") == "ENV-ERROR" and diagnosis != result.diagnosis:
        result.env_error = diagnosis  # the run as a whole was not graded (the checks' own say nothing of it)
    if result.verdict.value != doc.get("verdict"):
        raise UnreadableReport(f"$.verdict is {doc.get('verdict')!r}, but its checks make it {result.verdict.value}")
    return result


def _check(data: object, where: str) -> CheckResult:
    doc = _object(data, where)
    status = _field(doc, "status", str, where)
    try:
        parsed = Status(status)
    except ValueError:
        raise UnreadableReport(f"{where}.status is {status!r}: one of {', '.join(s.value for s in Status)}") from None
    evidence = [_observation(item, f"{where}.evidence[{i}]") for i, item in enumerate(doc.get("evidence") or [])]
    return CheckResult(
        id=_field(doc, "id", str, where),
        title=_field(doc, "title", str, where),
        points=_field(doc, "points", int, where),
        status=parsed,
        message=_optional(doc, "message", where),
        detail=_optional(doc, "detail", where),
        duration_s=_number(doc.get("duration_s"), f"{where}.duration_s"),
        without=_optional(doc, "without", where),
        diagnosis=_optional(doc, "diagnosis", where),
        blocked_by=_optional(doc, "blocked_by", where),
        evidence=evidence,
        structural=bool(doc.get("structural")),
    )


def _own_without(checks: list[CheckResult], graded_without: list[str]) -> None:
    """A report written before checks carried `without` names only the result's graded_without: hand those names
    to the n/a checks in order, so the result is graded without the same things (the reports show only that)."""
    not_applicable = [c for c in checks if c.status is Status.NA]
    if not graded_without or any(c.without for c in not_applicable):
        return
    for i, check in enumerate(not_applicable):
        named = graded_without[min(i, len(graded_without) - 1)]
        check.without = "" if named == check.id else named


def _observation(data: object, where: str) -> Observation:
    doc = _object(data, where)
    expected = doc.get("expected")
    if expected is not None and not isinstance(expected, bool):
        raise UnreadableReport(f"{where}.expected is {expected!r}: true, false or null")
    return Observation(
        vantage=_field(doc, "vantage", str, where),
        target=_field(doc, "target", str, where),
        expected=expected,
        observed=_field(doc, "observed", bool, where),
        detail=_optional(doc, "detail", where),
        address=_optional(doc, "address", where),
        control=_optional(doc, "control", where),
        see=_optional(doc, "see", where),
    )


def _cell(data: object, where: str) -> Cell:
    seen = _observation({**_object(data, where), "address": "", "control": "", "see": ""}, where)
    return Cell(seen.vantage, seen.target, seen.expected, seen.observed, seen.detail, _optional(data, "check", where))


def _object(data: object, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise UnreadableReport(f"{where} is {type(data).__name__}, not an object")
    return data


def _typed(value: object, kind: type[T], where: str) -> T:
    # a bool is an int to Python, never to the report
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise UnreadableReport(f"{where} is {value!r}, not {kind.__name__}")
    return value


def _field(doc: dict[str, Any], key: str, kind: type[T], where: str) -> T:
    return _typed(doc.get(key), kind, f"{where}.{key}")


def _optional(doc: object, key: str, where: str) -> str:
    """A text field that may be absent or null ('' then)."""
    value = _object(doc, where).get(key)
    return "" if value is None else _typed(value, str, f"{where}.{key}")


def _number(value: object, where: str) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UnreadableReport(f"{where} is {value!r}, not a number")
    return float(value)


def _strings(value: object, where: str) -> list[str]:
    return [_typed(item, str, f"{where}[{i}]") for i, item in enumerate(_typed(value, list, where))]
