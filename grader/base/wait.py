"""Polling with a deadline: the only way servicelab waits for something, and its default timeouts."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from grader.base.errors import EnvironmentFault

T = TypeVar("T")

READY_TIMEOUT_S = 120.0  # a lab's Deployments and Service endpoints (a lab's timeouts.ready overrides it)
PROBE_POD_READY_S = 90.0  # servicelab's own probe pods (image pulled or preloaded)
PROBE_DEADLINE_S = 15.0  # how long a vantage point retries one probe (a lab's timeouts.probe overrides it)


class Terminal(str):
    """A state the probe knows cannot turn good by waiting (a typo in a selector, a refused pod):
    `wait_for` gives up once its probe has reported terminal states for `settle_s` without a break."""

    __slots__ = ()


class WaitTimeout(EnvironmentFault, RuntimeError):
    """The condition did not hold before the deadline; carries the last state seen."""

    def __init__(self, what: str, timeout_s: float, last_state: str) -> None:
        self.what = what
        self.last_state = last_state
        self.terminal = isinstance(last_state, Terminal)  # given up early, before the deadline
        when = (
            f"cannot be reached (given up after {timeout_s:.0f}s)"
            if self.terminal
            else (f"not reached within {timeout_s:.0f}s")
        )
        super().__init__(f"{what}: {when}; last state seen: {last_state}")


def wait_for(
    probe: Callable[[], tuple[T | None, str]],
    *,
    what: str,
    timeout_s: float,
    interval_s: float = 1.0,
    max_interval_s: float | None = None,
    settle_s: float = 0.0,
) -> T:
    """Call probe() until it returns a value (not None) or the deadline passes.

    probe returns (value or None, a one-line description of the state it saw); the description of
    the last call goes into the timeout error, so a failure says what was observed. A state that can
    never become good ends the wait early: the probe returns it as a `Terminal` state, and once
    terminal states have lasted `settle_s` (0: at once) the wait fails with it. A probe may also raise
    to end the wait with its own error. With max_interval_s the pause doubles from interval_s up to it
    (back off from a slow system, answer fast on a quick one).
    """
    start = time.monotonic()
    deadline = start + timeout_s
    last = "never checked"
    pause = interval_s
    terminal_since: float | None = None
    while True:
        value, last = probe()
        if value is not None:
            return value
        now = time.monotonic()
        terminal_since = (terminal_since or now) if isinstance(last, Terminal) else None
        if terminal_since is not None and now - terminal_since >= settle_s:
            raise WaitTimeout(what, now - start, last)
        remaining = deadline - now
        if remaining <= 0:
            raise WaitTimeout(what, timeout_s, last)
        time.sleep(min(pause, remaining))
        if max_interval_s is not None:
            pause = min(pause * 2, max_interval_s)
