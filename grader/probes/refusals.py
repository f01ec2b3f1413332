"""A refusal that has an explanation is an answer: stop retrying it.

Probes retry until their deadline because a Service that is not ready yet can look like a wrong one. A
connection refused again and again, for REFUSED_FINAL_S, to a Service whose targetPort no selected pod
declares (the diagnosis the vantage's recorder gives for that address) is the learner's port mistake, and
waiting out the rest of the deadline changes nothing. A refusal without that explanation (kube-proxy still
programming its rules, an application still binding its port) keeps the full deadline.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from grader.probes.outcomes import split_url
from grader.probes.results import Recorder
from grader.probes.shell import Op, Outcome, failure_reason

REFUSED_FINAL_S = 4.0


def refused(outcome: Outcome) -> bool:
    return failure_reason(outcome, 0) == "connection refused"


class RefusalExplained(Exception):
    """Raised out of a retry loop: every pending probe is refused, and the refusal is explained."""


@dataclass
class Refusals:
    """Since when each pending probe (by index in `ops`) has been refused without a break, on the probe
    loop's clock; the recorder's diagnosis for a probe's address is what explains its refusal (asked once
    a run of refusals: it reads the cluster)."""

    ops: list[Op]
    recorder: Recorder
    _since: dict[int, float] = field(default_factory=dict)
    _explained: dict[int, bool] = field(default_factory=dict)

    def note(self, index: int, was_refused: bool, now: float) -> None:
        if was_refused:
            self._since.setdefault(index, now)
        else:
            self._since.pop(index, None)
            self._explained.pop(index, None)

    def check(self, pending: list[int], now: float) -> None:
        """Raise RefusalExplained when every pending probe has been refused for REFUSED_FINAL_S, explained."""
        long_refused = bool(pending) and all(now - self._since.get(i, now) >= REFUSED_FINAL_S for i in pending)
        if long_refused and all(self._explains(i) for i in pending):
            raise RefusalExplained

    def _explains(self, index: int) -> bool:
        if index not in self._explained:
            op = self.ops[index]
            host, port = split_url(op.target) if op.kind == "http" else (op.target, op.port)
            self._explained[index] = bool(self.recorder.extra(host, port))
        return self._explained[index]
