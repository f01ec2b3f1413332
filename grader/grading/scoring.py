"""From results to numbers: exit codes, and whether a solutions-corpus case behaved as declared."""

from __future__ import annotations

from dataclasses import dataclass

from grader.catalogue.cases import Case
from grader.grading.evidence import unsupported_passes
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
    """solution/alternatives: full marks. wrong: fails exactly `case.fails` with the diagnosis `case.diagnosis`
    (and `case.hint` in its hint, if declared), the checks `case.blocked` BLOCKED, each naming that failure. Every
    case: every PASS rests on an observation that supports it (grader.grading.evidence)."""
    if result.verdict is Verdict.ENV_ERROR:
        return CaseOutcome(False, f"ENV-ERROR: {result.diagnosis}"[:300], env_error=True)
    if bare := unsupported_passes(result):
        return CaseOutcome(False, f"PASS without evidence: {bare[0]}"[:300])
    if case.kind != "wrong":
        return _judge_correct(result)
    return _judge_wrong(case, result)


def _judge_correct(result: LabResult) -> CaseOutcome:
    failed = [c for c in result.checks if c.status is Status.FAIL]
    na = [c.id for c in result.checks if c.status is Status.NA]
    score = f"{result.score}/{result.max_score}"
    if result.verdict is Verdict.PASS:
        return CaseOutcome(True, f"full marks {score}" + (f" (n/a: {', '.join(na)})" if na else ""))
    first = failed[0] if failed else next((c for c in result.checks if c.status is Status.BLOCKED), None)
    why = f"; {first.id}: {first.message}" if first else ""
    if result.graded_without:
        why += f"; graded without: {', '.join(result.graded_without)}"
    return CaseOutcome(False, f"{score}, failed {', '.join(c.id for c in failed)}{why}"[:300])


def _judge_wrong(case: Case, result: LabResult) -> CaseOutcome:
    if why := _failed_otherwise(case, result) or _blocked_otherwise(case, result):
        return CaseOutcome(False, why[:300])
    blocked = [c.id for c in result.checks if c.status is Status.BLOCKED]
    return CaseOutcome(
        True,
        f"{result.score}/{result.max_score}, failed {case.fails} with {case.diagnosis}"
        + (f"; blocked {', '.join(blocked)} by it" if blocked else ""),
    )


def _failed_otherwise(case: Case, result: LabResult) -> str:
    """How the failures differ from the declared one (check, diagnosis, hint); '' when they do not."""
    failed = [c for c in result.checks if c.status is Status.FAIL]
    ids = [c.id for c in failed]
    if ids != [case.fails]:
        if case.fails in [c.id for c in result.checks if c.status is Status.NA]:
            return f"{case.fails} was n/a on this cluster; failed: {ids or 'none'}"
        others = [c for c in failed if c.id != case.fails]
        why = f"; {others[0].id}: {others[0].message}" if others else ""
        return f"expected only {case.fails} to fail, failed: {ids or 'none'}{why}"
    check = failed[0]
    if check.diagnosis != case.diagnosis:
        named = check.diagnosis or "(none)"
        return f"{case.fails} failed with diagnosis {named}, not {case.diagnosis}: {check.message}"
    if case.hint and case.hint not in check.message:
        return f"{case.fails} failed but its hint lacks {case.hint!r}: {check.message}"
    return ""


def _blocked_otherwise(case: Case, result: LabResult) -> str:
    """How the BLOCKED checks differ from the declared ones, or one names another cause; '' when they do not."""
    blocked = [c for c in result.checks if c.status is Status.BLOCKED]
    if tuple(sorted(c.id for c in blocked)) != case.blocked:
        extra = [c for c in blocked if c.id not in case.blocked]
        why = f"; {extra[0].id}: {extra[0].message}" if extra else ""
        return (
            f"{case.fails} failed as declared, but blocked {sorted(c.id for c in blocked)} is not the declared "
            f"{list(case.blocked)}{why}"
        )
    if unnamed := [c for c in blocked if c.blocked_by != case.fails]:
        return (
            f"{unnamed[0].id} is BLOCKED by {unnamed[0].blocked_by or 'nothing named'}, not by the failure "
            f"{case.fails}: {unnamed[0].message}"
        )
    return ""
