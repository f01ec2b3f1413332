"""How hard a vantage point tries: the retry policy every probe operation follows."""

from __future__ import annotations

from dataclasses import dataclass

from grader.base.wait import PROBE_DEADLINE_S


@dataclass(frozen=True)
class ProbePolicy:
    """Retry policy as data: per-try timeout, overall deadline, pause between rounds, exec slack."""

    per_try_s: float = 3.0
    deadline_s: float = PROBE_DEADLINE_S
    backoff_s: float = 0.5
    exec_slack_s: float = 15.0
    hostname_rounds_size: int = 8

    @property
    def one_round_s(self) -> float:
        """What the last round needs before a deadline: a deadline of just this allows exactly one round."""
        return self.per_try_s + self.backoff_s


# collect_hostnames: batches run back to back while every GET answers but a backend is still unseen (8 GETs
# over 3 backends miss one about 12% of the time; three batches in a row, under 0.2%)
SAMPLING_BATCHES = 3
