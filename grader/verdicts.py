"""What a check can conclude besides PASS: the learner's mistake, a broken environment, or not applicable.

Checks raise these; the plugin turns them into results. They are exceptions by what the caller can do
next: a `Fail` costs the learner the check's points and shows the hint; an `EnvError` withholds the
whole grade (ENV-ERROR, no score, never 0 points); `NotApplicable` drops the check from the total.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass

from grader.errors import EnvironmentFault, InputError


class Fail(AssertionError):
    """The learner's mistake: the check's points are lost and `hint` is shown to the learner."""

    def __init__(self, hint: str, detail: str = "") -> None:
        self.hint = hint
        self.detail = detail
        super().__init__(hint + (f"\n{detail}" if detail else ""))


class EnvError(EnvironmentFault, RuntimeError):
    """The environment is broken (cluster unreachable, probe pod cannot start, image missing, ...).

    The whole result becomes ENV-ERROR: no score is given, and `diagnosis` says what to fix.
    """

    def __init__(self, diagnosis: str) -> None:
        self.diagnosis = diagnosis
        super().__init__(diagnosis)


class Blocked(Exception):
    """The check could not observe its behaviour because an earlier check failed: no points, never PASS."""

    def __init__(self, by: str, why: str) -> None:
        self.by = by
        self.why = why
        super().__init__(f"{why} (blocked by {by})")


class NotApplicable(Exception):
    """This check cannot run on this cluster (e.g. no route from the host): reported as n/a, points leave the total."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(eq=False)  # an exception compares and hashes by identity
class BadInput(InputError, ValueError):
    """The input is wrong (lab folder, manifests, arguments): exit code 2, a clear message, no traceback."""

    message: str
    _: KW_ONLY
    file: str | None = None
    line: int | None = None
    rule: str | None = None
    fix: str | None = None

    def __post_init__(self) -> None:
        super().__init__(self.render())

    def render(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        text = where + self.message
        if self.rule:
            text += f"\n  rule: {self.rule}"
        if self.fix:
            text += f"\n  fix: {self.fix}"
        return text
