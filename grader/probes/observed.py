"""What a probe saw: every result keeps its attempts, and asserting on it records a matrix cell."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from grader.base.outcomes import Diagnosis, Fail
from grader.probes.matrix import Matrix


@dataclass(frozen=True)
class Attempt:
    at_s: float  # seconds since the probe started
    ok: bool
    summary: str  # e.g. "HTTP 200", "connection refused", "timed out after 3s"


@dataclass
class Recorder:
    """Where a result records itself: the vantage's row in the run's matrix, and a diagnoser for hints."""

    vantage: str
    matrix: Matrix | None = None
    diagnose: Callable[[str, int], Diagnosis] | None = None
    source: str | None = None  # the address the vantage's packets come from, when it is fixed and known
    # why host:port drops what comes from `source` ('' when nothing known explains it)
    silence: Callable[[str, int, str], str] | None = None

    def record(
        self,
        target: str,
        expected: bool | None,
        observed: bool,
        detail: str,
        *,
        address: str = "",
        control: str = "",
        see: str = "",
    ) -> None:
        if self.matrix is not None:
            self.matrix.record(
                self.vantage,
                target,
                expected=expected,
                observed=observed,
                detail=detail,
                address=address,
                control=control,
                see=see,
            )

    def extra(self, host: str, port: int) -> Diagnosis:
        """What the cluster says of a target that does not answer (a targetPort no pod declares), if anything."""
        return self.diagnose(host, port) if self.diagnose else Diagnosis()

    def silent_because(self, host: str, port: int) -> str:
        return self.silence(host, port, self.source) if self.silence and self.source else ""


@dataclass
class ProbeResult:
    target: str  # readable column name
    host: str
    port: int
    attempts: list[Attempt] = field(default_factory=list)
    error: str = ""  # last failure, learner-readable
    recorder: Recorder | None = None

    @property
    def ok(self) -> bool:
        raise NotImplementedError

    @property
    def observed(self) -> str:
        raise NotImplementedError

    def describe_attempts(self) -> str:
        tries = len(self.attempts)
        last = self.attempts[-1].summary if self.attempts else "no attempt"
        vantage = self.recorder.vantage if self.recorder else "probe"
        return f"from {vantage} to {self.target}: {last} ({tries} tr{'y' if tries == 1 else 'ies'})"

    def _record(self, expected: bool | None) -> None:
        if self.recorder:
            self.recorder.record(self.target, expected, self.ok, self.observed, address=f"{self.host}:{self.port}")

    def must_succeed(self, hint: str, *, diagnosis: str = "") -> ProbeResult:
        """FAIL with `hint` (plus what was observed and a diagnosis) unless the probe succeeded. `diagnosis`: the
        id of the mistake the hint names; a diagnosis the cluster adds (a targetPort no pod declares) replaces it."""
        self._record(True)
        if not self.ok:
            extra = self.recorder.extra(self.host, self.port) if self.recorder else Diagnosis()
            raise _failure(hint, diagnosis, extra, self.describe_attempts())
        return self


@dataclass
class HttpResult(ProbeResult):
    url: str = ""
    status: int | None = None
    body: str = ""
    expect_status: int | None = None

    @property
    def ok(self) -> bool:
        if self.status is None:
            return False
        return self.status == self.expect_status if self.expect_status else self.status < 400

    @property
    def observed(self) -> str:
        return f"HTTP {self.status}" if self.status is not None else (self.error or "no answer")

    def must_succeed(self, hint: str, *, diagnosis: str = "") -> HttpResult:
        super().must_succeed(hint, diagnosis=diagnosis)
        return self

    def must_contain(self, text: str, hint: str, *, diagnosis: str = "") -> HttpResult:
        self.must_succeed(hint, diagnosis=diagnosis)
        if text not in self.body:
            raise Fail(
                hint,
                detail=f"{self.describe_attempts()}; body did not contain {text!r}: {self.body[:200]!r}",
                diagnosis=diagnosis,
            )
        return self


@dataclass
class TcpResult(ProbeResult):
    connected: bool = False

    @property
    def ok(self) -> bool:
        return self.connected

    @property
    def observed(self) -> str:
        return "connected" if self.connected else (self.error or "no answer")

    def must_succeed(self, hint: str, *, diagnosis: str = "") -> TcpResult:
        super().must_succeed(hint, diagnosis=diagnosis)
        return self


@dataclass
class DnsResult:
    name: str
    type: str
    addresses: list[str] = field(default_factory=list)
    cnames: list[str] = field(default_factory=list)
    error: str = ""  # e.g. "NXDOMAIN"
    raw: str = ""
    attempts: list[Attempt] = field(default_factory=list)
    recorder: Recorder | None = None
    target: str = ""

    @property
    def records(self) -> list[str]:
        return self.cnames if self.type == "CNAME" else self.addresses

    @property
    def ok(self) -> bool:
        return bool(self.records)

    def _record(self, expected: bool | None) -> None:
        if self.recorder:
            observed = ", ".join(self.records) or self.error or "no records"
            self.recorder.record(self.target or f"DNS {self.name}", expected, self.ok, observed, address=self.name)

    def must_resolve(self, hint: str, *, to: str | None = None, diagnosis: str = "") -> DnsResult:
        """FAIL with hint unless the name has records of the asked type (and `to` is among them, if given)."""
        self._record(True)
        wanted = to.rstrip(".") if to else None
        if not self.ok or (wanted is not None and wanted not in self.records):
            seen = ", ".join(self.records) or self.error or "no records"
            raise Fail(
                hint, detail=f"DNS {self.type} {self.name}: {seen} ({len(self.attempts)} tries)", diagnosis=diagnosis
            )
        return self


@dataclass
class HostnamesResult:
    url: str
    expected: set[str]
    seen: set[str] = field(default_factory=set)
    requests: int = 0
    attempts: list[Attempt] = field(default_factory=list)
    recorder: Recorder | None = None
    target: str = ""
    host: str = ""
    port: int = 0

    @property
    def missing(self) -> set[str]:
        return self.expected - self.seen

    @property
    def ok(self) -> bool:
        return bool(self.seen) and not self.missing

    def must_cover(self, hint: str, *, diagnosis: str = "") -> HostnamesResult:
        """FAIL with hint unless every expected backend answered."""
        if self.recorder:
            self.recorder.record(
                self.target,
                True,
                bool(self.seen),
                f"{len(self.seen)}/{len(self.expected)} backends",
                address=f"{self.host}:{self.port}",
            )
        if not self.ok:
            extra = self.recorder.extra(self.host, self.port) if self.recorder and not self.seen else Diagnosis()
            detail = f"{self.url}: saw {sorted(self.seen)} in {self.requests} requests, never {sorted(self.missing)}"
            raise _failure(hint, diagnosis, extra, detail)
        return self


def _failure(hint: str, diagnosis: str, extra: Diagnosis, detail: str) -> Fail:
    """The Fail of a probe that did not answer: the check's hint, and what the cluster says (unless the check said
    it already), whose id then names the mistake."""
    if extra and extra.text not in hint:
        return Fail(f"{hint} {extra.text}", detail, diagnosis=extra.id or diagnosis)
    return Fail(hint, detail, diagnosis=diagnosis)


@dataclass(frozen=True)
class HttpsAnswer:
    """One HTTPS GET: the certificate the server presented for the name asked (SNI) and what it answered."""

    url: str
    certificate: bytes = b""  # the leaf certificate, DER; empty when no TLS session was made
    status: int | None = None
    body: str = ""
    error: str = ""

    @property
    def observed(self) -> str:
        return f"HTTP {self.status}" if self.status is not None else (self.error or "no answer")
