"""Static IP lab: azure-load-balancer gets exactly the address given, asked for the way AKS reads it."""

from __future__ import annotations

from typing import Any

import pytest

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


IPV4 = "service.beta.kubernetes.io/azure-load-balancer-ipv4"
PIP_NAME = "service.beta.kubernetes.io/azure-pip-name"


@pytest.mark.check(points=2, title="azure-load-balancer answers on its ClusterIP, from all 3 pods")
def test_answers_on_cluster_ip(lab: LabContext) -> None:
    _inside_route(lab, "azure-load-balancer", 3, "the three pods labelled app=azure-load-balancer")


@pytest.mark.check(points=3, title="it gets exactly the given static IP and answers there from outside")
def test_gets_exactly_static_ip(lab: LabContext) -> None:
    want = lab.facts.variables.get("STATIC_IP")
    if not want:
        lab.not_applicable(lab.facts.missing.get("STATIC_IP", "no static IP is known for this cluster"))
    svc = lab.service("azure-load-balancer")
    lab.expect(svc.type == "LoadBalancer", f"azure-load-balancer is type {svc.type}: only type LoadBalancer gets "
               "a load balancer address.")
    svc = lab.wait_load_balancer(svc)
    if want not in svc.lb_ips:
        asked = svc.annotations.get(IPV4)
        if asked:
            why = f"the annotation asks for {asked}, but the task gave {want}"
        elif PIP_NAME in svc.annotations:
            why = (f"azure-pip-name names an Azure Public IP resource; this lab gave an address, which you request "
                   f"with {IPV4}")
        else:
            why = f"nothing asks for it: set the annotation {IPV4}: \"{want}\""
        lab.fail(f"azure-load-balancer got {', '.join(svc.lb_ips)}, not the static IP {want}: {why}.")
    if _route_works(lab, svc):
        lab.outside.http_get(f"http://{want}/hostname").must_succeed(
            f"The static IP {want}:80 does not answer from outside the cluster.")


@pytest.mark.check(points=1, title="the IP is requested with the annotation, not the deprecated field")
def test_no_deprecated_field(lab: LabContext) -> None:
    svc = lab.service("azure-load-balancer")
    legacy = svc.raw.get("spec", {}).get("loadBalancerIP")
    lab.expect(not legacy, f"spec.loadBalancerIP ({legacy}) still works but is deprecated since Kubernetes 1.24, "
               f"and AKS documents the annotation: use {IPV4} instead.")
