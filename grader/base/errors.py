"""One error hierarchy: what went wrong decides the exit code and the words, in one place.

Every error servicelab raises on purpose derives from `ServicelabError` through one of three kinds:
`InputError` (the learner's input is wrong: exit 2), `EnvironmentFault` (the cluster, Docker or a tool
is broken: exit 3, never a grade) and the base itself for servicelab's own bugs (exit 70). A signal is a
`KeyboardInterrupt` (pytest must stop on it), so it stays outside the hierarchy; `report` maps it too.
Every CLI command and the notebooks' `check()` end through `report`: one mapping, one wording.
"""

from __future__ import annotations

import sys
from dataclasses import KW_ONLY, dataclass
from typing import TextIO

from grader.base.text import printable

EXIT_OK = 0
EXIT_FAIL = 1  # graded, and the grade is not full marks
EXIT_BAD_INPUT = 2
EXIT_ENV = 3
EXIT_INTERNAL = 70  # EX_SOFTWARE: servicelab's own bug
EXIT_SIGINT = 130  # 128 + the signal number, as shells report it


class ServicelabError(Exception):
    """Base of every error servicelab raises on purpose; raised as such, it is servicelab's own bug."""

    exit_code = EXIT_INTERNAL
    prefix = "servicelab: internal error: "

    def render(self) -> str:
        return str(self)


class InputError(ServicelabError):
    """The learner's input (lab folder, manifests, arguments) is wrong: exit 2, no traceback."""

    exit_code = EXIT_BAD_INPUT
    prefix = "error: "


class EnvironmentFault(ServicelabError):
    """The environment is broken (no cluster, no Docker, a missing tool): exit 3, no grade is given."""

    exit_code = EXIT_ENV
    prefix = "ENV-ERROR: "


class EnvError(EnvironmentFault, RuntimeError):
    """The environment is broken (cluster unreachable, probe pod cannot start, image missing, ...).

    The whole result becomes ENV-ERROR: no score is given, and `diagnosis` says what to fix.
    """

    def __init__(self, diagnosis: str) -> None:
        self.diagnosis = diagnosis
        super().__init__(diagnosis)


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
        """file:line: message, then rule and fix; what a learner wrote (names, quoted values) shown escaped."""
        where = ""
        if self.file:
            where = printable(self.file) + (f":{self.line}" if self.line else "") + ": "
        text = where + printable(self.message, lines=True)  # an API server's answer spans lines
        if self.rule:
            text += f"\n  rule: {printable(self.rule, lines=True)}"
        if self.fix:
            text += f"\n  fix: {printable(self.fix, lines=True)}"
        return text


def exit_code(err: BaseException) -> int:
    """The exit code for an error that ends a command."""
    if isinstance(err, ServicelabError):
        return err.exit_code
    if isinstance(err, KeyboardInterrupt):
        signum = getattr(err, "signum", None)  # interrupt.Interrupted carries the signal it stands for
        return 128 + signum if isinstance(signum, int) else EXIT_SIGINT
    return EXIT_INTERNAL


def message(err: BaseException) -> str:
    """The one paragraph the user sees for an error that ends a command (what it quotes shown escaped)."""
    if isinstance(err, ServicelabError):
        return err.prefix + printable(err.render(), lines=True)  # render() first: file:line stays clickable
    if isinstance(err, KeyboardInterrupt):
        # only our own handler's Interrupted unwinds through the cleanup; a bare Ctrl-C says nothing more
        return f"servicelab: stopped by {err}; what this run created was deleted" if str(err) else ""
    return printable(f"servicelab: internal error: {type(err).__name__}: {err}", lines=True)


def report(err: BaseException, stream: TextIO | None = None) -> int:
    """Print `message(err)` to stderr and return `exit_code(err)`."""
    text = message(err)
    if text:
        print(text, file=stream or sys.stderr)
    return exit_code(err)
