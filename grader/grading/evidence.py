"""Every point is earned by an observation: what a check saw decides whether its PASS stands.

Once all checks of a run have ended (a positive control may be observed by a later check), each PASS must rest on
at least one observation that supports it: a probe whose expectation was met, or, for a structural check (marker
`evidence="object"`), a field of the learner's object read through `LabContext.read_field`. A must-not-reach
silence supports nothing unless its positive control answered somewhere in the run (the same address and port, or
the control its probe named, reached from a vantage point where it must). A PASS that fails either rule is BLOCKED
with 0 points, naming the failed check behind it; a check blocked by a blocked check names the failure at the root.
"""

from __future__ import annotations

from grader.grading.results import CheckResult, LabResult, Status
from grader.probes.matrix import Observation

STRUCTURAL = "object"  # @pytest.mark.check(..., evidence="object"): the check reads an object field by design
NO_EVIDENCE = (
    "this check ended without an observation that supports it (a probe with the outcome it must have, or for a "
    "structural check the field it read), so it earns nothing"
)


def supports(seen: Observation, *, structural: bool) -> bool:
    """Whether an observation can carry a PASS: a met expectation of a probe, or a field read of a structural check.
    (A must-not-reach silence also needs its control answered: see settle.)"""
    if seen.field_read:
        return structural
    return seen.ok is True


def settle(results: dict[str, CheckResult], evidence: dict[str, list[Observation]], structural: set[str]) -> None:
    """Give each result its evidence, turn every PASS without support into BLOCKED, and name root failures."""
    for check_id, result in results.items():
        result.evidence = list(evidence.get(check_id, []))
        result.structural = check_id in structural
    checks = list(results.values())
    for result in checks:
        if result.status is Status.PASS and (why := unsupported(result, checks)):
            _block(result, *why)
    _name_roots(results)


def unsupported(result: CheckResult, run: list[CheckResult]) -> tuple[str, str] | None:
    """Why this PASS does not stand on its evidence, as (the check to see, the reason), or None when it does.
    `run` is every check of the same run: where positive controls were observed."""
    answered = {s.address for c in run for s in c.evidence if s.expected is True and s.observed and s.address}
    alone = next((s for s in result.evidence if _silent(s) and s.control not in answered), None)
    if alone is not None:
        see = alone.see or next(
            (c.id for c in run for s in c.evidence if s.expected is True and s.address == alone.control), ""
        )
        where = alone.target if alone.control == alone.address else alone.control
        why = f"nothing answers at {where} at all, so its silence from {alone.vantage} proves nothing"
        return see, why + (f": see check {see}" if see else "")
    if not any(supports(s, structural=result.structural) for s in result.evidence):
        return "", NO_EVIDENCE
    return None


def unsupported_passes(result: LabResult) -> list[str]:
    """The checks a result counts as PASS without the evidence to carry them (each 'id: why')."""
    return [
        f"{c.id}: {why[1]}"
        for c in result.checks
        if c.status is Status.PASS and (why := unsupported(c, result.checks)) is not None
    ]


def _silent(seen: Observation) -> bool:
    return bool(seen.control) and seen.expected is False and not seen.observed


def _block(result: CheckResult, by: str, why: str) -> None:
    result.status, result.blocked_by = Status.BLOCKED, by
    result.message = f"not observed: {why}" + (f" (blocked by {by})" if by else "")


def _name_roots(results: dict[str, CheckResult]) -> None:
    """A check blocked by a check that is blocked itself names the failure at the end of the chain."""
    roots: dict[str, str] = {}
    for check_id, result in results.items():
        if result.status is not Status.BLOCKED or not result.blocked_by:
            continue
        root, seen = result.blocked_by, {check_id}
        while root in results and results[root].status is Status.BLOCKED and results[root].blocked_by:
            if root in seen:
                break  # a cycle names no failure: keep the nearest
            seen.add(root)
            root = results[root].blocked_by
        roots[check_id] = root
    for check_id, root in roots.items():
        result = results[check_id]
        if root != result.blocked_by:
            result.message = result.message.removesuffix(f" (blocked by {result.blocked_by})") + f" (blocked by {root})"
            result.blocked_by = root
