"""A fake grading worker for grader.classroom.batch (it crosses into spawned worker processes: an importable module).

`FakeGrading(log_dir, verdicts)`: each job's student decides its result ("pass", "partial", "env"; default pass).
Every graded job appends "student/lab" to `<log_dir>/graded.log`, so a test counts what reached "the cluster".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from grader.classroom.batch import GradeJob
from grader.classroom.records import Outcome, Record


@dataclass(frozen=True)
class FakeGrading:
    log_dir: str
    verdicts: tuple[tuple[str, str], ...] = ()

    @contextmanager
    def open(self) -> Iterator[FakeGrader]:
        yield FakeGrader(self.log_dir, dict(self.verdicts))


class FakeGrader:
    run_id = "fake00"

    def __init__(self, log_dir: str, verdicts: dict[str, str]) -> None:
        self.log_dir = log_dir
        self.verdicts = verdicts

    def run(self, job: GradeJob) -> Record:
        with (Path(self.log_dir) / "graded.log").open("a") as out:
            out.write(f"{job.student}/{job.lab}\n")
        verdict = self.verdicts.get(job.student, "pass")
        record = Record(
            job.student,
            job.lab,
            Outcome.GRADED,
            job.digest,
            source=job.source,
            html=f"<p>fake report for {job.student}</p>",
        )
        if verdict == "env":
            record.outcome, record.reason = Outcome.ENV_ERROR, "probe pods cannot start: ImagePullBackOff"
        elif verdict == "partial":
            record.score, record.max_score, record.reason = 4, 6, "node-port: nodePort is not 30007"
        else:
            record.score, record.max_score = 6, 6
        return record

    def clean_up_after(self, run_id: str) -> None:
        return None


def graded(log_dir: Path) -> list[str]:
    log = log_dir / "graded.log"
    return sorted(log.read_text().split()) if log.exists() else []
