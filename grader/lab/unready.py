"""Pods whose readiness probe has had its chances and still says no: a verdict that need not wait out a deadline.

A container starts not Ready and turns Ready after its probe succeeds once. When it has been running, as
this run saw it, longer than the probe needs for a few tries (initialDelaySeconds, then two periods and
timeouts) and is still not Ready, its probe fails: the wait for it is over. Time is measured on our own
clock from when this run first saw the container running, so a node's clock cannot make it early.

The kubelet also says so itself, sooner: each failed try is an `Unhealthy` event ("Readiness probe failed: ...",
repeats counted). One or two failures right at start are normal, the app not listening yet (seen on every
correct readiness solution); FAILURES_FINAL failures spread over at least one probe period are not. A timeout
is not counted (a loaded node can make a healthy app slow): the clock rule above still decides then.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from grader.kube.client import Obj
from grader.lab.diagnose import pod_ready

TRIES = 2  # probe periods a container gets before its not-ready is taken as final
MARGIN_S = 2.0
FAILURES_FINAL = 3  # reported failed tries, over at least a period, that make a not-ready final
_SLOW = ("timeout", "deadline exceeded")
_ADDRESS = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}|\[?[0-9a-f]*:[0-9a-f:]+\]?")


@dataclass(frozen=True)
class ProbeFailures:
    """A pod's failed readiness tries as its kubelet reported them: how many, over how long, the last reason."""

    count: int
    span_s: float  # first to last report, in the events' whole seconds
    reason: str


def readiness_failures(events: list[Obj]) -> dict[str, ProbeFailures]:
    """Pod name -> its failed readiness tries, timeouts left out."""
    by_pod: dict[str, list[Obj]] = {}
    for event in events:
        message = str(event.get("message") or "")
        involved = event.get("involvedObject") or {}
        if event.get("reason") != "Unhealthy" or involved.get("kind") != "Pod":
            continue
        if message.startswith("Readiness probe failed") and not any(w in message.lower() for w in _SLOW):
            by_pod.setdefault(str(involved.get("name")), []).append(event)
    failures = {}
    for pod, found in by_pod.items():
        first = min(_stamp(e, "firstTimestamp") for e in found)
        last = max(_stamp(e, "lastTimestamp") for e in found)
        newest = max(found, key=lambda e: _stamp(e, "lastTimestamp"))
        count = sum(int(e.get("count") or 1) for e in found)
        failures[pod] = ProbeFailures(count, (last - first).total_seconds(), str(newest.get("message")))
    return failures


def _stamp(event: Obj, field_name: str) -> datetime:
    stamp = event.get(field_name) or event.get("eventTime") or "1970-01-01T00:00:00Z"
    return datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))


@dataclass
class ReadinessWatch:
    clock: Callable[[], float] = time.monotonic
    _first_running: dict[str, float] = field(default_factory=dict)  # container ID -> when first seen running
    failures: dict[str, ProbeFailures] = field(default_factory=dict)  # pod name -> as last reported

    def hear(self, events: list[Obj]) -> None:
        self.failures.update(readiness_failures(events))

    def kubelet_says(self, pods: list[Obj]) -> str:
        """The kubelet's last reason a readiness try failed, shared by most of these pods ('' if none)."""
        names = {_name(p) for p in pods}
        by_reason: dict[str, list[str]] = {}
        for name, failed in self.failures.items():
            if name in names:  # one reason per pod address: grouped with the address left out
                by_reason.setdefault(_ADDRESS.sub("POD", failed.reason), []).append(failed.reason)
        said = max(by_reason.values(), key=len, default=[])
        return f" The kubelet says: {min(said)}" if said else ""

    def stuck(self, pod: Obj, failures: ProbeFailures | None = None) -> bool:
        """Whether the pod is not Ready for good: some container with a readiness probe (and no startup
        probe still to pass) has run long enough for the probe to have said yes, or has had its tries
        reported failed, and is not ready."""
        now = self.clock()
        specs = {c.get("name"): c for c in pod.get("spec", {}).get("containers", [])}
        for status in pod.get("status", {}).get("containerStatuses") or []:
            spec = specs.get(status.get("name"), {})
            probe = spec.get("readinessProbe")
            running = (status.get("state") or {}).get("running")
            if not probe or spec.get("startupProbe") or running is None or status.get("ready"):
                continue
            seen = self._first_running.setdefault(str(status.get("containerID")), now)
            if now - seen >= needed_s(probe) or _tries_failed(probe, failures):
                return True
        return False


def _tries_failed(probe: Obj, failures: ProbeFailures | None) -> bool:
    period = float(probe.get("periodSeconds") or 10)
    return failures is not None and failures.count >= FAILURES_FINAL and failures.span_s >= period


def needed_s(probe: Obj) -> float:
    """Seconds after start by which a passing readiness probe has made its container ready."""
    period = float(probe.get("periodSeconds") or 10)
    timeout = float(probe.get("timeoutSeconds") or 1)
    successes = int(probe.get("successThreshold") or 1)
    return float(probe.get("initialDelaySeconds") or 0) + (TRIES + successes - 1) * (period + timeout) + MARGIN_S


def too_few_can_turn_ready(
    chosen: list[Obj],
    ready: int,
    count: int,
    probes: ReadinessWatch,
    events: Callable[[], list[Obj]] | None = None,
) -> bool:
    """Some selected pods' readiness probes have had their chances and said no, and the ready endpoints plus
    the pods that may still turn Ready are fewer than wanted. `events` (the namespace's) are read only while
    some pod is not Ready."""
    unready = [p for p in chosen if not pod_ready(p) and not p.get("metadata", {}).get("deletionTimestamp")]
    if unready and events is not None:
        probes.hear(events())
    stuck = [p for p in unready if probes.stuck(p, probes.failures.get(_name(p)))]
    return bool(stuck) and ready + len(unready) - len(stuck) < count


def _name(pod: Obj) -> str:
    return str(pod.get("metadata", {}).get("name", ""))
