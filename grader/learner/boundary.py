"""The notebook boundary: servicelab's own errors reach a learner as one line that names the fix, never a traceback.

IPython prints a traceback for any exception a cell raises. The notebook functions that grade nothing (explore,
flow, hint, reset, values, progress, the answer cell) catch servicelab's errors and print that line instead.
check() must still fail its cell (nbgrader gives a graded cell that ends without an error full marks), so it
raises NotGraded, which IPython shows as that line alone (`_render_traceback_`). Any other exception is a bug
and keeps its traceback.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from grader.base.errors import BadInput, EnvError, EnvironmentFault, InputError, ServicelabError, message
from grader.base.text import printable
from grader.kube.client import Kube, KubeUnreachable

P = ParamSpec("P")
T = TypeVar("T")

START_CLUSTER = "start the lab cluster with `servicelab up` in a terminal, then run this cell again"
MEND_CLUSTER = "`servicelab doctor` in a terminal names what to mend; `servicelab up` repairs most of it"
# In a classroom the cluster is the instructor's: nothing the student can run mends it
ASK_INSTRUCTOR = "run the cell again; if it says the same, tell your instructor (the classroom needs mending, not you)"
GRADING_URL_ENV = "SERVICELAB_GRADING_URL"  # set in a classroom's student server: check() asks the grading service


def in_classroom() -> bool:
    """Whether this notebook runs in a classroom's student server (grader.learner.classroom)."""
    return bool(os.environ.get(GRADING_URL_ENV))


def one_line(text: str) -> str:
    """Whitespace and line breaks collapsed: one line, whatever the API server or a tool answered."""
    return " ".join(printable(text, lines=True).split())


def unreachable_in(err: BaseException) -> KubeUnreachable | None:
    """The KubeUnreachable that err is or was raised from, if any (told by type, never by its text)."""
    seen: BaseException | None = err
    for _ in range(10):  # a chain of causes is short; a cycle must not loop
        if seen is None or isinstance(seen, KubeUnreachable):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def cluster_answers(context: str | None = None) -> bool:
    """Whether the API server of the notebook's cluster answers at all (one cheap request)."""
    try:
        Kube(context=context).server_version()
    except KubeUnreachable:
        return False
    except ServicelabError:
        return True  # it answered, with a refusal
    return True


def env_line(diagnosis: str, *, unreachable: bool) -> str:
    """An environment problem as one line: what is wrong, then the fix."""
    if in_classroom():
        lost = "the classroom's cluster does not answer: " if unreachable else ""
        return f"ENV-ERROR: {lost}{one_line(diagnosis).rstrip('.')}. Fix: {ASK_INSTRUCTOR}"
    if unreachable:
        return f"ENV-ERROR: the lab cluster does not answer: {START_CLUSTER} ({one_line(diagnosis)})"
    return f"ENV-ERROR: {one_line(diagnosis).rstrip('.')}. Fix: {MEND_CLUSTER}"


def explain(err: ServicelabError, context: str | None = None) -> str:
    """What a notebook cell prints for one of our errors: an environment fault as one line with its fix (the
    cluster asked once whether it answers when the error does not say), a learner's mistake as its message with
    file, line, rule and fix."""
    if isinstance(err, EnvironmentFault):
        if (lost := unreachable_in(err)) is not None:
            return env_line(str(lost), unreachable=True)
        diagnosis = err.diagnosis if isinstance(err, EnvError) else str(err)
        return env_line(diagnosis, unreachable=not cluster_answers(context))
    if isinstance(err, BadInput):
        return err.render()
    return message(err)


class _ShownAsItsMessage:
    """In IPython, the exception's message in place of its traceback."""

    def _render_traceback_(self) -> list[str]:
        return str(self).splitlines() or [type(self).__name__]


class NotGraded(_ShownAsItsMessage, EnvError):
    """check() could not grade (the environment is broken): the cell fails with one line, and no score is given."""


class NotGradedInput(_ShownAsItsMessage, InputError):
    """check() could not grade (a bad lab name or folder): the cell fails with the message, rule and fix."""


def prints_errors(fn: Callable[P, T]) -> Callable[P, T | None]:
    """A notebook function that grades nothing: servicelab's errors are printed as explain() words them and the
    call returns None. Printed on stdout: nbgrader scores any stderr output 0."""

    @functools.wraps(fn)
    def said(*args: P.args, **kwargs: P.kwargs) -> T | None:
        try:
            return fn(*args, **kwargs)
        except ServicelabError as err:
            context = kwargs.get("context")
            print(explain(err, context if isinstance(context, str) else None))
            return None

    return said


def not_in_classroom(why: str) -> Callable[[Callable[P, None]], Callable[P, None]]:
    """A notebook function that needs more than a classroom student's rights (their own namespace): in a
    classroom it prints one line saying why it is not there, and does nothing."""

    def wrap(fn: Callable[P, None]) -> Callable[P, None]:
        @functools.wraps(fn)
        def said(*args: P.args, **kwargs: P.kwargs) -> None:
            if in_classroom():
                print(f"{fn.__name__}() is not available in a classroom: {why}")
                return
            fn(*args, **kwargs)

        return said

    return wrap
