"""A vantage point: somewhere probes run from (probe pod, other-namespace pod, outside container, host).

Subclasses only say how to run one round of probes (`_run_ops`); retries, deadlines, attempts, the
matrix and the must-not-reach rule live here, the same for every vantage point.
"""

from __future__ import annotations

import contextlib
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from grader._wait import WaitTimeout, wait_for
from grader.probes.matrix import Matrix
from grader.probes.outcomes import SINKHOLE, answered, control_for, differs, split_url, succeeded, summary
from grader.probes.results import (
    Attempt,
    DnsResult,
    HostnamesResult,
    HttpResult,
    ProbeResult,
    Recorder,
    TcpResult,
)
from grader.probes.shell import Op, Outcome, announce, failure_reason, http_status, parse_nslookup
from grader.verdicts import EnvError, Fail, NotApplicable


@dataclass(frozen=True)
class ProbePolicy:
    """Retry policy as data: per-try timeout, overall deadline, pause between rounds, exec slack."""

    per_try_s: float = 3.0
    deadline_s: float = 15.0
    backoff_s: float = 0.5
    exec_slack_s: float = 15.0
    hostname_rounds_size: int = 8


class Vantage(ABC):
    """Probe operations shared by every vantage point."""

    def __init__(self, name: str, policy: ProbePolicy | None = None, partner_ip: str | None = None) -> None:
        self.name = name
        self.policy = policy or ProbePolicy()
        self.recorder = Recorder(name)
        self.proven = False  # reached something in this run: its "cannot reach" means something
        # a URL this vantage point must always reach: the partner server on the kind network, when there is one
        self.known_good: str | None = f"http://{partner_ip}/hostname" if partner_ip else None
        self._reason: str | None = None

    # --- what subclasses provide -------------------------------------------------------------
    @property
    def available(self) -> bool:
        return self.unavailable_reason() == ""

    def unavailable_reason(self) -> str:
        """Empty when this vantage point can be used on this cluster, else why not (found out once)."""
        if self._reason is None:
            self._reason = self._find_unavailable_reason()
        return self._reason

    def _find_unavailable_reason(self) -> str:
        return ""

    def preset_reason(self, reason: str) -> None:
        """Availability already known (checked once per environment)."""
        self._reason = reason

    @abstractmethod
    def _run_ops(self, ops: list[Op], per_try_s: float, timeout_s: float) -> list[Outcome]:
        """Run the ops once (in parallel where possible); raise EnvError if the vantage itself broke."""

    def exec_true(self) -> None:
        """The cheapest round trip (used by the benchmark)."""
        self._run_ops([], 1.0, self.policy.exec_slack_s)

    # --- plumbing ----------------------------------------------------------------------------
    def attach(self, matrix: Matrix | None) -> None:
        self.recorder.matrix = matrix

    def require(self) -> None:
        reason = self.unavailable_reason()
        if reason:
            raise NotApplicable(f"{self.name} not available: {reason}")

    def _rounds(
        self,
        ops: list[Op],
        deadline_s: float | None,
        done: list[bool] | None = None,
    ) -> tuple[list[Outcome], list[list[Attempt]]]:
        """Retry not-yet-successful ops in rounds until all succeed or the deadline passes."""
        self.require()
        announce(self.name, ops)
        per_try = self.policy.per_try_s
        deadline = self.policy.deadline_s if deadline_s is None else deadline_s
        start = time.monotonic()
        outcomes: list[Outcome] = [Outcome(-1, "not run", "")] * len(ops)
        attempts: list[list[Attempt]] = [[] for _ in ops]
        pending = list(range(len(ops)))

        def one_round() -> str:
            outs = self._run_ops([ops[i] for i in pending], per_try, per_try + self.policy.exec_slack_s)
            now = time.monotonic() - start
            for i, out in zip(pending, outs, strict=True):
                outcomes[i] = out
                ok = succeeded(ops[i], out)
                attempts[i].append(Attempt(round(now, 2), ok, summary(ops[i], out, per_try)))
                self.proven = self.proven or ok
            pending[:] = [i for i in pending if not succeeded(ops[i], outcomes[i])]
            return f"{len(pending)} of {len(ops)} not answered" if pending else ""

        self._poll(one_round, deadline)
        return outcomes, attempts

    def _poll(self, one_round: Callable[[], str], deadline_s: float) -> None:
        """Rounds a backoff apart until one returns "" (done) or the next would end past the deadline."""
        with contextlib.suppress(WaitTimeout):
            wait_for(
                lambda: (True if not (state := one_round()) else None, state),
                what=self.name,
                timeout_s=deadline_s - self.policy.per_try_s - self.policy.backoff_s,
                interval_s=self.policy.backoff_s,
            )

    # --- probe operations ----------------------------------------------------------------------
    def http_get(
        self,
        url: str,
        host_header: str | None = None,
        *,
        expect_status: int | None = None,
        deadline_s: float | None = None,
        target: str | None = None,
    ) -> HttpResult:
        """GET url, retrying until an HTTP answer below 500 (or `expect_status`) or the deadline."""
        return self.http_batch(
            [url], host_header, expect_status=expect_status, deadline_s=deadline_s, targets=[target] if target else None
        )[0]

    def http_batch(
        self,
        urls: list[str],
        host_header: str | None = None,
        *,
        expect_status: int | None = None,
        deadline_s: float | None = None,
        targets: list[str] | None = None,
    ) -> list[HttpResult]:
        """Several GETs in one exec per round; results in order."""
        ops = [Op("http", url, host_header=host_header) for url in urls]
        outcomes, attempts = self._rounds(ops, deadline_s)
        results = []
        for i, (url, out) in enumerate(zip(urls, outcomes, strict=True)):
            host, port = split_url(url)
            status = http_status(out)
            results.append(
                HttpResult(
                    target=(targets[i] if targets else self._label(host, port, host_header)),
                    host=host,
                    port=port,
                    attempts=attempts[i],
                    error="" if status else failure_reason(out, self.policy.per_try_s),
                    recorder=self.recorder,
                    url=url,
                    status=status,
                    body=out.body,
                    expect_status=expect_status,
                )
            )
        return results

    def tcp_connect(
        self, host: str, port: int, *, deadline_s: float | None = None, target: str | None = None
    ) -> TcpResult:
        outcomes, attempts = self._rounds([Op("tcp", host, port)], deadline_s)
        out = outcomes[0]
        return TcpResult(
            target=target or self._label(host, port, None),
            host=host,
            port=port,
            attempts=attempts[0],
            error="" if out.rc == 0 else failure_reason(out, self.policy.per_try_s),
            recorder=self.recorder,
            connected=out.rc == 0,
        )

    def dns(self, name: str, type: str = "A", *, deadline_s: float | None = None) -> DnsResult:
        """Look name up (use fully qualified names); type A or CNAME. Retries until records or deadline."""
        kind = type.upper()
        if kind not in ("A", "CNAME"):
            raise ValueError("dns type must be 'A' or 'CNAME'")
        outcomes, attempts = self._rounds([Op("dns", name, dns_type=kind)], deadline_s)
        addresses, cnames, error = parse_nslookup(outcomes[0].body + "\n" + outcomes[0].err)
        if not error and not (addresses or cnames):
            error = failure_reason(outcomes[0], self.policy.per_try_s) if outcomes[0].rc else "no records"
        label = self._label(name, 53, None).removesuffix(":53") + (" (CNAME)" if kind == "CNAME" else "")
        return DnsResult(
            name=name,
            type=kind,
            addresses=addresses,
            cnames=cnames,
            error=error,
            raw=outcomes[0].body,
            attempts=attempts[0],
            recorder=self.recorder,
            target=label,
        )

    def collect_hostnames(
        self, url: str, expect: Iterable[str], host_header: str | None = None, *, deadline_s: float | None = None
    ) -> HostnamesResult:
        """GET url (an agnhost /hostname) repeatedly, in batches, until every expected backend answered."""
        self.require()
        expected = set(expect)
        host, port = split_url(url)
        result = HostnamesResult(
            url=url,
            expected=expected,
            recorder=self.recorder,
            target=self._label(host, port, host_header),
            host=host,
            port=port,
        )
        deadline = self.policy.deadline_s if deadline_s is None else deadline_s
        start = time.monotonic()
        ops = [Op("http", url, host_header=host_header)] * max(self.policy.hostname_rounds_size, 2 * len(expected))
        announce(self.name, ops[:1])

        def one_round() -> str:
            outs = self._run_ops(ops, self.policy.per_try_s, self.policy.per_try_s + self.policy.exec_slack_s)
            result.requests += len(outs)
            answered = [o.body.strip() for o in outs if http_status(o) == 200 and o.body.strip()]
            result.seen.update(answered)
            self.proven = self.proven or bool(answered)
            result.attempts.append(
                Attempt(
                    round(time.monotonic() - start, 2),
                    bool(answered),
                    f"{len(answered)}/{len(outs)} answered, {len(result.seen)} backends seen",
                )
            )
            return f"missing {sorted(result.missing)}" if result.missing else ""

        self._poll(one_round, deadline)
        return result

    def must_not_reach(
        self,
        url: str,
        *,
        hint: str,
        host_header: str | None = None,
        known_good: str | None = None,
        target: str | None = None,
    ) -> None:
        """FAIL with hint if url answers. Counts only once this vantage point reached a known-good target
        in this run; if it never did, the verdict is ENV-ERROR (inconclusive), never a pass."""
        host, port = split_url(url)
        self._must_not(
            Op("http", url, host_header=host_header), hint, known_good, target or self._label(host, port, host_header)
        )

    def must_not_connect(
        self, host: str, port: int, *, hint: str, known_good: str | None = None, target: str | None = None
    ) -> None:
        """FAIL with hint if a TCP connection to host:port succeeds (same known-good rule as must_not_reach)."""
        self._must_not(Op("tcp", host, port), hint, known_good, target or self._label(host, port, None))

    def _must_not(self, op: Op, hint: str, known_good: str | None, label: str) -> None:
        self.require()
        good = known_good or self.known_good
        control = control_for(op)
        ops = [*announce(self.name, [op]), control]  # the control address is not news to a learner
        if not self.proven and good:
            ops.append(Op("http", good))
        outs = self._run_ops(ops, self.policy.per_try_s, self.policy.per_try_s + self.policy.exec_slack_s)
        reached = answered(op, outs[0])
        observed = "answered" if reached else failure_reason(outs[0], self.policy.per_try_s)
        if reached and answered(control, outs[1]):
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
                reached = differs(outs[0], outs[1])
            observed = (
                "answered" if reached else "only the network's interceptor answered"
            ) + f" (compared with never-routed {SINKHOLE})"
        if reached:
            self.recorder.record(label, False, True, observed)
            raise Fail(hint, detail=f"from {self.name}: {label} answered but must not be reachable")
        if len(outs) > 2 and succeeded(ops[2], outs[2]):
            self.proven = True
        if not self.proven and good:
            self.http_get(good, target=f"known-good {good}")  # retry with the full deadline
        if not self.proven:
            self.recorder.record(label, False, False, "inconclusive: " + observed)
            why = f"could not reach the known-good target {good}" if good else "has no known-good target"
            raise EnvError(
                f"{self.name} {why} in this run, so '{label} is not reachable' cannot be judged "
                "(is the probe's network working?)"
            )
        self.recorder.record(label, False, False, observed)

    def _label(self, host: str, port: int, host_header: str | None) -> str:
        base = self.recorder.matrix.label_for(host, port) if self.recorder.matrix else f"{host}:{port}"
        return f"{base} (Host: {host_header})" if host_header else base


def fail_unless(condition: bool, hint: str, detail: str = "") -> None:
    if not condition:
        raise Fail(hint, detail)


__all__ = ["ProbePolicy", "ProbeResult", "Vantage", "fail_unless", "split_url"]
