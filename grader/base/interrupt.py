"""SIGINT and SIGTERM unwind a run, so every `finally` deletes what the run created.

Both signals raise `Interrupted`, a KeyboardInterrupt: pytest stops its session on one instead of
recording it as a failed check (it records SystemExit as a failure), and callers re-raise it after
pytest returns. Cleanup runs `shielded()`: a second signal while it runs is held until it ends.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

_state = {"shielded": 0, "pending": 0, "raised": 0}


class Interrupted(KeyboardInterrupt):
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _handler(signum: int, frame: FrameType | None) -> None:
    if _state["shielded"]:
        _state["pending"] = signum  # raised when the cleanup under way ends
        return
    _state["raised"] = signum
    raise Interrupted(signum)


def reraise() -> None:
    """After a caller that swallows KeyboardInterrupt (pytest.main) returned: raise it again."""
    raise Interrupted(_state["raised"] or signal.SIGINT)


def install() -> None:
    """Route SIGINT and SIGTERM to `Interrupted` (main thread only: signals are delivered there)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _handler)
        signal.signal(signal.SIGTERM, _handler)


def raise_pending() -> None:
    if _state["pending"] and not _state["shielded"]:
        signum, _state["pending"] = _state["pending"], 0
        raise Interrupted(signum)


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Hold signals while deleting what a run created; an interrupted cleanup would leave it behind."""
    _state["shielded"] += 1
    try:
        yield
    finally:
        _state["shielded"] -= 1
    raise_pending()


class Overtime(KeyboardInterrupt):
    """Raised by the per-submission alarm; a KeyboardInterrupt so pytest stops the checks instead of failing one."""


@contextlib.contextmanager
def alarm(seconds: float) -> Iterator[list[bool]]:
    """Raise Overtime in the main thread after seconds; yields [fired]. Disarmed on the way out."""
    fired = [False]

    def ring(signum: int, frame: FrameType | None) -> None:
        fired[0] = True
        raise Overtime()

    old = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))
    try:
        yield fired
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
