"""Internal LB lab: internal-app gets an address only the VNet reaches, never the internet."""

from __future__ import annotations

import pytest

from grader.lab import Fail, LabContext, Service, inside_route, internet_facing, require_route

INTERNAL = "service.beta.kubernetes.io/azure-load-balancer-internal"


@pytest.mark.check(points=2, title="internal-app answers on its ClusterIP, from all 3 pods")
def test_answers_on_cluster_ip(lab: LabContext) -> None:
    inside_route(lab, "internal-app", 3, "the three pods labelled app=internal-app")


@pytest.mark.check(points=3, title="internal-app gets a private VNet address: the internet cannot reach it")
def test_internal_ip_not_internet(lab: LabContext) -> None:
    svc = lab.service("internal-app")
    lab.expect(
        svc.type == "LoadBalancer",
        f"internal-app is type {svc.type}: an internal load balancer is still "
        "type LoadBalancer, made internal by an annotation.",
    )
    svc = lab.wait_load_balancer(svc)
    ip = svc.lb_ips[0]
    hint = (
        f"internal-app got {ip}, a public address the internet reaches: {_why_public(svc)}. Add the "
        f'annotation {INTERNAL}: "true".'
    )
    internet = lab.internet
    if internet is not None and not internet.unavailable_reason():
        # Behaviour first: the internet vantage point (no route to internal frontends) must not connect.
        internet.must_not_connect(ip, 80, hint=hint)
    # No connection can also mean broken backends (charged by the checks above): the address itself
    # must still be a private one, or the internet reaches it as soon as the backends work.
    if internet_facing(lab, ip):
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
    require_route(lab, svc, "answers_on_cluster_ip")
    if svc.type != "LoadBalancer":
        lab.blocked("internal_ip_not_internet", "internal-app has no load balancer address to call")
    try:
        svc = lab.wait_load_balancer(svc)
    except Fail:
        lab.blocked("internal_ip_not_internet", "internal-app has no load balancer address to call")
    ranges = svc.source_ranges
    lab.outside.http_get(f"http://{svc.lb_ips[0]}/hostname").must_succeed(
        f"{svc.lb_ips[0]}:80 does not answer a client on the VNet (the outside container)."
        + (
            f" loadBalancerSourceRanges {', '.join(ranges)} admits only those source networks, and the "
            "clients' network is not among them."
            if ranges
            else ""
        )
    )
