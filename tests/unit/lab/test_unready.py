"""When a readiness probe has had its tries: on our clock, from when the run first saw the container running."""

from __future__ import annotations

from typing import Any

from grader.lab.unready import (
    FAILURES_FINAL,
    ProbeFailures,
    ReadinessWatch,
    needed_s,
    readiness_failures,
    too_few_can_turn_ready,
)

PROBE = {"httpGet": {"path": "/healthz", "port": 9090}, "periodSeconds": 2}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _pod(name: str, *, ready: bool, running: bool = True, probe: dict[str, Any] | None = PROBE, **spec: Any) -> Any:
    container = {"name": "app", **({"readinessProbe": probe} if probe else {}), **spec}
    state = {"running": {"startedAt": "2020-01-01T00:00:00Z"}} if running else {"waiting": {"reason": "x"}}
    return {
        "metadata": {"name": name},
        "spec": {"containers": [container]},
        "status": {
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [
                {"name": "app", "containerID": f"containerd://{name}", "state": state, "ready": ready}
            ],
        },
    }


def test_two_tries_of_period_and_timeout_after_the_initial_delay() -> None:
    assert needed_s({"periodSeconds": 2}) == 2 * (2 + 1) + 2
    assert needed_s({}) == 2 * (10 + 1) + 2  # kubelet's defaults
    assert needed_s({"initialDelaySeconds": 5, "periodSeconds": 3, "timeoutSeconds": 2, "successThreshold": 2}) == (
        5 + 3 * 5 + 2
    )


def test_a_node_clock_far_behind_makes_no_pod_stuck_early() -> None:
    clock = Clock()
    watch = ReadinessWatch(clock)
    pod = _pod("web-1", ready=False)  # startedAt years ago by the node's clock: not trusted
    assert not watch.stuck(pod)
    clock.now += needed_s(PROBE) - 0.1
    assert not watch.stuck(pod)
    clock.now += 0.2
    assert watch.stuck(pod)


def test_ready_or_probeless_or_not_yet_running_or_still_starting_up_is_never_stuck() -> None:
    clock = Clock()
    watch = ReadinessWatch(clock)
    pods = [
        _pod("ready", ready=True),
        _pod("no-probe", ready=False, probe=None),
        _pod("waiting", ready=False, running=False),
        _pod("startup", ready=False, startupProbe={"httpGet": {"port": 8080}}),
    ]
    for pod in pods:
        watch.stuck(pod)
    clock.now += 1000
    assert [p["metadata"]["name"] for p in pods if watch.stuck(p)] == []


def test_too_few_only_when_the_stuck_leave_fewer_than_wanted() -> None:
    clock = Clock()
    watch = ReadinessWatch(clock)
    stuck, starting = _pod("stuck", ready=False), _pod("starting", ready=False)
    too_few_can_turn_ready([stuck], 0, 1, watch)  # first seen now
    clock.now += needed_s(PROBE) + 1
    assert too_few_can_turn_ready([stuck], 2, 3, watch)
    assert not too_few_can_turn_ready([stuck], 3, 3, watch)
    assert not too_few_can_turn_ready([stuck, starting], 2, 3, watch)  # "starting" was first seen just now
    assert not too_few_can_turn_ready([starting], 0, 1, watch)


def _unhealthy(pod: str, message: str, count: int, first: str, last: str, *, reason: str = "Unhealthy") -> Any:
    return {
        "reason": reason,
        "message": message,
        "count": count,
        "firstTimestamp": f"2026-12-05T05:50:{first}Z",
        "lastTimestamp": f"2026-12-05T05:50:{last}Z",
        "involvedObject": {"kind": "Pod", "name": pod},
    }


REFUSED = 'Readiness probe failed: Get "http://10.244.1.5:9090/healthz": dial tcp 10.244.1.5:9090: connect: refused'
SLOW = 'Readiness probe failed: Get "http://10.244.1.5:8080/healthz": context deadline exceeded (Client.Timeout)'


def test_the_kubelets_failed_tries_are_counted_without_timeouts_or_other_probes() -> None:
    failures = readiness_failures(
        [
            _unhealthy("web-1", REFUSED, 3, "04", "07"),
            _unhealthy("web-2", SLOW, 9, "04", "20"),
            _unhealthy("web-3", "Liveness probe failed: boom", 9, "04", "20"),
            _unhealthy("web-4", REFUSED, 5, "04", "20", reason="BackOff"),
        ]
    )
    assert failures == {"web-1": ProbeFailures(3, 3.0, REFUSED)}


def test_failures_decide_before_the_clock_once_they_outlast_the_start_up_burst() -> None:
    clock = Clock()
    watch = ReadinessWatch(clock)
    pod = _pod("web-1", ready=False)
    # a correct app refuses once or twice right at start, before it listens
    assert not watch.stuck(pod, ProbeFailures(2, 0.0, REFUSED))
    # three failures inside one period: still the start-up burst
    assert not watch.stuck(pod, ProbeFailures(FAILURES_FINAL, 1.0, REFUSED))
    assert watch.stuck(pod, ProbeFailures(FAILURES_FINAL, 2.0, REFUSED))  # PROBE's period: 2 s
    assert not watch.stuck(_pod("ready", ready=True), ProbeFailures(9, 20.0, REFUSED))


def test_events_are_read_only_while_some_pod_is_not_ready() -> None:
    reads: list[int] = []

    def events() -> list[Any]:
        reads.append(1)
        return [_unhealthy("stuck", REFUSED, 3, "04", "07")]

    watch = ReadinessWatch(Clock())
    assert not too_few_can_turn_ready([_pod("ok", ready=True)], 1, 1, watch, events)
    assert reads == []
    assert too_few_can_turn_ready([_pod("stuck", ready=False)], 0, 1, watch, events)
    assert reads == [1]


def test_the_kubelets_reason_quoted_is_the_one_most_pods_share() -> None:
    watch = ReadinessWatch(Clock())
    other = REFUSED.replace("10.244.1.5", "10.244.2.9")
    watch.hear(
        [
            _unhealthy("web-1", REFUSED, 3, "04", "07"),
            _unhealthy("web-2", other, 3, "04", "07"),
            _unhealthy("warming", "Readiness probe failed: HTTP probe failed with statuscode: 503", 3, "04", "07"),
        ]
    )
    pods = [_pod(n, ready=False) for n in ("web-1", "web-2", "warming")]
    assert watch.kubelet_says(pods) == f" The kubelet says: {REFUSED}"
    assert watch.kubelet_says([_pod("elsewhere", ready=False)]) == ""
