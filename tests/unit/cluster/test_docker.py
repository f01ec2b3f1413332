"""Why a kind cluster's API server does not answer, as told by Docker: each cause names its own fix."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from grader.base.run import Result
from grader.cluster import docker

Runner = Callable[..., Result]


def _docker(*, engine: bool = True, control_plane: dict[str, object] | None = None) -> Runner:
    def fake(argv: list[str], **_: object) -> Result:
        if argv[:2] == ["docker", "version"]:
            return Result(
                argv,
                0 if engine else 1,
                "27.0.1" if engine else "",
                "" if engine else "Cannot connect to the Docker daemon at unix:///var/run/docker.sock",
            )
        if argv[:3] == ["docker", "container", "inspect"]:
            if control_plane is None:
                return Result(argv, 1, "", "Error: No such container")
            return Result(argv, 0, json.dumps([control_plane]), "")
        raise AssertionError(f"unexpected command {argv}")

    return fake


@pytest.mark.parametrize(
    ("runner", "expected"),
    [
        (_docker(engine=False), "the Docker engine that runs kind does not answer (Cannot connect"),
        (_docker(), "the kind cluster 'servicelab' is gone (no servicelab-control-plane container)"),
        (_docker(control_plane={"State": {"Running": False, "Status": "exited"}}), "container is exited"),
    ],
)
def test_each_cause_is_named_with_its_fix(monkeypatch: pytest.MonkeyPatch, runner: Runner, expected: str) -> None:
    monkeypatch.setattr(docker, "run", runner)
    why = docker.why_kind_unreachable("kind-servicelab")
    assert why is not None
    assert expected in why
    assert "servicelab up" in why


def test_a_running_control_plane_or_another_cluster_says_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docker, "run", _docker(control_plane={"State": {"Running": True, "Status": "running"}}))
    assert docker.why_kind_unreachable("kind-servicelab") is None
    assert docker.why_kind_unreachable("aks-prod") is None
    assert docker.why_kind_unreachable(None) is None


def test_the_kind_networks_container_addresses_are_read_without_a_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    network = {
        "Containers": {
            "a1": {"Name": "servicelab-worker", "IPv4Address": "172.18.0.5/16", "IPv6Address": "fc00:f853::5/64"},
            "b2": {"Name": "servicelab-outside", "IPv4Address": "172.18.0.6/16", "IPv6Address": ""},
        }
    }
    monkeypatch.setattr(
        docker, "inspect", lambda kind, name, **_: network if (kind, name) == ("network", "kind") else None
    )
    assert docker.kind_network_addresses() == {"172.18.0.5", "fc00:f853::5", "172.18.0.6"}
    monkeypatch.setattr(docker, "inspect", lambda *_, **__: None)
    assert docker.kind_network_addresses() == set()
