"""The classroom's node-port wall on the real lab cluster: in a student namespace a Service may hold its own node
port, none, or one the cluster picks, but not the one the classroom gave another student.

The wall is made by grader.classroom.manifests.node_port_wall under a test name (servicelab-test-vars-*) bound to
a test role, so it selects only the two throwaway namespaces (vars-test-*) made here; all of it is deleted
afterwards. Run: pytest --e2e tests/e2e/test_node_port_wall_e2e.py
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from _admission import enforced, refusal

from grader.base.wait import wait_for
from grader.classroom.assignment import CLASSROOM_NODE_PORTS, NODE_PORT
from grader.classroom.manifests import NODE_PORT_KEY, node_port_wall
from grader.cluster import podguard
from grader.kube.client import Kube, Obj, managed_labels

pytestmark = pytest.mark.e2e

WALL = "servicelab-test-vars-wall"
ROLE = "vars-test-wall"
ACTIVE_S = 60.0  # the API server type-checks a new policy and starts enforcing it within seconds


@dataclass(frozen=True)
class Wall:
    kube: Kube
    own: dict[str, int]  # namespace -> its node port


def _service(name: str, node_port: int | None = None, **spec: object) -> Obj:
    port: Obj = {"port": 80, "targetPort": 8080, **({"nodePort": node_port} if node_port else {})}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": managed_labels()},
        "spec": {"type": "NodePort", "selector": {"app": name}, "ports": [port], **spec},
    }


def _free_ports(kube: Kube, count: int) -> list[int]:
    """Ports of the classroom's band that no Service on the cluster holds now."""
    held = {
        port.get("nodePort")
        for svc in kube.list("services", all_namespaces=True)
        for port in (svc.get("spec") or {}).get("ports") or []
    }
    low, high = CLASSROOM_NODE_PORTS
    return [port for port in range(high, low, -1) if port not in held][:count]


@pytest.fixture(scope="module")
def wall(kube: Kube) -> Iterator[Wall]:
    stem = f"vars-test-{secrets.token_hex(2)}"
    names = [f"{stem}-a", f"{stem}-b"]
    ports = _free_ports(kube, 2)
    own = dict(zip(names, ports, strict=True))
    policy, binding = node_port_wall({ns: {NODE_PORT: str(port)} for ns, port in own.items()}, name=WALL, role=ROLE)
    try:
        for ns, port in own.items():
            labels = {**managed_labels(), podguard.ROLE_KEY: ROLE, NODE_PORT_KEY: str(port)}
            kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}})
        kube.apply(json.dumps(policy))
        kube.apply(json.dumps(binding))
        first, second = names
        canary = _service("canary", own[second])

        wait_for(
            lambda: enforced(kube, [WALL], first, [canary]), what=f"{WALL} enforced in {first}", timeout_s=ACTIVE_S
        )
        yield Wall(kube, own)
    finally:
        kube.delete("validatingadmissionpolicybinding", WALL)
        kube.delete("validatingadmissionpolicy", WALL)
        for ns in names:
            kube.delete("namespace", ns, wait=True)
        assert kube.get("validatingadmissionpolicy", WALL) is None
        assert all(kube.get("namespace", ns) is None for ns in names)


def test_a_student_namespace_may_hold_its_own_node_port(wall: Wall) -> None:
    ns, port = next(iter(wall.own.items()))  # the first only: the other's port stays free for the refusals below
    stored = wall.kube.create({**_service("mine", port), "metadata": {"name": "mine", "namespace": ns}})
    assert stored["spec"]["ports"][0]["nodePort"] == port


def test_another_students_node_port_is_refused_with_the_walls_message(wall: Wall) -> None:
    (first, mine), (_, theirs) = wall.own.items()
    for service in (
        _service("theirs", theirs),
        _service("theirs-too", None, ports=[{"name": "a", "port": 80}, {"name": "b", "port": 81, "nodePort": theirs}]),
        _service("health", None, type="LoadBalancer", externalTrafficPolicy="Local", healthCheckNodePort=theirs),
    ):
        err = refusal(wall.kube, first, service)
        assert err is not None, f"{service['metadata']['name']} was admitted"
        assert (err.status, err.reason) == (403, "Forbidden"), err
        assert f"node-port: node port {theirs} is another student's: yours is {mine}" in str(err)
    assert wall.kube.get("service", "theirs", first) is None


def test_a_service_that_names_no_node_port_is_admitted(wall: Wall) -> None:
    first = next(iter(wall.own))
    # the API server allocates one before admission: a random port of ~2,700, one of which is the other's
    stored = wall.kube.create({**_service("picked"), "metadata": {"name": "picked", "namespace": first}})
    assert stored["spec"]["ports"][0]["nodePort"] not in wall.own.values()
    clusterip = {**_service("plain", type="ClusterIP"), "metadata": {"name": "plain", "namespace": first}}
    assert "nodePort" not in wall.kube.create(clusterip)["spec"]["ports"][0]
