"""A failure that has an explanation is an answer: stop retrying it.

Probes retry until their deadline because a Service that is not ready yet can look like a wrong one. Two
failures are known to be final once the cluster's own objects explain them, and waiting out the rest of the
deadline changes nothing:
- a connection refused again and again, for REFUSED_FINAL_S, to a Service whose targetPort no selected pod
  declares (the diagnosis the vantage's recorder gives for that address): the learner's port mistake;
- SILENT_TRIES tries in a row that each waited their whole time for an answer, to a load-balancer address
  whose source ranges leave this vantage's address out: kube-proxy drops those packets on purpose.
A failure without its explanation (kube-proxy still programming its rules, an application still binding
its port, MetalLB still announcing) keeps the full deadline.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from grader.probes.observed import Recorder
from grader.probes.outcomes import split_url
from grader.probes.shell import Failure, Op, Outcome, failure_of

REFUSED_FINAL_S = 4.0
SILENT_TRIES = 2
REFUSED, SILENT = "refused", "silent"


def refused(outcome: Outcome) -> bool:
    return failure_of(outcome) is Failure.REFUSED


def silent(outcome: Outcome) -> bool:
    return failure_of(outcome) is Failure.TIMEOUT


def failure_kind(outcomes: list[Outcome]) -> str | None:
    """REFUSED or SILENT when every outcome failed that way, else None."""
    if outcomes and all(map(refused, outcomes)):
        return REFUSED
    if outcomes and all(map(silent, outcomes)):
        return SILENT
    return None


class FailureExplained(Exception):
    """Raised out of a retry loop: every pending probe keeps failing, and the failure is explained."""


@dataclass
class _Streak:
    kind: str
    since: float
    tries: int = 0
    explained: bool | None = None  # asked once a streak: it reads the cluster


@dataclass
class FailureStreaks:
    """Each pending probe's (by index in `ops`) current run of failures of one kind, on the probe loop's
    clock; the vantage's recorder says what explains a failure at that address."""

    ops: list[Op]
    recorder: Recorder
    _streaks: dict[int, _Streak] = field(default_factory=dict)

    def note(self, index: int, outcomes: list[Outcome], now: float) -> None:
        """What probe `index` got this round (one outcome, or a batch of the same request)."""
        kind = failure_kind(outcomes)
        streak = self._streaks.get(index)
        if kind is None:
            self._streaks.pop(index, None)
            return
        if streak is None or streak.kind != kind:
            streak = self._streaks[index] = _Streak(kind, now)
        streak.tries += 1

    def check(self, pending: list[int], now: float) -> None:
        """Raise FailureExplained when every pending probe's failure is long enough and explained."""
        if pending and all(self._final(i, now) for i in pending):
            raise FailureExplained

    def _final(self, index: int, now: float) -> bool:
        streak = self._streaks.get(index)
        if streak is None:
            return False
        long_enough = now - streak.since >= REFUSED_FINAL_S if streak.kind == REFUSED else streak.tries >= SILENT_TRIES
        if not long_enough:
            return False
        if streak.explained is None:
            op = self.ops[index]
            host, port = split_url(op.target) if op.kind == "http" else (op.target, op.port)
            why = self.recorder.extra if streak.kind == REFUSED else self.recorder.silent_because
            streak.explained = bool(why(host, port))
        return streak.explained
