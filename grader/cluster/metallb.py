"""MetalLB: the stand-in for the Azure Load Balancer (pools `public` and `internal`, L2 mode)."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from typing import Any

from grader.base.wait import wait_for
from grader.cluster.net import LabAddresses
from grader.cluster.readiness import SYSTEM_ROLLOUT_S, rollout_ready
from grader.cluster.sources import fixture, upstream_manifest
from grader.kube.client import Kube, KubeError

NAMESPACE = "metallb-system"
CONTROLLER = (NAMESPACE, "deployment", "controller")
SPEAKERS = (NAMESPACE, "daemonset", "speaker")
POOL_RESOURCE = "ipaddresspools.metallb.io"
ADVERTISEMENT_RESOURCE = "l2advertisements.metallb.io"
PUBLIC_POOL, INTERNAL_POOL = "public", "internal"  # fixtures/metallb/pools.yaml
STATIC_POOL, INTERNAL_STATIC_POOL = "static", "internal-static"  # one address each, never auto-assigned
POOLS = (PUBLIC_POOL, INTERNAL_POOL, STATIC_POOL, INTERNAL_STATIC_POOL)
# A classroom's pools (grader.classroom.manifests): each student's STATIC_IP and INTERNAL_STATIC_IP, by request only
CLASS_STATIC_POOL, CLASS_INTERNAL_STATIC_POOL = "servicelab-classroom-static", "servicelab-classroom-internal-static"
PUBLIC_POOLS = frozenset({PUBLIC_POOL, STATIC_POOL, CLASS_STATIC_POOL})  # what the internet container can reach
POOL_ANNOTATION = "metallb.io/address-pool"  # a Service's choice of pool
IPS_ANNOTATION = "metallb.io/loadBalancerIPs"  # a Service's requested addresses


def install(kube: Kube, addresses: LabAddresses) -> None:
    kube.apply(upstream_manifest("metallb"))
    wait_for(lambda: rollout_ready(kube, *CONTROLLER), what="MetalLB controller ready", timeout_s=SYSTEM_ROLLOUT_S)
    wait_for(lambda: rollout_ready(kube, *SPEAKERS), what="MetalLB speakers ready", timeout_s=SYSTEM_ROLLOUT_S)
    pools = pools_manifest(addresses)
    # The validating webhook answers a little after the controller reports ready: a server-side
    # dry-run goes through the webhook, so poll it before applying for real. Only the first pool: the webhook
    # checks each pool against those on the cluster, and a cluster made before the static IPs had pools of
    # their own still holds them in `public` until the real apply, in order, has shrunk it.
    first = pools.split("\n---\n", 1)[0]
    wait_for(lambda: _webhook_accepts(kube, first), what="MetalLB webhook answering", timeout_s=120)
    kube.apply(pools)


def pools_manifest(addresses: LabAddresses) -> str:
    return fixture(
        "metallb/pools.yaml",
        PUBLIC_RANGES=json.dumps(addresses.public_auto_ranges),
        INTERNAL_RANGES=json.dumps(addresses.internal_ranges),
        STATIC_IP=addresses.static_ip,
        INTERNAL_STATIC_IP=addresses.internal_static_ip,
    )


def _webhook_accepts(kube: Kube, pools: str) -> tuple[bool | None, str]:
    try:
        kube.apply(pools, dry_run=True)
    except KubeError as err:
        return None, str(err).splitlines()[-1][:200]
    return True, "accepted"


def in_pools(pools: list[dict[str, Any]], candidates: Iterable[str]) -> set[str]:
    """The candidate addresses some pool's spec.addresses holds (a range a-b, or a CIDR)."""
    blocks: list[tuple[int, int, int]] = []  # (version, first, last)
    for pool in pools:
        for block in (pool.get("spec") or {}).get("addresses") or []:
            if "-" in block:
                first, last = (ipaddress.ip_address(part.strip()) for part in block.split("-", 1))
            else:
                network = ipaddress.ip_network(block.strip(), strict=False)
                first, last = network.network_address, network.broadcast_address
            blocks.append((first.version, int(first), int(last)))
    found = set()
    for candidate in candidates:
        address = ipaddress.ip_address(candidate)
        if any(version == address.version and low <= int(address) <= high for version, low, high in blocks):
            found.add(candidate)
    return found


def pool_usage(kube: Kube) -> dict[str, list[str]]:
    """Pool name -> the LoadBalancer addresses handed out from it (with the Service that holds each)."""
    usage: dict[str, list[str]] = {}
    for pool in kube.list(POOL_RESOURCE, NAMESPACE):
        usage[pool["metadata"]["name"]] = []
    for svc in kube.list("services", all_namespaces=True):
        if svc.get("spec", {}).get("type") != "LoadBalancer":
            continue
        pool = svc["metadata"].get("annotations", {}).get("metallb.io/ip-allocated-from-pool")
        for ingress in svc.get("status", {}).get("loadBalancer", {}).get("ingress") or []:
            ip = ingress.get("ip")
            if pool and ip:
                usage.setdefault(pool, []).append(f"{ip} ({svc['metadata']['namespace']}/{svc['metadata']['name']})")
    return usage
