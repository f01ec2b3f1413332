"""`python _interrupt_driver.py LOG_DIR`: a batch whose jobs hang until interrupted (test_workers sends the signal).

Exits like the CLI does: 130 on Ctrl-C, 143 on SIGTERM.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

from _worker_fakes import FakeSpec

from grader.parallel.workers import run_chains


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(log_dir: str) -> int:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    spec = FakeSpec(log_dir, hang_on=("a1", "b1"))
    try:
        run_chains([["a1", "a2"], ["b1", "b2"], ["c1"]], spec, 3, crashed=lambda job, why: f"{job} crashed")
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
