"""Traefik: the L7 controller for both the Ingress and the Gateway API labs."""

from __future__ import annotations

from grader.base.names import TRAEFIK_DEPLOYMENT, TRAEFIK_GATEWAY, TRAEFIK_NAMESPACE, TRAEFIK_SERVICE
from grader.base.wait import wait_for
from grader.cluster import versions
from grader.cluster.readiness import SYSTEM_ROLLOUT_S, condition_true, lb_address, rollout_ready
from grader.cluster.sources import fixture, upstream_manifest
from grader.kube.client import Kube

ROLLOUT = (TRAEFIK_NAMESPACE, "deployment", TRAEFIK_DEPLOYMENT)
_GATEWAY_CRDS = ("gatewayclasses", "gateways", "httproutes", "referencegrants", "grpcroutes")


def install(kube: Kube) -> str:
    """Install the Gateway API CRDs and Traefik; return the controller's LoadBalancer IP."""
    kube.apply(upstream_manifest("gateway-api"))
    for crd in _GATEWAY_CRDS:
        name = f"{crd}.gateway.networking.k8s.io"
        wait_for(
            lambda name=name: condition_true(kube, "crd", name, None, "Established"),  # type: ignore[misc]
            what=f"CRD {name} established",
            timeout_s=60,
        )
    kube.apply(fixture("traefik/traefik.yaml", TRAEFIK_IMAGE=versions.TRAEFIK_IMAGE))
    wait_for(lambda: rollout_ready(kube, *ROLLOUT), what="Traefik ready", timeout_s=SYSTEM_ROLLOUT_S)
    ip = wait_for(
        lambda: lb_address(kube, TRAEFIK_NAMESPACE, TRAEFIK_SERVICE),
        what="Traefik's LoadBalancer IP (MetalLB pool public)",
        timeout_s=120,
    )
    wait_for(
        lambda: condition_true(kube, "gateway", TRAEFIK_GATEWAY, TRAEFIK_NAMESPACE, "Programmed"),
        what=f"Gateway {TRAEFIK_NAMESPACE}/{TRAEFIK_GATEWAY} programmed",
        timeout_s=120,
    )
    return ip
