"""How hard a vantage point tries: the retry policy every probe operation follows."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProbePolicy:
    """Retry policy as data: per-try timeout, overall deadline, pause between rounds, exec slack."""

    per_try_s: float = 3.0
    deadline_s: float = 15.0
    backoff_s: float = 0.5
    exec_slack_s: float = 15.0
    hostname_rounds_size: int = 8
