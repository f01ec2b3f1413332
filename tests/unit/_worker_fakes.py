"""Fake worker specs for parallel.workers: they cross into spawned processes, so they live in an importable module.

Every worker writes what it does to `<log_dir>/<run id>.log` ("open", "ran JOB", "cleaned JOB",
"clean-up RUN", "closed"), so a test can tell which process did what, even after a crash.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from grader.corpus.solutions import CaseJob, Row
from grader.grading.scoring import CaseOutcome


@dataclass(frozen=True)
class FakeSpec:
    log_dir: str
    crash_on: str = ""  # this job kills its worker process outright (no finally runs)
    hang_on: tuple[str, ...] = ()  # these jobs wait for a 'release' file (the test interrupts them instead)

    @contextmanager
    def open(self) -> Iterator[FakeWorker]:
        worker = FakeWorker(self, secrets.token_hex(3))
        worker.log("open")
        try:
            yield worker
        finally:
            worker.log("closed")


class FakeWorker:
    def __init__(self, spec: FakeSpec, run_id: str) -> None:
        self.spec = spec
        self.run_id = run_id

    def log(self, line: str) -> None:
        with (Path(self.spec.log_dir) / f"{self.run_id}.log").open("a") as out:
            out.write(line + "\n")

    def run(self, job: str) -> str:
        self.log(f"ran {job}")
        if job == self.spec.crash_on:
            os._exit(3)
        try:
            if job in self.spec.hang_on:
                _wait_for(Path(self.spec.log_dir) / "release", timeout_s=120)
            return f"{job} by {self.run_id}"
        finally:
            self.log(f"cleaned {job}")

    def clean_up_after(self, run_id: str) -> None:
        self.log(f"clean-up {run_id}")


def _wait_for(path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # polls a condition, with a deadline


@dataclass(frozen=True)
class FakeCaseGrading:
    """check_solutions' grading, without a cluster: every case holds; crash_on ('lab/case label') kills the worker."""

    crash_on: str = ""

    @contextmanager
    def open(self) -> Iterator[FakeCaseGrader]:
        yield FakeCaseGrader(self.crash_on)


class FakeCaseGrader:
    def __init__(self, crash_on: str) -> None:
        self.crash_on = crash_on
        self.run_id = secrets.token_hex(3)

    def run(self, job: CaseJob) -> Row:
        if f"{job.lab.id}/{job.case.label}" == self.crash_on:
            os._exit(3)
        return Row(job.lab.id, job.case.label, "full marks", CaseOutcome(True, f"by {self.run_id}"), 0.0, job.index)

    def clean_up_after(self, run_id: str) -> None:
        return
