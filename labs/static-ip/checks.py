"""Static IP lab: azure-load-balancer gets exactly the address given, asked for the way AKS reads it."""

from __future__ import annotations

import pytest

from grader.lab import Diagnosis, LabContext, Service, inside_route, require_route

IPV4 = "service.beta.kubernetes.io/azure-load-balancer-ipv4"
PIP_NAME = "service.beta.kubernetes.io/azure-pip-name"


@pytest.mark.check(points=2, title="azure-load-balancer answers on its ClusterIP, from all 3 pods")
def test_answers_on_cluster_ip(lab: LabContext) -> None:
    inside_route(lab, "azure-load-balancer", 3, "the three pods labelled app=azure-load-balancer")


@pytest.mark.check(points=3, title="it gets exactly the given static IP and answers there from outside")
def test_gets_exactly_static_ip(lab: LabContext) -> None:
    want = lab.facts.variables.get("STATIC_IP")
    if not want:
        lab.not_applicable(lab.facts.missing.get("STATIC_IP", "no static IP is known for this cluster"))
    svc = lab.service("azure-load-balancer")
    lab.expect(
        svc.type == "LoadBalancer",
        f"azure-load-balancer is type {svc.type}: only type LoadBalancer gets a load balancer address.",
        diagnosis="static-ip/type-not-loadbalancer",
    )
    svc = lab.wait_load_balancer(svc)
    if want not in svc.lb_ips:
        why = _why_not(svc, want)
        lab.fail(f"azure-load-balancer got {', '.join(svc.lb_ips)}, not the static IP {want}: {why}.", diagnosis=why.id)
    require_route(lab, svc, "answers_on_cluster_ip")
    lab.outside.http_get(f"http://{want}/hostname").must_succeed(
        f"The static IP {want}:80 does not answer from outside the cluster.", diagnosis="static-ip/address-silent"
    )


def _why_not(svc: Service, want: str) -> Diagnosis:
    asked = svc.annotations.get(IPV4)
    if asked:
        return Diagnosis(
            "static-ip/asks-for-another-address", f"the annotation asks for {asked}, but the task gave {want}"
        )
    if PIP_NAME in svc.annotations:
        return Diagnosis(
            "static-ip/pip-name-instead-of-address",
            "azure-pip-name names an Azure Public IP resource; this lab gave an address, which you request "
            f"with {IPV4}",
        )
    misspelt = [key for key in svc.annotations if key.startswith("service.beta.kubernetes.io/azure-load-balancer-ip")]
    if misspelt:
        return Diagnosis(
            "static-ip/annotation-misspelt",
            f'the annotation {misspelt[0]} is not {IPV4}, the one the cloud provider reads: set {IPV4}: "{want}"',
        )
    return Diagnosis("static-ip/address-not-requested", f'nothing asks for it: set the annotation {IPV4}: "{want}"')


@pytest.mark.check(
    points=1, title="the IP is requested with the annotation, not the deprecated field", evidence="object"
)
def test_no_deprecated_field(lab: LabContext) -> None:
    svc = lab.service("azure-load-balancer")
    legacy = lab.read_field(svc, "spec.loadBalancerIP")
    lab.expect(
        not legacy,
        f"spec.loadBalancerIP ({legacy}) still works but is deprecated since Kubernetes 1.24, "
        f"and AKS documents the annotation: use {IPV4} instead.",
        diagnosis="static-ip/deprecated-field",
    )
