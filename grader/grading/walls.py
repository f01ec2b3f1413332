"""The walls around a tenant namespace: NetworkPolicies the grader applies with the fence (docs/DESIGN.md, "Tenancy").

A tenant is a grading namespace or a learner's lab namespace. Everything is denied both ways, then allowed:

- in: from the tenant's own pods; from the grader's probe pods; from outside the pod network (the kind network:
  the outside, internet and partner containers, the host, the nodes, which is where NodePort and LoadBalancer
  traffic arrives from, with the client's address or, after kube-proxy's SNAT, a node's); from Traefik's pods in
  a lab whose answer is routed through it (Ingress, HTTPRoute).
- out: to the tenant's own pods; to cluster DNS (CoreDNS, port 53); to what the lab's `policy.egress` names.

So another tenant's pods reach nothing here, and nothing of another tenant is reached from here: a pod's
address is in the pod network, which the way in from outside leaves out. What a Service exposes outside the
cluster (a node port, a load balancer address) stays as reachable as the learner made it, so a check that it
must not be reachable from outside still sees a wrong answer. The kubelet's probes come from the pod's own node,
which the engine (grader.cluster.netpol) always lets through.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from grader.base.names import PARTNER_PORT, TRAEFIK_NAMESPACE, TRAEFIK_POD_LABELS
from grader.cluster.facts import ClusterFacts
from grader.intake.labpolicy import LabPolicy
from grader.kube.client import Obj, managed_labels
from grader.probes.pod import WARM_NAMESPACES

NAME_KEY = "kubernetes.io/metadata.name"  # set on every namespace by the API server: no learner can fake it
ROUTED_KINDS = ("Ingress", "HTTPRoute")  # an answer made of these is served to clients by Traefik
DNS_NAMESPACE, DNS_PODS, DNS_PORT = "kube-system", {"k8s-app": "kube-dns"}, 53  # CoreDNS, as kubeadm labels it
_EVERYWHERE = {4: "0.0.0.0/0", 6: "::/0"}


def walls(namespace: str, run_id: str, policy: LabPolicy, facts: ClusterFacts) -> list[Obj]:
    """The NetworkPolicies of one tenant namespace, labelled as the grader's (applied with grader.grading.fence)."""
    meta = {"namespace": namespace, "labels": managed_labels(run_id)}
    items = [
        network_policy(meta, "servicelab-deny-all", ingress=[], egress=[]),
        network_policy(
            meta, "servicelab-same-namespace", ingress=[{"from": [{"podSelector": {}}]}], egress=[_to_own()]
        ),
        network_policy(meta, "servicelab-cluster-dns", egress=[to_dns()]),
        network_policy(meta, "servicelab-grader-probes", ingress=[{"from": [_probe_pods()]}]),
        network_policy(meta, "servicelab-outside", ingress=[{"from": outside_blocks(facts.pod_cidrs)}]),
    ]
    if any(kind in ROUTED_KINDS for kind in policy.kinds):
        items.append(network_policy(meta, "servicelab-traefik", ingress=[{"from": [_traefik_pods()]}]))
    if "partner" in policy.egress and facts.partner_ip:  # no partner container, nothing to let through to
        items.append(network_policy(meta, "servicelab-partner", egress=[_to_partner(facts.partner_ip)]))
    return items


def outside_blocks(pod_cidrs: tuple[str, ...]) -> list[Obj]:
    """ipBlock peers for every address outside the pod network, one per IP family it has.

    Where the nodes hold no podCIDR (a CNI that hands out node-subnet addresses) the pod network cannot be told
    apart by address: every address is let in, and other tenants' pods are kept out by their own egress walls.
    """
    networks = [ipaddress.ip_network(cidr, strict=False) for cidr in pod_cidrs]
    families = sorted({net.version for net in networks}) or [4, 6]
    blocks = []
    for family in families:
        block: dict[str, Any] = {"cidr": _EVERYWHERE[family]}
        pods = [str(net) for net in networks if net.version == family]
        if pods:
            block["except"] = pods
        blocks.append({"ipBlock": block})
    return blocks


def network_policy(
    meta: Obj,
    name: str,
    *,
    ingress: list[Obj] | None = None,
    egress: list[Obj] | None = None,
    pods: Obj | None = None,
) -> Obj:
    """A policy for the pods a selector picks (every pod of the namespace by default); a direction given (even as
    no rules) is one it governs."""
    spec: dict[str, Any] = {"podSelector": pods or {}, "policyTypes": []}
    if ingress is not None:
        spec["policyTypes"].append("Ingress")
        spec["ingress"] = ingress
    if egress is not None:
        spec["policyTypes"].append("Egress")
        spec["egress"] = egress
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, **meta},
        "spec": spec,
    }


def _to_own() -> Obj:
    return {"to": [{"podSelector": {}}]}


def to_dns() -> Obj:
    """An egress rule to cluster DNS (CoreDNS), UDP and TCP."""
    return {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {NAME_KEY: DNS_NAMESPACE}},
                "podSelector": {"matchLabels": DNS_PODS},
            }
        ],
        "ports": [{"protocol": protocol, "port": DNS_PORT} for protocol in ("UDP", "TCP")],
    }


def _probe_pods() -> Obj:
    return {
        "namespaceSelector": {
            "matchExpressions": [{"key": NAME_KEY, "operator": "In", "values": list(WARM_NAMESPACES)}]
        }
    }


def _traefik_pods() -> Obj:
    return {
        "namespaceSelector": {"matchLabels": {NAME_KEY: TRAEFIK_NAMESPACE}},
        "podSelector": {"matchLabels": TRAEFIK_POD_LABELS},
    }


def _to_partner(ip: str) -> Obj:
    prefix = 32 if ipaddress.ip_address(ip).version == 4 else 128
    return {"to": [{"ipBlock": {"cidr": f"{ip}/{prefix}"}}], "ports": [{"protocol": "TCP", "port": PARTNER_PORT}]}
