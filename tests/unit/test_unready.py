"""When a readiness probe has had its tries: on our clock, from when the run first saw the container running."""

from __future__ import annotations

from typing import Any

from grader.unready import ReadinessWatch, needed_s, too_few_can_turn_ready

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
