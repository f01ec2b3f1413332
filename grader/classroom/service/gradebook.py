"""The gradebook: every grading the service ran, kept across restarts: in one SQLite file (WAL) by default, or in
a PostgreSQL database that replicas of the service share (grader.classroom.service.database; the same tables and
the same SQL in both).

One row per grading (`results`): who, which lab, in which namespace, when it was asked, started and finished,
the score and its maximum (empty when there is none: ENV-ERROR, or a grading that could not run), the verdict,
the servicelab.result/v1 report, and the service instance that runs it; one row per check of it (`checks`: PASS,
FAIL, BLOCKED, ENV-ERROR, n-a). Refusals (403) are kept too (`refusals`), beside the audit log.

Interrupted: a grading that was queued or running when the service instance running it stopped is marked
`interrupted` (its caller's connection went with that instance): it holds no result and the student asks again.
Each instance is a row of `instances` (a new id per start, its name: SERVICELAB_INSTANCE or the host's name, a
pod's name in Kubernetes) with a heartbeat on the database's clock every HEARTBEAT_S. An instance's unfinished
gradings are interrupted when it closes; when an instance of the same name starts (a restart: the old process is
gone); or when its heartbeat is older than STALE_S (it died and came back under another name, or never came back:
a Deployment's new pod). So replicas sharing a gradebook never interrupt each other's live gradings.

The exports take each student's latest *scored* result per lab: an ENV-ERROR never replaces a score.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.base.errors import EnvError
from grader.base.text import csv_cell
from grader.classroom.service.database import Database, Record, open_database, scrubbed

log = logging.getLogger("servicelab.service.gradebook")

SCHEMA_VERSION = 2  # 2: results.instance and the instances table
HEARTBEAT_S = 10.0
STALE_S = 60.0  # six missed heartbeats: that instance is gone
INTERRUPTED = "the grading service restarted or stopped before this grading finished: run check() again"
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

# SQLite and PostgreSQL both: DOUBLE PRECISION is SQLite's REAL (PostgreSQL's REAL would be 4 bytes: seconds lost)
_DDL = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS results (
    job TEXT PRIMARY KEY,
    student TEXT NOT NULL,
    lab TEXT NOT NULL,
    namespace TEXT NOT NULL,
    state TEXT NOT NULL,            -- queued, running, done, error, interrupted
    requested DOUBLE PRECISION NOT NULL,  -- seconds since the epoch (UTC)
    started DOUBLE PRECISION,
    finished DOUBLE PRECISION,
    score INTEGER,
    max_score INTEGER,
    verdict TEXT,                   -- PASS, FAIL, ENV-ERROR (the report's), or ERROR: not graded, see error
    error TEXT NOT NULL DEFAULT '',
    report TEXT,                    -- servicelab.result/v1, as JSON
    instance TEXT                   -- the service instance (instances.id) that queued it
)""",
    "CREATE INDEX IF NOT EXISTS results_by_student ON results (student, lab, finished)",
    """CREATE TABLE IF NOT EXISTS checks (
    job TEXT NOT NULL REFERENCES results (job),
    position INTEGER NOT NULL,
    check_id TEXT NOT NULL,
    verdict TEXT NOT NULL,          -- PASS, FAIL, BLOCKED, ENV-ERROR, n-a
    PRIMARY KEY (job, check_id)
)""",
    "CREATE TABLE IF NOT EXISTS refusals "
    "(at DOUBLE PRECISION NOT NULL, who TEXT NOT NULL, what TEXT NOT NULL, why TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS instances (
    id TEXT PRIMARY KEY,            -- new at every start
    name TEXT NOT NULL,             -- SERVICELAB_INSTANCE or the host's name: the same again after a restart
    started DOUBLE PRECISION NOT NULL,
    seen DOUBLE PRECISION NOT NULL  -- the last heartbeat, on the database's clock
)""",
)
# schema 1 (SQLite only) had no instances; its unfinished gradings have no instance and are interrupted below
_MIGRATIONS = {1: ("ALTER TABLE results ADD COLUMN instance TEXT",)}
_UNFINISHED = "state IN ('queued', 'running')"


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
    """An SQLite file (a path) or a PostgreSQL database (a postgresql://... URL); safe to share between the HTTP
    threads and the workers (one connection, one lock). instance: this service's name among the replicas
    (default SERVICELAB_INSTANCE, else the host's name)."""

    def __init__(
        self,
        where: Path | str,
        *,
        instance: str | None = None,
        heartbeat_s: float = HEARTBEAT_S,
        stale_s: float = STALE_S,
    ) -> None:
        self.where = str(where)
        self.name = instance or os.environ.get("SERVICELAB_INSTANCE") or socket.gethostname()
        self.instance = f"{self.name}-{secrets.token_hex(6)}"
        self._stale_s = stale_s
        self._lock = threading.Lock()
        self._db: Database
        self._db, self._now = open_database(self.where)
        self.shown = self._db.shown  # the path, or the URL without its password
        try:
            with self._tx() as db:
                db.schema_lock()
                self._schema(db)
                self._register(db)
                # an instance of my name is my own earlier start: it is gone, and its gradings with it
                db.execute("DELETE FROM instances WHERE name = ? AND id <> ?", (self.name, self.instance))
                self._sweep(db)
        except BaseException:
            self._db.close()
            raise
        self._stop = threading.Event()
        self._heart = threading.Thread(
            target=self._beat, args=(heartbeat_s,), name="servicelab-gradebook-heartbeat", daemon=True
        )
        self._heart.start()

    def _schema(self, db: Database) -> None:
        for statement in _DDL:
            db.execute(statement)
        found = db.execute("SELECT value FROM meta WHERE key = 'schema'")
        version = int(found[0]["value"]) if found else SCHEMA_VERSION
        if version > SCHEMA_VERSION:
            raise EnvError(
                f"the gradebook {self.shown} has schema {version}, newer than this servicelab's "
                f"({SCHEMA_VERSION}): run the grading service of the servicelab that wrote it, or a newer one"
            )
        for step in range(version, SCHEMA_VERSION):
            for statement in _MIGRATIONS[step]:
                db.execute(statement)
        if not found:
            db.execute("INSERT INTO meta (key, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        elif version != SCHEMA_VERSION:
            db.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (str(SCHEMA_VERSION),))

    def _sweep(self, db: Database) -> None:
        """Interrupt the unfinished gradings of instances that are gone: no row (closed, or a schema 1 file's),
        or a heartbeat older than stale_s; then forget those instances."""
        stale = f"SELECT id FROM instances WHERE seen < {self._now} - ?"
        db.execute(
            f"UPDATE results SET state = 'interrupted', error = ? WHERE {_UNFINISHED} AND (instance IS NULL "
            f"OR instance NOT IN (SELECT id FROM instances) OR instance IN ({stale}))",
            (INTERRUPTED, self._stale_s),
        )
        db.execute(f"DELETE FROM instances WHERE id IN ({stale})", (self._stale_s,))

    def _register(self, db: Database) -> None:
        db.execute(
            f"INSERT INTO instances (id, name, started, seen) VALUES (?, ?, {self._now}, {self._now})",
            (self.instance, self.name),
        )

    def _beat(self, every_s: float) -> None:
        """The heartbeat: this instance is alive; and the gradings of instances that are not are interrupted."""
        while not self._stop.wait(every_s):
            try:
                with self._tx() as db:
                    db.execute(f"UPDATE instances SET seen = {self._now} WHERE id = ?", (self.instance,))
                    if not db.execute("SELECT id FROM instances WHERE id = ?", (self.instance,)):
                        self._register(db)  # forgotten while it could not reach the database for stale_s
                    self._sweep(db)
            except Exception as err:  # the database is away: the next beat tries again
                log.warning("gradebook %s: heartbeat failed: %s", self.shown, scrubbed(str(err), self.where))

    @contextmanager
    def _tx(self, *, write: bool = True) -> Iterator[Database]:
        with self._lock:
            self._db.begin(write=write)
            try:
                yield self._db
            except BaseException:
                self._db.rollback()
                raise
            self._db.commit()

    def close(self) -> None:
        """This instance's gradings that never finished are interrupted (the service stops without them)."""
        if self._stop.is_set():  # closed already
            return
        self._stop.set()
        self._heart.join()
        try:
            with self._tx() as db:
                db.execute("DELETE FROM instances WHERE id = ?", (self.instance,))
                db.execute(
                    f"UPDATE results SET state = 'interrupted', error = ? WHERE {_UNFINISHED} AND instance = ?",
                    (INTERRUPTED, self.instance),
                )
        except Exception as err:  # the next start, or another replica's heartbeat, does it instead
            log.warning("gradebook %s: could not close cleanly: %s", self.shown, scrubbed(str(err), self.where))
        with self._lock:
            self._db.close()

    # --- writes --------------------------------------------------------------------------------------
    def queued(self, job: str, student: str, lab: str, namespace: str, at: float) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO results (job, student, lab, namespace, state, requested, instance) "
                "VALUES (?, ?, ?, ?, 'queued', ?, ?)",
                (job, student, lab, namespace, at, self.instance),
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
                "INSERT INTO checks (job, position, check_id, verdict) VALUES (?, ?, ?, ?) ON CONFLICT (job, check_id) "
                "DO UPDATE SET position = excluded.position, verdict = excluded.verdict",
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
            db.execute("INSERT INTO refusals (at, who, what, why) VALUES (?, ?, ?, ?)", (at, who, what, why))

    # --- reads ---------------------------------------------------------------------------------------
    def _select(self, where: str, args: tuple[Any, ...]) -> list[Row]:
        with self._tx(write=False) as db:
            found = db.execute(f"SELECT * FROM results {where}", args)
            jobs = [r["job"] for r in found]
            verdicts: dict[str, dict[str, str]] = {job: {} for job in jobs}
            for i in range(0, len(jobs), 500):  # SQLite's bound on parameters
                part = jobs[i : i + 500]
                marks = ",".join("?" * len(part))
                for c in db.execute(
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
            "WHERE job IN (SELECT r.job FROM results r WHERE r.score IS NOT NULL AND r.finished = "
            "(SELECT MAX(o.finished) FROM results o WHERE o.student = r.student AND o.lab = r.lab "
            "AND o.score IS NOT NULL)) ORDER BY student, lab",
            (),
        )

    def latest(self) -> list[Row]:
        """Each student's latest finished result per lab (scored or not), by student then lab: the class page."""
        return self._select(
            "WHERE job IN (SELECT r.job FROM results r WHERE r.finished = "
            "(SELECT MAX(o.finished) FROM results o WHERE o.student = r.student AND o.lab = r.lab)) "
            "ORDER BY student, lab",
            (),
        )

    def refusals(self) -> list[tuple[float, str, str, str]]:
        with self._tx(write=False) as db:
            found = db.execute("SELECT at, who, what, why FROM refusals ORDER BY at")
        return [(float(r["at"]), str(r["who"]), str(r["what"]), str(r["why"])) for r in found]

    # --- exports -------------------------------------------------------------------------------------
    def export_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for row in self.latest_scored():
            writer.writerow([csv_cell(row.student), csv_cell(row.lab), row.score, row.max_score, iso(row.finished)])
        return out.getvalue()


def _row(r: Record, checks: dict[str, str]) -> Row:
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
