"""One graded submission as a record, and the batch reports: `grades.csv` and one `<student>.json` each.

A record without a score (the submission's own error, or ENV-ERROR) has an empty score column, never 0.
Records keep names and reasons as they came; grades.csv shows every text escaped (grader.base.text.csv_cell:
no control character, and no cell a spreadsheet would run as a formula).
The JSON files are also the resume state: a record is reused when its digest matches and it is final
(ENV-ERROR never is: the next run grades it again).
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from grader.base.text import csv_cell

SCHEMA = "servicelab.batch/v1"
CSV_NAME = "grades.csv"
CSV_COLUMNS = ("student", "lab", "status", "score", "max_score", "reason", "source")


class Outcome(StrEnum):
    GRADED = "graded"  # a score (full or partial)
    NO_ANSWER = "no-answer"  # nothing handed in (the unchanged release stub): 0 points
    ERROR = "error"  # the submission's own problem (not YAML, refused manifest, timeout): no score, a reason
    ENV_ERROR = "env-error"  # the environment failed: no score, graded again by the next run


@dataclass
class Record:
    student: str
    lab: str
    outcome: Outcome
    digest: str
    score: int | None = None
    max_score: int | None = None
    reason: str = ""
    source: str = ""  # what was handed in, relative to the class folder
    seconds: float = 0.0
    html: str = ""  # the report as HTML (nbgrader feedback)
    report: dict[str, Any] | None = field(default=None)  # servicelab.result/v1

    @property
    def key(self) -> tuple[str, str]:
        return (self.student, self.lab)

    @property
    def fraction(self) -> float | None:
        if self.score is None or not self.max_score:
            return None if self.score is None else 0.0
        return self.score / self.max_score

    @property
    def final(self) -> bool:
        return self.outcome is not Outcome.ENV_ERROR

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["outcome"] = self.outcome.value
        return data

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Record:
        known = set(Record.__dataclass_fields__)
        values = {k: v for k, v in data.items() if k in known}
        values["outcome"] = Outcome(values["outcome"])
        return Record(**values)


def csv_row(record: Record) -> dict[str, str]:
    scored = record.score is not None
    return {
        "student": csv_cell(record.student),
        "lab": csv_cell(record.lab),
        "status": record.outcome.value,
        "score": str(record.score) if scored else "",
        "max_score": str(record.max_score or "") if scored else "",
        "reason": csv_cell(record.reason)[:500],
        "source": csv_cell(record.source),
    }


def write_reports(out: Path, records: list[Record]) -> Path:
    """grades.csv (one row per student and lab) and <student>.json; returns the CSV's path."""
    out.mkdir(parents=True, exist_ok=True)
    ordered = sorted(records, key=lambda r: r.key)
    by_student: dict[str, list[Record]] = {}
    for record in ordered:
        by_student.setdefault(record.student, []).append(record)
    for student, own in by_student.items():
        doc = {"schema": SCHEMA, "student": student, "submissions": [r.to_dict() for r in own]}
        _write_atomic(out / f"{student}.json", json.dumps(doc, indent=2) + "\n")
    path = out / CSV_NAME
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(csv_row(r) for r in ordered)
    tmp.replace(path)
    return path


def write_student(out: Path, student: str, records: list[Record]) -> None:
    """Save one student's records as soon as they are done, so an interrupted batch resumes from there."""
    out.mkdir(parents=True, exist_ok=True)
    doc = {"schema": SCHEMA, "student": student, "submissions": [r.to_dict() for r in sorted(records, key=_key)]}
    _write_atomic(out / f"{student}.json", json.dumps(doc, indent=2) + "\n")


def load_records(out: Path) -> dict[tuple[str, str], Record]:
    """Records of an earlier run (unreadable files are ignored: those submissions are graded again)."""
    found: dict[tuple[str, str], Record] = {}
    if not out.is_dir():
        return found
    for path in sorted(out.glob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
                continue
            for item in doc.get("submissions", []):
                record = Record.from_dict(item)
                found[record.key] = record
        except (OSError, ValueError, TypeError, KeyError):
            continue
    return found


def _key(record: Record) -> tuple[str, str]:
    return record.key


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
