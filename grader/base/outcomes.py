"""What a check can conclude besides PASS: the learner's mistake, blocked by an earlier failure, or not applicable.

Checks raise these; the plugin turns them into results. They are exceptions by what the caller can do
next: a `Fail` costs the learner the check's points and shows the hint; an `EnvError` withholds the
whole grade (ENV-ERROR, no score, never 0 points); `NotApplicable` drops the check from the total.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DIAGNOSIS_ID = re.compile(r"^[a-z0-9-]+/[a-z0-9-]+$")  # '<lab or area>/<mistake>', e.g. 'endpoints/no-selector'


@dataclass(frozen=True)
class Diagnosis:
    """A mistake named: a stable id (what a wrong case's case.yaml declares and check-solutions compares) and the
    learner-facing words. Empty (falsy) when nothing was found."""

    id: str = ""
    text: str = ""

    def __bool__(self) -> bool:
        return bool(self.text)

    def __str__(self) -> str:
        return self.text


class Fail(AssertionError):
    """The learner's mistake: the check's points are lost and `hint` is shown to the learner. `diagnosis` is the
    stable id of the mistake the hint names (e.g. 'internal-lb/annotation-value-not-true')."""

    def __init__(self, hint: str, detail: str = "", *, diagnosis: str = "") -> None:
        self.hint = hint
        self.detail = detail
        self.diagnosis = diagnosis
        super().__init__(hint + (f"\n{detail}" if detail else ""))


class Blocked(Exception):
    """The check could not observe its behaviour because an earlier check failed: no points, never PASS."""

    def __init__(self, by: str, why: str) -> None:
        self.by = by
        self.why = why
        super().__init__(f"{why} (blocked by {by})")


class NotApplicable(Exception):
    """This check cannot run on this cluster (e.g. no route from the host): reported as n/a, and the result says
    it was graded without that vantage point. Its points stay in the total, unearned: n/a is never full marks."""

    def __init__(self, reason: str, vantage: str = "") -> None:
        self.reason = reason
        self.vantage = vantage  # the vantage point that cannot exist here, when that is the reason
        super().__init__(reason)
