"""What must NOT be reachable, judged so that a broken probe never passes it: the must-not-reach rule.

"Cannot reach" counts only once the vantage point reached a known-good target in this run; else the
verdict is ENV-ERROR. An address that answers like a never-routed control address (a network's
transparent interceptor) does not count as reached. And it counts only beside its positive control: the same
address and port (or the `control` given) answered in this run from a vantage point where it must. Each silence is
kept with its control; grader.grading.evidence makes the check BLOCKED when nothing ever answered there.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from grader.base.errors import EnvError
from grader.base.outcomes import Fail
from grader.probes.observed import Recorder
from grader.probes.outcomes import SINKHOLE, answered, control_for, differs, split_url, succeeded
from grader.probes.policy import ProbePolicy
from grader.probes.shell import Op, Outcome, announce, failure_reason


class NegativeProbes(ABC):
    """must_not_reach / must_not_connect for a vantage point (grader.probes.base.Vantage provides the rest)."""

    name: str
    policy: ProbePolicy
    recorder: Recorder
    proven: bool
    known_good: str | None

    @abstractmethod
    def require(self) -> None:
        """NotApplicable when the vantage point cannot be used here."""

    @abstractmethod
    def _run_ops(self, ops: list[Op], per_try_s: float, timeout_s: float) -> list[Outcome]:
        """Run the ops once."""

    @abstractmethod
    def _retry_known_good(self, url: str) -> None:
        """Reach url with the full deadline (proves the vantage point works)."""

    def must_not_reach(
        self,
        url: str,
        *,
        hint: str,
        host_header: str | None = None,
        known_good: str | None = None,
        target: str | None = None,
        control: str = "",
        see: str = "",
        diagnosis: str = "",
    ) -> None:
        """FAIL with hint if url answers. Counts only once this vantage point reached a known-good target
        in this run; if it never did, the verdict is ENV-ERROR (inconclusive), never a pass. Its silence counts
        only beside its positive control: url's host:port (or `control`, a host:port) answered in this run where it
        must, as check `see` observes; else the check is BLOCKED."""
        host, port = split_url(url)
        self._must_not(
            [(Op("http", url, host_header=host_header), hint, target or self._label(host, port, host_header))],
            known_good,
            control=control,
            see=see,
            diagnosis=diagnosis,
        )

    def must_not_reach_any(
        self,
        urls_and_hints: list[tuple[str, str]],
        *,
        per_try_s: float | None = None,
        control: str = "",
        see: str = "",
        diagnosis: str = "",
    ) -> None:
        """must_not_reach for several URLs in one round, so their timeouts overlap; FAILs with the hint of
        the first that answered (every one is recorded in the matrix). per_try_s (under one second too)
        shortens the wait for silence where the caller knows how fast an answer would come."""
        self._must_not(
            [(Op("http", url), hint, self._label(*split_url(url), None)) for url, hint in urls_and_hints],
            None,
            per_try_s,
            control=control,
            see=see,
            diagnosis=diagnosis,
        )

    def must_not_connect(
        self,
        host: str,
        port: int,
        *,
        hint: str,
        known_good: str | None = None,
        target: str | None = None,
        control: str = "",
        see: str = "",
        diagnosis: str = "",
    ) -> None:
        """FAIL with hint if a TCP connection to host:port succeeds (the same known-good and positive-control rules
        as must_not_reach)."""
        self._must_not(
            [(Op("tcp", host, port), hint, target or self._label(host, port, None))],
            known_good,
            control=control,
            see=see,
            diagnosis=diagnosis,
        )

    def _must_not(
        self,
        targets: list[tuple[Op, str, str]],
        known_good: str | None,
        per_try_s: float | None = None,
        *,
        control: str = "",
        see: str = "",
        diagnosis: str = "",
    ) -> None:
        if not targets:
            return
        self.require()
        per_try = self.policy.per_try_s if per_try_s is None else per_try_s
        good = known_good or self.known_good
        probes = announce(self.name, [op for op, _, _ in targets])
        controls = [control_for(op) for op in probes]  # the control addresses are not news to a learner
        ops = [*probes, *controls]
        if not self.proven and good:
            ops.append(Op("http", good))
        outs = self._run_ops(ops, per_try, per_try + self.policy.exec_slack_s)
        n = len(probes)
        seen = [self._judged(op, outs[i], controls[i], outs[n + i], per_try) for i, op in enumerate(probes)]
        for (op, hint, label), (reached, observed) in zip(targets, seen, strict=True):
            if reached:
                self.recorder.record(label, False, True, observed, address=_address(op))
                raise Fail(
                    hint, detail=f"from {self.name}: {label} answered but must not be reachable", diagnosis=diagnosis
                )
        if len(outs) > 2 * n and succeeded(ops[2 * n], outs[2 * n]):
            self.proven = True
        if not self.proven and good:
            self._retry_known_good(good)
        for (op, _, label), (_, observed) in zip(targets, seen, strict=True):
            self.recorder.record(
                label,
                False,
                False,
                observed if self.proven else "inconclusive: " + observed,
                address=_address(op),
                control=control or _address(op),
                see=see,
            )
        if not self.proven:
            why = f"could not reach the known-good target {good}" if good else "has no known-good target"
            raise EnvError(
                f"{self.name} {why} in this run, so '{targets[0][2]} is not reachable' cannot be judged "
                "(is the probe's network working?)"
            )

    def _judged(self, op: Op, out: Outcome, control: Op, control_out: Outcome, per_try_s: float) -> tuple[bool, str]:
        """Whether op reached its target, and what was observed."""
        reached = answered(op, out)
        observed = "answered" if reached else failure_reason(out, per_try_s)
        if reached and answered(control, control_out):
            # Something on this network answers every address (a transparent proxy): the target counts as
            # reached only if it answers differently from the never-routed control address.
            if op.kind == "tcp":
                as_http = Op("http", f"http://{op.target}:{op.port}/")
                pair = self._run_ops(
                    [as_http, control_for(as_http)],
                    self.policy.per_try_s,
                    self.policy.per_try_s + self.policy.exec_slack_s,
                )
                reached = differs(pair[0], pair[1])
            else:
                reached = differs(out, control_out)
            observed = (
                "answered" if reached else "only the network's interceptor answered"
            ) + f" (compared with never-routed {SINKHOLE})"
        return reached, observed

    def _label(self, host: str, port: int, host_header: str | None) -> str:
        base = self.recorder.matrix.label_for(host, port) if self.recorder.matrix else f"{host}:{port}"
        return f"{base} (Host: {host_header})" if host_header else base


def _address(op: Op) -> str:
    """host:port an op aims at, as results record it (grader.probes.observed)."""
    host, port = split_url(op.target) if op.kind == "http" else (op.target, op.port)
    return f"{host}:{port}"
