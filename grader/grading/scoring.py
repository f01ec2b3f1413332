"""From results to numbers: exit codes, and whether a solutions-corpus case behaved as declared."""

from __future__ import annotations

from dataclasses import dataclass

from grader.catalogue.cases import Case
from grader.grading.results import EXIT_CODES, LabResult, Status, Verdict


def exit_code(result: LabResult) -> int:
    """0 full marks, 1 not full marks, 3 environment error (2, bad input, never reaches a result)."""
    return EXIT_CODES[result.verdict]


@dataclass(frozen=True)
class CaseOutcome:
    holds: bool
    observed: str
    env_error: bool = False


def judge_case(case: Case, result: LabResult) -> CaseOutcome:
    """solution/alternatives: full marks. wrong: fails exactly `case.fails`, whose hint contains `case.hint`."""
    if result.verdict is Verdict.ENV_ERROR:
        return CaseOutcome(False, f"ENV-ERROR: {result.diagnosis}"[:300], env_error=True)
    if case.kind != "wrong":
        return _judge_correct(result)
    return _judge_wrong(case, result)


def _judge_correct(result: LabResult) -> CaseOutcome:
    failed = [c for c in result.checks if c.status is Status.FAIL]
    na = [c.id for c in result.checks if c.status is Status.NA]
    score = f"{result.score}/{result.max_score}"
    if result.verdict is Verdict.PASS:
        return CaseOutcome(True, f"full marks {score}" + (f" (n/a: {', '.join(na)})" if na else ""))
    first = failed[0] if failed else None
    why = f"; {first.id}: {first.message}" if first else ""
    if result.graded_without:
        why += f"; graded without: {', '.join(result.graded_without)}"
    return CaseOutcome(False, f"{score}, failed {', '.join(c.id for c in failed)}{why}"[:300])


def _judge_wrong(case: Case, result: LabResult) -> CaseOutcome:
    failed = [c for c in result.checks if c.status is Status.FAIL]
    na = [c.id for c in result.checks if c.status is Status.NA]
    score = f"{result.score}/{result.max_score}"
    ids = [c.id for c in failed]
    if ids != [case.fails]:
        if case.fails in na:
            return CaseOutcome(False, f"{case.fails} was n/a on this cluster; failed: {ids or 'none'}")
        others = [c for c in failed if c.id != case.fails]
        why = f"; {others[0].id}: {others[0].message}" if others else ""
        return CaseOutcome(False, f"expected only {case.fails} to fail, failed: {ids or 'none'}{why}"[:300])
    hint = failed[0].message
    if case.hint not in hint:
        return CaseOutcome(False, f"{case.fails} failed but its hint lacks {case.hint!r}: {hint}"[:300])
    blocked = tuple(sorted(c.id for c in result.checks if c.status is Status.BLOCKED))
    if blocked != case.blocked:
        return CaseOutcome(
            False,
            f"{case.fails} failed as declared, but blocked {list(blocked)} is not the declared {list(case.blocked)}"[
                :300
            ],
        )
    return CaseOutcome(
        True,
        f"{score}, failed {case.fails} with {case.hint!r} in the hint"
        + (f"; blocked {', '.join(blocked)}" if blocked else ""),
    )
