"""The gradebook: every grading the service ran, in one SQLite file (WAL), kept across restarts.

One row per grading (`results`): who, which lab, in which namespace, when it was asked, started and finished,
the score and its maximum (empty when there is none: ENV-ERROR, or a grading that could not run), the verdict,
and the servicelab.result/v1 report; one row per check of it (`checks`: PASS, FAIL, BLOCKED, ENV-ERROR, n-a).
Refusals (403) are kept too (`refusals`), beside the audit log.

A grading that was queued or running when the service stopped is marked `interrupted` when it starts again
(its caller's connection went with the service): it holds no result and the student asks again.

The exports take each student's latest *scored* result per lab: an ENV-ERROR never replaces a score.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.base.text import csv_cell

SCHEMA_VERSION = 1
CSV_COLUMNS = ("student", "lab", "score", "max", "finished")
# `nbgrader export`'s own columns (its CSV export plugin), so whatever takes nbgrader's grades.csv takes this one
NBGRADER_COLUMNS = (
    "assignment",
    "duedate",
    "timestamp",
    "student_id",
    "last_name",
    "first_name",
    "email",
    "raw_score",
    "late_submission_penalty",
    "score",
    "max_score",
)
CHECK_VERDICTS = {"pass": "PASS", "fail": "FAIL", "blocked": "BLOCKED", "env-error": "ENV-ERROR", "n/a": "n-a"}

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    job TEXT PRIMARY KEY,
    student TEXT NOT NULL,
    lab TEXT NOT NULL,
    namespace TEXT NOT NULL,
    state TEXT NOT NULL,            -- queued, running, done, error, interrupted
    requested REAL NOT NULL,        -- seconds since the epoch (UTC)
    started REAL,
    finished REAL,
    score INTEGER,
    max_score INTEGER,
    verdict TEXT,                   -- PASS, FAIL, ENV-ERROR (the report's), or ERROR: not graded, see error
    error TEXT NOT NULL DEFAULT '',
    report TEXT                     -- servicelab.result/v1, as JSON
);
CREATE INDEX IF NOT EXISTS results_by_student ON results (student, lab, finished);
CREATE TABLE IF NOT EXISTS checks (
    job TEXT NOT NULL REFERENCES results (job),
    position INTEGER NOT NULL,
    check_id TEXT NOT NULL,
    verdict TEXT NOT NULL,          -- PASS, FAIL, BLOCKED, ENV-ERROR, n-a
    PRIMARY KEY (job, check_id)
);
CREATE TABLE IF NOT EXISTS refusals (at REAL NOT NULL, who TEXT NOT NULL, what TEXT NOT NULL, why TEXT NOT NULL);
"""


@dataclass
class Row:
    job: str
    student: str
    lab: str
    namespace: str
    state: str
    requested: float
    started: float | None = None
    finished: float | None = None
    score: int | None = None
    max_score: int | None = None
    verdict: str | None = None
    error: str = ""
    report: dict[str, Any] | None = None
    checks: dict[str, str] = field(default_factory=dict)  # check id -> verdict, in the lab's order

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "student": self.student,
            "lab": self.lab,
            "namespace": self.namespace,
            "state": self.state,
            "requested": iso(self.requested),
            "started": iso(self.started),
            "finished": iso(self.finished),
            "score": self.score,
            "max_score": self.max_score,
            "verdict": self.verdict,
            "error": self.error or None,
            "checks": self.checks,
            "report": self.report,
        }


def iso(when: float | None) -> str | None:
    return None if when is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


class Gradebook:
    """One SQLite file; safe to share between the HTTP threads and the workers (one connection, one lock)."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")  # readers (the class page) never wait on a grading's write
        self._db.execute("PRAGMA synchronous=FULL")  # a result told to a student is on disk
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_DDL)  # its own transaction: executescript commits first
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            db.execute(
                "UPDATE results SET state = 'interrupted', error = ? WHERE state IN ('queued', 'running')",
                ("the grading service restarted before this grading finished: run check() again",),
            )

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- writes --------------------------------------------------------------------------------------
    def queued(self, job: str, student: str, lab: str, namespace: str, at: float) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO results (job, student, lab, namespace, state, requested) VALUES (?, ?, ?, ?, 'queued', ?)",
                (job, student, lab, namespace, at),
            )

    def started(self, job: str, at: float) -> None:
        with self._tx() as db:
            db.execute("UPDATE results SET state = 'running', started = ? WHERE job = ?", (at, job))

    def finished(self, job: str, at: float, report: dict[str, Any]) -> None:
        """A grading's report (servicelab.result/v1): its score, verdict and each check's verdict."""
        checks = [(c["id"], CHECK_VERDICTS.get(str(c.get("status")), str(c.get("status")))) for c in report["checks"]]
        with self._tx() as db:
            db.execute(
                "UPDATE results SET state = 'done', finished = ?, score = ?, max_score = ?, verdict = ?, report = ? "
                "WHERE job = ?",
                (at, report.get("score"), report.get("max_score"), report.get("verdict"), json.dumps(report), job),
            )
            db.executemany(
                "INSERT OR REPLACE INTO checks (job, position, check_id, verdict) VALUES (?, ?, ?, ?)",
                [(job, i, check, verdict) for i, (check, verdict) in enumerate(checks)],
            )

    def failed(self, job: str, at: float, error: str) -> None:
        """A grading that produced no report (the namespace is missing, the grader crashed): no score."""
        with self._tx() as db:
            db.execute(
                "UPDATE results SET state = 'error', finished = ?, verdict = 'ERROR', error = ? WHERE job = ?",
                (at, error, job),
            )

    def refused(self, at: float, who: str, what: str, why: str) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO refusals VALUES (?, ?, ?, ?)", (at, who, what, why))

    # --- reads ---------------------------------------------------------------------------------------
    def _select(self, where: str, args: tuple[Any, ...]) -> list[Row]:
        with self._lock:
            found = self._db.execute(f"SELECT * FROM results {where}", args).fetchall()
            jobs = [r["job"] for r in found]
            verdicts: dict[str, dict[str, str]] = {job: {} for job in jobs}
            for i in range(0, len(jobs), 500):  # SQLite's bound on parameters
                part = jobs[i : i + 500]
                marks = ",".join("?" * len(part))
                for c in self._db.execute(
                    f"SELECT job, check_id, verdict FROM checks WHERE job IN ({marks}) ORDER BY job, position", part
                ):
                    verdicts[c["job"]][c["check_id"]] = c["verdict"]
        return [_row(r, verdicts[r["job"]]) for r in found]

    def get(self, job: str) -> Row | None:
        found = self._select("WHERE job = ?", (job,))
        return found[0] if found else None

    def of_student(self, student: str) -> list[Row]:
        return self._select("WHERE student = ? ORDER BY requested DESC", (student,))

    def all(self) -> list[Row]:
        return self._select("ORDER BY student, lab, requested", ())

    def latest_scored(self) -> list[Row]:
        """Each student's latest scored result per lab, by student then lab."""
        return self._select(
            "WHERE rowid IN (SELECT r.rowid FROM results r WHERE r.score IS NOT NULL AND r.finished = "
            "(SELECT MAX(o.finished) FROM results o WHERE o.student = r.student AND o.lab = r.lab "
            "AND o.score IS NOT NULL)) ORDER BY student, lab",
            (),
        )

    def latest(self) -> list[Row]:
        """Each student's latest finished result per lab (scored or not), by student then lab: the class page."""
        return self._select(
            "WHERE rowid IN (SELECT r.rowid FROM results r WHERE r.finished = "
            "(SELECT MAX(o.finished) FROM results o WHERE o.student = r.student AND o.lab = r.lab)) "
            "ORDER BY student, lab",
            (),
        )

    def refusals(self) -> list[tuple[float, str, str, str]]:
        with self._lock:
            found = self._db.execute("SELECT at, who, what, why FROM refusals ORDER BY at").fetchall()
        return [(float(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in found]

    # --- exports -------------------------------------------------------------------------------------
    def export_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for row in self.latest_scored():
            writer.writerow([csv_cell(row.student), csv_cell(row.lab), row.score, row.max_score, iso(row.finished)])
        return out.getvalue()


def _row(r: sqlite3.Row, checks: dict[str, str]) -> Row:
    return Row(
        job=r["job"],
        student=r["student"],
        lab=r["lab"],
        namespace=r["namespace"],
        state=r["state"],
        requested=r["requested"],
        started=r["started"],
        finished=r["finished"],
        score=r["score"],
        max_score=r["max_score"],
        verdict=r["verdict"],
        error=r["error"],
        report=json.loads(r["report"]) if r["report"] else None,
        checks=checks,
    )
