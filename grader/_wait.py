"""Polling with a deadline: the only way servicelab waits for something."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from grader.errors import EnvironmentFault

T = TypeVar("T")


class WaitTimeout(EnvironmentFault, RuntimeError):
    """The condition did not hold before the deadline; carries the last state seen."""

    def __init__(self, what: str, timeout_s: float, last_state: str) -> None:
        self.what = what
        self.last_state = last_state
        super().__init__(f"{what}: not reached within {timeout_s:.0f}s; last state seen: {last_state}")


def wait_for(
    probe: Callable[[], tuple[T | None, str]],
    *,
    what: str,
    timeout_s: float,
    interval_s: float = 1.0,
    max_interval_s: float | None = None,
) -> T:
    """Call probe() until it returns a value (not None) or the deadline passes.

    probe returns (value or None, a one-line description of the state it saw); the description of
    the last call goes into the timeout error, so a failure says what was observed. A state that can
    never become good is the probe's to end early: it raises. With max_interval_s the pause doubles
    from interval_s up to it (back off from a slow system, answer fast on a quick one).
    """
    deadline = time.monotonic() + timeout_s
    last = "never checked"
    pause = interval_s
    while True:
        value, last = probe()
        if value is not None:
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise WaitTimeout(what, timeout_s, last)
        time.sleep(min(pause, remaining))
        if max_interval_s is not None:
            pause = min(pause * 2, max_interval_s)
