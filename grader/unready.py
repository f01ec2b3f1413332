"""Pods whose readiness probe has had its chances and still says no: a verdict that need not wait out a deadline.

A container starts not Ready and turns Ready after its probe succeeds once. When it has been running, as
this run saw it, longer than the probe needs for a few tries (initialDelaySeconds, then two periods and
timeouts) and is still not Ready, its probe fails: the wait for it is over. Time is measured on our own
clock from when this run first saw the container running, so a node's clock cannot make it early.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from grader._kube import Obj
from grader.diagnose import pod_ready

TRIES = 2  # probe periods a container gets before its not-ready is taken as final
MARGIN_S = 2.0


@dataclass
class ReadinessWatch:
    clock: Callable[[], float] = time.monotonic
    _first_running: dict[str, float] = field(default_factory=dict)  # container ID -> when first seen running

    def stuck(self, pod: Obj) -> bool:
        """Whether the pod is not Ready for good: some container with a readiness probe (and no startup
        probe still to pass) has run long enough for the probe to have said yes, and is not ready."""
        now = self.clock()
        specs = {c.get("name"): c for c in pod.get("spec", {}).get("containers", [])}
        for status in pod.get("status", {}).get("containerStatuses") or []:
            spec = specs.get(status.get("name"), {})
            probe = spec.get("readinessProbe")
            running = (status.get("state") or {}).get("running")
            if not probe or spec.get("startupProbe") or running is None or status.get("ready"):
                continue
            seen = self._first_running.setdefault(str(status.get("containerID")), now)
            if now - seen >= needed_s(probe):
                return True
        return False


def needed_s(probe: Obj) -> float:
    """Seconds after start by which a passing readiness probe has made its container ready."""
    period = float(probe.get("periodSeconds") or 10)
    timeout = float(probe.get("timeoutSeconds") or 1)
    successes = int(probe.get("successThreshold") or 1)
    return float(probe.get("initialDelaySeconds") or 0) + (TRIES + successes - 1) * (period + timeout) + MARGIN_S


def too_few_can_turn_ready(chosen: list[Obj], ready: int, count: int, probes: ReadinessWatch) -> bool:
    """Some selected pods' readiness probes have had their chances and said no, and the ready endpoints plus
    the pods that may still turn Ready are fewer than wanted."""
    unready = [p for p in chosen if not pod_ready(p) and not p.get("metadata", {}).get("deletionTimestamp")]
    stuck = [p for p in unready if probes.stuck(p)]
    return bool(stuck) and ready + len(unready) - len(stuck) < count
