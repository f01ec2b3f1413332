"""A vantage point: somewhere probes run from (probe pod, other-namespace pod, outside container, host).

Subclasses only say how to run one round of probes (`_run_ops`); retries, deadlines, attempts and the
matrix live here, the must-not-reach rule in grader.probes.negative: the same for every vantage point.
"""

from __future__ import annotations

import contextlib
import time
from abc import abstractmethod
from collections.abc import Callable, Iterable

from grader.base.errors import EnvError
from grader.base.outcomes import Fail, NotApplicable
from grader.base.wait import WaitTimeout, wait_for
from grader.probes.matrix import Matrix
from grader.probes.negative import NegativeProbes
from grader.probes.observed import (
    Attempt,
    DnsResult,
    HostnamesResult,
    HttpResult,
    HttpsAnswer,
    ProbeResult,
    Recorder,
    TcpResult,
)
from grader.probes.outcomes import split_url, succeeded, summary
from grader.probes.policy import SAMPLING_BATCHES, ProbePolicy
from grader.probes.shell import Op, Outcome, announce, failure_reason, http_status, parse_nslookup
from grader.probes.streaks import FailureExplained, FailureStreaks


class Vantage(NegativeProbes):
    """Probe operations shared by every vantage point."""

    def __init__(self, name: str, policy: ProbePolicy | None = None, partner_ip: str | None = None) -> None:
        self.name = name
        self.policy = policy or ProbePolicy()
        self.recorder = Recorder(name)
        self.proven = False  # reached something in this run: its "cannot reach" means something
        # a URL this vantage point must always reach: the partner server on the kind network, when there is one
        self.known_good: str | None = f"http://{partner_ip}/hostname" if partner_ip else None
        self._reason: str | None = None
        # On the kind lab cluster the helper containers are part of the cluster: one that is missing or stopped is a
        # broken environment (ENV-ERROR, fixed by `servicelab up`), not a vantage point that cannot exist (n/a).
        self.required = False

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

    # --- plumbing ----------------------------------------------------------------------------
    def attach(self, matrix: Matrix | None) -> None:
        self.recorder.matrix = matrix

    def require(self) -> None:
        reason = self.unavailable_reason()
        if reason and self.required:
            raise EnvError(f"{self.name} not available: {reason}; `servicelab up` makes it again")
        if reason:
            raise NotApplicable(f"{self.name} not available: {reason}", vantage=self.name)

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
        streaks = FailureStreaks(ops, self.recorder)

        def one_round() -> str:
            outs = self._run_ops([ops[i] for i in pending], per_try, per_try + self.policy.exec_slack_s)
            now = time.monotonic() - start
            for i, out in zip(pending, outs, strict=True):
                outcomes[i] = out
                ok = succeeded(ops[i], out)
                attempts[i].append(Attempt(round(now, 2), ok, summary(ops[i], out, per_try)))
                self.proven = self.proven or ok
                streaks.note(i, [out], now)
            pending[:] = [i for i in pending if not succeeded(ops[i], outcomes[i])]
            streaks.check(pending, now)
            return f"{len(pending)} of {len(ops)} not answered" if pending else ""

        self._poll(one_round, deadline)
        return outcomes, attempts

    def _poll(self, one_round: Callable[[], str], deadline_s: float) -> None:
        """Rounds a backoff apart until one returns "" (done), a failure is explained, or the deadline."""
        with contextlib.suppress(WaitTimeout, FailureExplained):
            wait_for(
                lambda: (True if not (state := one_round()) else None, state),
                what=self.name,
                timeout_s=deadline_s - self.policy.one_round_s,
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

    def https_get(
        self,
        address: str,
        port: int,
        server_name: str,
        path: str,
        *,
        deadline_s: float,
        done: Callable[[HttpsAnswer], bool],
    ) -> HttpsAnswer:
        """An HTTPS GET that keeps the certificate presented (HostVantage); the busybox vantage points cannot."""
        raise NotApplicable(f"{self.name} cannot read the certificate a TLS server presents", vantage=self.name)

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
        start = time.monotonic()
        ops = [Op("http", url, host_header=host_header)] * max(self.policy.hostname_rounds_size, 2 * len(expected))
        announce(self.name, ops[:1])
        streaks = FailureStreaks(ops[:1], self.recorder)

        def one_batch() -> bool:  # whether every GET answered 200
            outs = self._run_ops(ops, self.policy.per_try_s, self.policy.per_try_s + self.policy.exec_slack_s)
            result.requests += len(outs)
            answered = [o.body.strip() for o in outs if http_status(o) == 200 and o.body.strip()]
            result.seen.update(answered)
            self.proven = self.proven or bool(answered)
            said = f"{len(answered)}/{len(outs)} answered, {len(result.seen)} backends seen"
            result.attempts.append(Attempt(round(now := time.monotonic() - start, 2), bool(answered), said))
            streaks.note(0, outs, now)
            streaks.check([0], now)
            return len(answered) == len(outs)

        def one_round() -> str:
            # Every GET answered, a backend unseen: the load balancer's dice, not a cluster still converging.
            for _ in range(SAMPLING_BATCHES):
                if not one_batch() or not result.missing:
                    break
            return f"missing {sorted(result.missing)}" if result.missing else ""

        self._poll(one_round, self.policy.deadline_s if deadline_s is None else deadline_s)
        return result

    def _retry_known_good(self, url: str) -> None:
        self.http_get(url, target=f"known-good {url}")  # retry with the full deadline


def fail_unless(condition: bool, hint: str, detail: str = "", *, diagnosis: str = "") -> None:
    if not condition:
        raise Fail(hint, detail, diagnosis=diagnosis)


__all__ = ["ProbePolicy", "ProbeResult", "Vantage", "fail_unless", "split_url"]
