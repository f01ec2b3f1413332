"""Internal LB lab: internal-app gets an address only the VNet reaches, never the internet."""

from __future__ import annotations

import pytest

from grader.lab import (
    Diagnosis,
    Fail,
    LabContext,
    Service,
    also_exposing,
    inside_route,
    internet_facing,
    require_route,
)

INTERNAL = "service.beta.kubernetes.io/azure-load-balancer-internal"
ANOTHER_PUBLIC = "internal-lb/another-service-public"


@pytest.mark.check(points=2, title="internal-app answers on its ClusterIP, from all 3 pods")
def test_answers_on_cluster_ip(lab: LabContext) -> None:
    inside_route(lab, "internal-app", 3, "the three pods labelled app=internal-app")


@pytest.mark.check(points=3, title="internal-app gets a private VNet address: the internet cannot reach its pods")
def test_internal_ip_not_internet(lab: LabContext) -> None:
    svc = lab.service("internal-app")
    lab.expect(
        svc.type == "LoadBalancer",
        f"internal-app is type {svc.type}: an internal load balancer is still "
        "type LoadBalancer, made internal by an annotation.",
        diagnosis="internal-lb/type-not-loadbalancer",
    )
    svc = lab.wait_load_balancer(svc)
    ip = svc.lb_ips[0]
    why = _why_public(svc)
    hint = (
        f'internal-app got {ip}, a public address the internet reaches: {why}. Add the annotation {INTERNAL}: "true".'
    )
    internet = lab.internet
    if internet is None:
        lab.not_applicable("no vantage point stands for the internet here")
    if internet.available:
        # Behaviour first: the internet vantage point (no route to internal frontends) must not connect. Its silence
        # counts only beside the address answering the VNet (reachable_from_vnet): else nothing answers at all.
        internet.must_not_connect(ip, 80, hint=hint, see="reachable_from_vnet", diagnosis=why.id)
    elif internet.required:
        internet.require()  # on kind a stopped internet container is the environment's: ENV-ERROR, `servicelab up`
    # A public address is reached by the internet as soon as the backends answer, whatever they do now.
    lab.expect(not internet_facing(lab, ip), hint, diagnosis=why.id)
    for other in also_exposing(lab, {"app": "internal-app"}, besides="internal-app"):
        for other_ip in [i for i in other.lb_ips if internet_facing(lab, i)]:
            # The lesson is about the app's pods: a second, public Service in front of them undoes it.
            also = (
                f"Service {other.name} also selects the internal-app pods and got {other_ip}, a public address: "
                "the internet reaches them through it. Delete it: the task asks for the internal one only."
            )
            if internet.available:
                for port in other.ports:
                    internet.must_not_connect(
                        other_ip, port.port, hint=also, see="reachable_from_vnet", diagnosis=ANOTHER_PUBLIC
                    )
            lab.fail(also, diagnosis=ANOTHER_PUBLIC)
    internet.require()  # a private address earns the points only on the internet's silence: n/a where none can exist


def _why_public(svc: Service) -> Diagnosis:
    value = svc.annotations.get(INTERNAL)
    labels = svc.raw.get("metadata", {}).get("labels") or {}
    if any("load-balancer-internal" in key for key in labels):
        return Diagnosis(
            "internal-lb/annotation-as-label",
            "the setting is a label, but the cloud provider reads only the annotation",
        )
    if value is not None:
        return Diagnosis(
            "internal-lb/annotation-value-not-true",
            f'the annotation says "{value}"; only "true" makes the load balancer internal',
        )
    misspelt = [key for key in svc.annotations if "azure" in key and "internal" in key]
    if misspelt:
        return Diagnosis(
            "internal-lb/annotation-misspelt",
            f"the annotation {misspelt[0]} is not {INTERNAL}: the cloud provider ignores a key it does not know",
        )
    return Diagnosis("internal-lb/annotation-missing", "the annotation is missing (or misspelt)")


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
        ),
        diagnosis="internal-lb/source-ranges-leave-out-vnet" if ranges else "internal-lb/address-silent-in-vnet",
    )
