"""A class can use up the public pool, and still no auto-assigned LoadBalancer is handed a static IP (issue 21).

The test takes every free address of the `public` pool, so the other e2e tests, which need some, would fail
beside it: it is `disruptive` (runs after every other test, alone).
"""

from __future__ import annotations

import ipaddress
import json
import uuid
from collections.abc import Iterator

import pytest

from grader.base.wait import wait_for
from grader.cluster import docker, metallb
from grader.cluster.net import LabAddresses, lab_addresses
from grader.kube.client import Kube, managed_labels

pytestmark = [pytest.mark.e2e, pytest.mark.disruptive]

EXTRA = 3  # Services beyond the free addresses: each must be refused by MetalLB, never given a static IP


@pytest.fixture
def namespace(kube: Kube) -> Iterator[str]:
    name = f"sl-e2e-pools-{uuid.uuid4().hex[:6]}"
    kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": managed_labels("e2e")}})
    yield name
    kube.delete("namespace", name)


def _addresses() -> LabAddresses:
    subnet = docker.kind_ipv4_subnet()
    assert subnet, "the kind docker network has no IPv4 subnet: is the lab cluster up?"
    return lab_addresses(subnet)


def _balancer(name: str) -> dict[str, object]:
    # No selector, no pods: MetalLB hands out addresses whether or not anything answers there.
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}]},
    }


def _assigned(kube: Kube, namespace: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for svc in kube.list("services", namespace):
        for ingress in svc.get("status", {}).get("loadBalancer", {}).get("ingress") or []:
            out[svc["metadata"]["name"]] = ingress.get("ip", "")
    return out


def _refused(kube: Kube, namespace: str) -> set[str]:
    return {
        event["involvedObject"]["name"]
        for event in kube.list("events", namespace)
        if event.get("reason") == "AllocationFailed"
    }


def test_an_exhausted_public_pool_never_hands_out_a_static_ip(kube: Kube, namespace: str) -> None:
    addresses = _addresses()
    in_use = len(metallb.pool_usage(kube).get(metallb.PUBLIC_POOL, []))
    spans = (tuple(map(ipaddress.ip_address, block.split("-"))) for block in addresses.public_auto_ranges)
    free = sum(int(last) - int(first) + 1 for first, last in spans) - in_use
    names_ = [f"lb-{i:02d}" for i in range(free + EXTRA)]
    kube.apply(json.dumps({"apiVersion": "v1", "kind": "List", "items": [_balancer(n) for n in names_]}), namespace)

    def settled() -> tuple[bool | None, str]:
        assigned, refused = _assigned(kube, namespace), _refused(kube, namespace)
        state = f"{len(assigned)} assigned of {free} free, {len(refused)} refused by MetalLB"
        return (True if len(assigned) == free and len(refused) >= EXTRA else None), state

    wait_for(settled, what="MetalLB has handed out the whole public pool and refused the rest", timeout_s=120)
    assigned = _assigned(kube, namespace)
    assert addresses.static_ip not in assigned.values()
    assert addresses.internal_static_ip not in assigned.values()
    pending = set(names_) - set(assigned)
    assert len(pending) == EXTRA, pending
    assert pending <= _refused(kube, namespace), pending
