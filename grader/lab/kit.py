"""Helpers shared by the Service labs' checks (labs/*/checks.py).

The labs follow one rule: a broken in-cluster route (selector, targetPort, port, protocol) is charged once, by
the ClusterIP check (`inside_route`); later checks use `route_works` to judge only their own concern when the
route is broken.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
from typing import Any

from grader.base.outcomes import Diagnosis, Fail
from grader.base.wait import WaitTimeout, wait_for
from grader.cluster.metallb import POOL_RESOURCE, PUBLIC_POOLS
from grader.kube.client import KubeError
from grader.lab.context import Endpoints, LabContext, Service
from grader.lab.diagnose import matches, port_mismatch
from grader.lab.services import ready_endpoints

__all__ = [
    "WaitTimeout",
    "also_exposing",
    "inside_route",
    "internet_facing",
    "pool_of",
    "remember_route",
    "require_route",
    "route_endpoints",
    "route_known_broken",
    "route_works",
    "selected_pods",
    "wait_for",
]


def selected_pods(lab: LabContext, svc: Service) -> list[dict[str, Any]]:
    return [p for p in lab.objects("pods") if matches(svc.selector, p["metadata"].get("labels") or {})]


def also_exposing(lab: LabContext, pod_labels: dict[str, str], besides: str) -> list[Service]:
    """Every other Service of the namespace that selects the lab's pods (labelled pod_labels) and opens them
    beyond the cluster (a node port, a load-balancer address, once assigned): "not reachable from outside" is
    about the pods, not about the one Service the task names."""
    found = []
    for obj in lab.objects("services"):
        other = Service.from_obj(obj)
        if other.name == besides or other.type not in ("NodePort", "LoadBalancer"):
            continue
        if not matches(other.selector, pod_labels):
            continue
        other = lab.service(other.name)  # from the run's one read of the Services; names its addresses in the matrix
        if other.type == "LoadBalancer" and not other.lb_ips:
            with contextlib.suppress(Fail):  # never given an address: it opens only its node ports
                other = lab.wait_load_balancer(other)
        found.append(other)
    return found


def inside_route(lab: LabContext, name: str, count: int, what: str) -> list[str]:
    """The in-cluster route (selector, port 80, targetPort) works and reaches all `count` pods; their names."""
    svc = lab.service(name)
    eps = route_endpoints(lab, svc, count, f"Service {name} should send traffic to {what}.")
    ports = [p.port for p in svc.ports]
    lab.expect(
        80 in ports,
        f"Service {name} listens on port {', '.join(map(str, ports)) or 'none'}, but clients "
        "use port 80: set port: 80 (targetPort stays the port the pods listen on).",
        diagnosis="route/port-not-80",
    )
    protocol = svc.port("80").protocol
    lab.expect(
        protocol == "TCP",
        f"Port 80 of Service {name} uses protocol {protocol}: HTTP needs protocol TCP.",
        diagnosis="route/protocol-not-tcp",
    )
    lab.expect(
        svc.cluster_ip is not None,
        f"Service {name} has no ClusterIP: remove clusterIP: None.",
        diagnosis="route/no-cluster-ip",
    )
    seen = lab.probe.collect_hostnames(svc.url("/hostname", port=80), eps.pod_names)
    remember_route(lab, svc, works=bool(seen.seen))
    why = port_mismatch(svc, selected_pods(lab, svc)) if not seen.ok else Diagnosis()
    seen.must_cover(  # also records the route's answer: this check's evidence, the positive control of others
        f"Not every pod behind Service {name} answered on {svc.cluster_ip}:80. "
        + (why.text or "Check that targetPort is the port the containers listen on."),
        diagnosis=why.id or "route/pods-do-not-answer",
    )
    return eps.pod_names


def route_endpoints(
    lab: LabContext, svc: Service, count: int, hint: str, *, timeout_s: float | None = None
) -> Endpoints:
    """wait_ready_endpoints for a ClusterIP check; when none at all are ready, the route is remembered as broken,
    so the checks after it do not wait for the same endpoints again."""
    try:
        return lab.wait_ready_endpoints(svc, count=count, timeout_s=timeout_s, hint=hint)
    except Fail:
        slices = lab.objects("endpointslices", selector=f"kubernetes.io/service-name={svc.name}")
        if not ready_endpoints(slices).ready:
            remember_route(lab, svc, works=False)
        raise


def route_works(lab: LabContext, svc: Service) -> bool:
    """Whether the in-cluster route works. When it does not, the ClusterIP check already charges that mistake,
    so exposure checks judge their own concern from the API instead of failing a second time. Found out once a
    run for each Service spec: the learner's objects do not change while they are graded, and every check
    after the first would wait out the same broken route again."""
    key = _route_key(svc)
    if key not in lab.judged:
        lab.judged[key] = _route_works(lab, svc)
    return lab.judged[key]


def remember_route(lab: LabContext, svc: Service, *, works: bool) -> None:
    """What a check found of the in-cluster route (port 80 of the ClusterIP) with its own probe: route_works
    takes it and does not probe or wait again."""
    lab.judged[_route_key(svc)] = works


def route_known_broken(lab: LabContext, svc: Service) -> bool:
    """Whether this run has already found the in-cluster route broken (never probes)."""
    return lab.judged.get(_route_key(svc)) is False


def _route_key(svc: Service) -> str:
    return "route " + json.dumps([svc.name, svc.raw.get("spec", {})], sort_keys=True)


def _route_works(lab: LabContext, svc: Service) -> bool:
    try:
        lab.wait_ready_endpoints(svc, count=1, timeout_s=20)
    except Fail:
        return False
    if svc.cluster_ip is None or all(p.port != 80 or p.protocol != "TCP" for p in svc.ports):
        return False
    return lab.probe.http_get(svc.url("/hostname", port=80), deadline_s=8).ok


def require_route(lab: LabContext, svc: Service, by: str) -> None:
    """BLOCKED (naming check `by`) when the in-cluster route is broken: what comes after it cannot be seen."""
    if not route_works(lab, svc):
        lab.blocked(by, f"{svc.name} does not answer inside the cluster, so this cannot be observed")


def pool_of(lab: LabContext, ip: str) -> str | None:
    """The MetalLB pool holding ip, or None when MetalLB is absent (a real cloud)."""
    try:
        pools = lab.kube.list(POOL_RESOURCE, all_namespaces=True)
    except KubeError:
        return None
    addr = ipaddress.ip_address(ip)
    for pool in pools:
        for block in pool.get("spec", {}).get("addresses", []):
            if "-" in block:
                first, last = (ipaddress.ip_address(x.strip()) for x in block.split("-", 1))
                inside = first.version == addr.version == last.version and int(first) <= int(addr) <= int(last)
            else:
                inside = addr in ipaddress.ip_network(block, strict=False)
            if inside:
                return str(pool["metadata"]["name"])
    return ""


def internet_facing(lab: LabContext, ip: str) -> bool:
    """The lab's "internet" vantage point: Azure's edge forwards only public addresses. On kind that is the
    MetalLB pools `public` and `static`; on a real cloud, a globally routable address."""
    pool = pool_of(lab, ip)
    facing = pool in PUBLIC_POOLS if pool is not None else ipaddress.ip_address(ip).is_global
    lab.matrix.record(
        "internet (by address)",
        lab.matrix.label_for(ip, 80),
        expected=None,
        observed=facing,
        detail=f"pool {pool}" if pool else "routable" if facing else "private",
    )
    return facing
