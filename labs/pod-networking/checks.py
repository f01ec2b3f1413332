"""Pod networking lab: the learner's observations (ConfigMap observations) match what the cluster does.

The grader observes the same things the learner was asked to: pod and node addresses from the API, and the
source address the partner server outside the cluster sees when a pod calls it.
"""

from __future__ import annotations

import ipaddress

import pytest

from grader.lab import LabContext

PARTNER = "http://api.partner.example/cgi-bin/clientip"


def _answer(lab: LabContext, key: str) -> str:
    cm = lab.require("configmap", "observations", "There is no ConfigMap 'observations' with your answers.")
    value = lab.read_field(cm, f"data.{key}")
    if value is None or not str(value).strip():
        lab.fail(f"ConfigMap observations has no answer under '{key}'.", diagnosis="pod-networking/answer-missing")
    return str(value).strip().lower()


def _pod_ips(lab: LabContext) -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    pods = lab.kube.list("pods", all_namespaces=True)
    return {
        ipaddress.ip_address(p["status"]["podIP"])
        for p in pods
        if p["status"].get("podIP") and not p["spec"].get("hostNetwork")
    }


def _node_ips(lab: LabContext) -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    return {ipaddress.ip_address(n.internal_ip) for n in lab.nodes if n.internal_ip}


def _share_subnet(lab: LabContext) -> bool:
    # a node subnet is taken as the /16 around the node addresses (a common VNet subnet size)
    subnets = {ipaddress.ip_network(f"{ip}/16", strict=False) for ip in _node_ips(lab)}
    return any(ip in net for ip in _pod_ips(lab) for net in subnets)


def _outside_sees(lab: LabContext) -> str:
    body = (
        lab.probe.http_get(PARTNER)
        .must_succeed("the probe pod cannot reach the partner server", diagnosis="pod-networking/partner-silent")
        .body
    )
    seen = ipaddress.ip_address(body.strip().rsplit(":", 1)[0].strip("[]"))
    lab.matrix.record(lab.probe.name, "partner /cgi-bin/clientip", expected=None, observed=True, detail=f"saw {seen}")
    if seen in _node_ips(lab):
        return "node"
    return "pod" if seen in _pod_ips(lab) else f"other ({seen})"


@pytest.mark.check(points=2, title="pod-cidr holds every pod IP and no node IP", evidence="object")
def test_pod_cidr(lab: LabContext) -> None:
    text = _answer(lab, "pod-cidr")
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        lab.fail(
            f"pod-cidr {text!r} is not a CIDR such as 10.1.0.0/16.", diagnosis="pod-networking/pod-cidr-not-a-cidr"
        )
    lab.expect(
        net.prefixlen >= 8,
        f"pod-cidr {text} is too wide to say anything: at most a /8.",
        diagnosis="pod-networking/pod-cidr-too-wide",
    )
    pods, nodes = _pod_ips(lab), _node_ips(lab)
    inside_nodes = sorted(str(ip) for ip in nodes if ip in net)
    lab.expect(
        not inside_nodes,
        f"pod-cidr {text} also holds the node addresses {', '.join(inside_nodes)}: that "
        "is the nodes' network, not the pods' range.",
        diagnosis="pod-networking/pod-cidr-holds-nodes",
    )
    outside = sorted(str(ip) for ip in pods if ip not in net)
    if outside:
        services = [s.get("spec", {}).get("clusterIP") for s in lab.kube.list("services", all_namespaces=True)]
        is_service_range = any(ip and ip != "None" and ipaddress.ip_address(ip) in net for ip in services)
        lab.fail(
            f"pod-cidr {text} misses pod IPs such as {', '.join(outside[:3])}"
            + (
                ": it is the Service (ClusterIP) range, which holds virtual IPs, not pods."
                if is_service_range
                else ". Compare with kubectl get pods -o wide -A."
            ),
            diagnosis="pod-networking/pod-cidr-is-service-range"
            if is_service_range
            else "pod-networking/pod-cidr-misses-pods",
        )


@pytest.mark.check(points=1, title="pods-share-node-subnet matches the cluster", evidence="object")
def test_pods_share_node_subnet(lab: LabContext) -> None:
    truth = "yes" if _share_subnet(lab) else "no"
    lab.expect(
        _answer(lab, "pods-share-node-subnet") == truth,
        f"On this cluster pod IPs {'do' if truth == 'yes' else 'do not'} come from the nodes' subnet: compare "
        "kubectl get nodes -o wide with kubectl get pods -o wide.",
        diagnosis="pod-networking/share-subnet-wrong",
    )


@pytest.mark.check(points=2, title="outside-sees names whose address the outside server sees")
def test_outside_sees(lab: LabContext) -> None:
    truth = _outside_sees(lab)
    lab.expect(
        _answer(lab, "outside-sees") == truth,
        f"The partner server outside the cluster sees the {truth}'s address when a pod calls it"
        + (": traffic leaving the cluster is NATed to the node's IP, which hides the pod." if truth == "node" else "."),
        diagnosis="pod-networking/outside-sees-wrong",
    )


@pytest.mark.check(points=1, title="network-model names the AKS model the cluster behaves like")
def test_network_model(lab: LabContext) -> None:
    seen_from_outside = _outside_sees(lab)  # the probe this check earns its points on, whatever the subnets say
    truth = "azure-cni" if _share_subnet(lab) and seen_from_outside == "pod" else "kubenet"
    lab.expect(
        _answer(lab, "network-model") == truth,
        "Pods on their own range behind NAT is the kubenet model (Azure CNI Overlay behaves alike); Azure CNI "
        "gives pods addresses on the VNet that outside servers see."
        if truth == "kubenet"
        else "Pods with VNet addresses, seen directly by outside servers, is the Azure CNI model, not kubenet.",
        diagnosis="pod-networking/network-model-wrong",
    )
