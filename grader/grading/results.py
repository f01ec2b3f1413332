"""Results as dataclasses that carry learner-facing messages (what reports render and the API returns)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from grader.base.errors import EXIT_ENV, EXIT_FAIL, EXIT_OK
from grader.probes.matrix import Matrix, Observation


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    NA = "n/a"
    BLOCKED = "blocked"  # not observed because an earlier check failed: no points, names that check
    ENV_ERROR = "env-error"


class Verdict(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    ENV_ERROR = "ENV-ERROR"


@dataclass
class CheckResult:
    id: str
    title: str
    points: int
    status: Status
    message: str = ""  # hint (FAIL), diagnosis (ENV-ERROR) or reason (n/a)
    detail: str = ""  # what was observed: attempts, last state seen
    duration_s: float = 0.0
    without: str = ""  # n/a: the vantage point this cluster does not have
    diagnosis: str = ""  # FAIL: the id of the mistake its hint names, e.g. 'internal-lb/annotation-value-not-true'
    blocked_by: str = ""  # BLOCKED: the failed check that hides what this one would observe ('' when none is known)
    evidence: list[Observation] = field(default_factory=list)  # what the check observed; a PASS rests on it
    structural: bool = False  # its marker says evidence="object": a field it read may carry its PASS

    @property
    def earned(self) -> int:
        return self.points if self.status is Status.PASS else 0


@dataclass
class LabResult:
    lab: str
    title: str
    namespace: str
    run_id: str
    checks: list[CheckResult] = field(default_factory=list)
    matrix: Matrix = field(default_factory=Matrix)
    env_error: str = ""  # set when the run as a whole could not be graded
    duration_s: float = 0.0
    context: str = ""

    @property
    def verdict(self) -> Verdict:
        if self.env_error or any(c.status is Status.ENV_ERROR for c in self.checks):
            return Verdict.ENV_ERROR
        if self.max_score == 0 or self.score < self.max_score:
            return Verdict.FAIL
        return Verdict.PASS

    @property
    def max_score(self) -> int:
        """Every check's points: an n/a check's stay in the total, so a result that did not run every check is
        never full marks (graded_without says what it lacked)."""
        return sum(c.points for c in self.checks)

    @property
    def graded_without(self) -> list[str]:
        """The vantage points (or, failing a name, the checks) this result was graded without."""
        return list(dict.fromkeys(c.without or c.id for c in self.checks if c.status is Status.NA))

    @property
    def score(self) -> int:
        return sum(c.earned for c in self.checks)

    @property
    def fraction(self) -> float | None:
        """Score in [0, 1], or None when the grade is withheld (ENV-ERROR)."""
        if self.verdict is Verdict.ENV_ERROR:
            return None
        return self.score / self.max_score if self.max_score else 0.0

    @property
    def diagnosis(self) -> str:
        if self.env_error:
            return self.env_error
        return "\n".join(f"{c.id}: {c.message}" for c in self.checks if c.status is Status.ENV_ERROR)

    def check(self, check_id: str) -> CheckResult | None:
        return next((c for c in self.checks if c.id == check_id), None)


EXIT_CODES = {Verdict.PASS: EXIT_OK, Verdict.FAIL: EXIT_FAIL, Verdict.ENV_ERROR: EXIT_ENV}
