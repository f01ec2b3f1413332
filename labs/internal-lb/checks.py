"""Internal LB lab: internal-app gets an address only the VNet reaches, never the internet."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from grader._kube import KubeError
from grader.checks import LabContext, Service
from grader.diagnose import matches, port_mismatch
from grader.verdicts import Fail


# --- shared by the Service labs (copied per lab: each checks.py is imported on its own) -----------------
def _selected_pods(lab: LabContext, svc: Service) -> list[dict[str, Any]]:
    return [p for p in lab.objects("pods") if matches(svc.selector, p["metadata"].get("labels") or {})]


def _inside_route(lab: LabContext, name: str, count: int, what: str) -> list[str]:
    """The in-cluster route (selector, port 80, targetPort) works and reaches all `count` pods; their names."""
    svc = lab.service(name)
    eps = lab.wait_ready_endpoints(svc, count=count, hint=f"Service {name} should send traffic to {what}.")
    ports = [p.port for p in svc.ports]
    lab.expect(80 in ports, f"Service {name} listens on port {', '.join(map(str, ports)) or 'none'}, but clients "
               "use port 80: set port: 80 (targetPort stays the port the pods listen on).")
    protocol = svc.port("80").protocol
    lab.expect(protocol == "TCP", f"Port 80 of Service {name} uses protocol {protocol}: HTTP needs protocol TCP.")
    lab.expect(svc.cluster_ip is not None, f"Service {name} has no ClusterIP: remove clusterIP: None.")
    seen = lab.probe.collect_hostnames(svc.url("/hostname", port=80), eps.pod_names)
    if not seen.ok:
        why = port_mismatch(svc, _selected_pods(lab, svc))
        seen.must_cover(f"Not every pod behind Service {name} answered on {svc.cluster_ip}:80. "
                        + (why or "Check that targetPort is the port the containers listen on."))
    return eps.pod_names


def _route_works(lab: LabContext, svc: Service) -> bool:
    """Whether the in-cluster route works. When it does not, the ClusterIP check already charges that mistake,
    so exposure checks judge their own concern from the API instead of failing a second time."""
    try:
        lab.wait_ready_endpoints(svc, count=1, timeout_s=20)
    except Fail:
        return False
    if svc.cluster_ip is None or all(p.port != 80 or p.protocol != "TCP" for p in svc.ports):
        return False
    return lab.probe.http_get(svc.url("/hostname", port=80), deadline_s=8).ok


def _pool_of(lab: LabContext, ip: str) -> str | None:
    """The MetalLB pool holding ip, or None when MetalLB is absent (a real cloud)."""
    try:
        pools = lab.kube.list("ipaddresspools.metallb.io", all_namespaces=True)
    except KubeError:
        return None
    addr = ipaddress.ip_address(ip)
    for pool in pools:
        for block in pool.get("spec", {}).get("addresses", []):
            if "-" in block:
                first, last = (ipaddress.ip_address(x.strip()) for x in block.split("-", 1))
                inside = first <= addr <= last
            else:
                inside = addr in ipaddress.ip_network(block, strict=False)
            if inside:
                return str(pool["metadata"]["name"])
    return ""


def _internet_facing(lab: LabContext, ip: str) -> bool:
    """The lab's "internet" vantage point: Azure's edge forwards only public addresses. On kind that is the
    MetalLB pool `public`; on a real cloud, a globally routable address."""
    pool = _pool_of(lab, ip)
    facing = pool == "public" if pool is not None else ipaddress.ip_address(ip).is_global
    lab.matrix.record("internet", f"{ip} (LB)", expected=None, observed=facing,
                      detail=f"pool {pool}" if pool else "routable" if facing else "private")
    return facing


INTERNAL = "service.beta.kubernetes.io/azure-load-balancer-internal"


@pytest.mark.check(points=2, title="internal-app answers on its ClusterIP, from all 3 pods")
def test_answers_on_cluster_ip(lab: LabContext) -> None:
    _inside_route(lab, "internal-app", 3, "the three pods labelled app=internal-app")


@pytest.mark.check(points=3, title="internal-app gets a private VNet address: the internet cannot reach it")
def test_internal_ip_not_internet(lab: LabContext) -> None:
    svc = lab.service("internal-app")
    lab.expect(svc.type == "LoadBalancer", f"internal-app is type {svc.type}: an internal load balancer is still "
               "type LoadBalancer, made internal by an annotation.")
    svc = lab.wait_load_balancer(svc)
    ip = svc.lb_ips[0]
    hint = (f"internal-app got {ip}, a public address the internet reaches: {_why_public(svc)}. Add the "
            f'annotation {INTERNAL}: "true".')
    internet = lab.internet
    if internet is not None and not internet.unavailable_reason():
        # Behaviour first: the internet vantage point (no route to internal frontends) must not connect.
        internet.must_not_connect(ip, 80, hint=hint, target=f"{ip}:80 (LB)")
    # No connection can also mean broken backends (charged by the checks above): the address itself
    # must still be a private one, or the internet reaches it as soon as the backends work.
    if _internet_facing(lab, ip):
        lab.fail(hint)


def _why_public(svc: Service) -> str:
    value = svc.annotations.get(INTERNAL)
    labels = svc.raw.get("metadata", {}).get("labels") or {}
    if any("load-balancer-internal" in key for key in labels):
        return "the setting is a label, but the cloud provider reads only the annotation"
    if value is not None:
        return f'the annotation says "{value}"; only "true" makes the load balancer internal'
    return "the annotation is missing (or misspelt)"


@pytest.mark.check(points=2, title="a client in the VNet reaches internal-app on port 80")
def test_reachable_from_vnet(lab: LabContext) -> None:
    svc = lab.service("internal-app")
    if svc.type != "LoadBalancer" or not _route_works(lab, svc):
        return  # no load balancer or a broken route: the two checks above charge that mistake
    try:
        svc = lab.wait_load_balancer(svc)
    except Fail:
        return
    ranges = svc.raw.get("spec", {}).get("loadBalancerSourceRanges") or []
    lab.outside.http_get(f"http://{svc.lb_ips[0]}/hostname").must_succeed(
        f"{svc.lb_ips[0]}:80 does not answer a client on the VNet (the outside container)."
        + (f" loadBalancerSourceRanges {', '.join(ranges)} admits only those source networks, and the "
           "clients' network is not among them." if ranges else ""))
