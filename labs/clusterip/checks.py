"""ClusterIP lab: Service web answers inside the cluster, on all three pods, and nowhere outside."""

from __future__ import annotations

from typing import Any

import pytest

from grader.checks import LabContext, Service
from grader.diagnose import matches, port_mismatch


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



@pytest.mark.check(points=3, title="web answers on its ClusterIP and DNS name, from all 3 pods")
def test_answers_inside_cluster(lab: LabContext) -> None:
    names = _inside_route(lab, "web", 3, "the three web pods (selector app=web)")
    svc = lab.service("web")
    lab.probe.collect_hostnames(f"http://{svc.dns}/hostname", names).must_cover(
        f"http://{svc.dns}/ does not reach all three pods, although the ClusterIP does.")


@pytest.mark.check(points=1, title="the name web resolves to the ClusterIP in cluster DNS")
def test_resolves_by_dns_name(lab: LabContext) -> None:
    svc = lab.service("web")
    lab.expect(svc.cluster_ip is not None, "Service web has no ClusterIP (clusterIP: None makes it headless).")
    lab.probe.dns(svc.dns).must_resolve(f"{svc.dns} does not resolve to the ClusterIP {svc.cluster_ip}.",
                                        to=svc.cluster_ip)


@pytest.mark.check(points=2, title="nothing of web is reachable from outside the cluster")
def test_not_reachable_from_outside(lab: LabContext) -> None:
    svc = lab.service("web")
    hint = (f"Service web is type {svc.type}, so it is reachable from outside the cluster. A ClusterIP Service "
            "is internal-only: leave type out (ClusterIP is the default).")
    for ip in svc.lb_ips:
        lab.outside.must_not_reach(f"http://{ip}/hostname", hint=hint)
    for port in svc.ports:
        for node in lab.nodes if port.node_port else []:
            lab.outside.must_not_connect(node.internal_ip, port.node_port, hint=hint)  # type: ignore[arg-type]
    if svc.cluster_ip:
        lab.outside.must_not_connect(svc.cluster_ip, 80, hint="The ClusterIP answers from outside the cluster.")
