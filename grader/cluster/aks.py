"""The AKS Service annotations, made to work on kind (fixtures/aks/annotations.yaml).

The translation is a MutatingAdmissionPolicy, so it needs no image. It is verified the way a
learner would hit it: a server-side dry-run of an annotated Service must come back with the
MetalLB annotation set (policies become active a moment after they are created).
"""

from __future__ import annotations

import json

from grader.base.wait import wait_for
from grader.cluster.metallb import INTERNAL_POOL, IPS_ANNOTATION, POOL_ANNOTATION
from grader.cluster.net import LabAddresses
from grader.cluster.sources import fixture
from grader.kube.client import Kube, KubeError

AZURE_INTERNAL = "service.beta.kubernetes.io/azure-load-balancer-internal"
AZURE_IPV4 = "service.beta.kubernetes.io/azure-load-balancer-ipv4"
_PROBE_SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {
        "name": "servicelab-aks-policy-probe",
        "namespace": "default",
        "annotations": {
            AZURE_INTERNAL: "true",
            AZURE_IPV4: "192.0.2.10",
        },
    },
    "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
}
_EXPECTED = {POOL_ANNOTATION: INTERNAL_POOL, IPS_ANNOTATION: "192.0.2.10"}


def install(kube: Kube, addresses: LabAddresses) -> None:
    kube.apply(fixture("aks/annotations.yaml", INTERNAL_STATIC_IP=addresses.internal_static_ip))
    wait_for(lambda: translated(kube), what="AKS annotation translation active", timeout_s=60)


def translated(kube: Kube) -> tuple[bool | None, str]:
    try:
        objs = kube.apply(json.dumps(_PROBE_SERVICE), dry_run=True)
    except KubeError as err:
        return None, str(err)[:200]
    annotations = objs[0].get("metadata", {}).get("annotations", {}) if objs else {}
    missing = {k: v for k, v in _EXPECTED.items() if annotations.get(k) != v}
    return (None, f"dry-run Service lacks {missing}") if missing else (True, "translated")
