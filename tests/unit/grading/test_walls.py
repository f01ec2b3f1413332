"""The walls around tenant namespaces (grader.grading.walls), judged per lab with NetworkPolicy's own rules.

A small evaluator below reads the policy objects as the API defines them (a pod is governed in a direction by
every policy that selects it and names that direction; a connection passes when one rule of one of them admits
it, at the sender's egress and at the receiver's ingress), and asks who reaches whom.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from _grader_fakes import facts

from grader.catalogue.labs import Lab, load_lab
from grader.catalogue.locate import all_labs
from grader.cluster.facts import ClusterFacts
from grader.grading.deploy import ensure_namespace
from grader.grading.walls import outside_blocks, walls
from grader.probes.pod import WARM_NAMESPACES

POD_CIDRS = ("10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24")
PARTNER_IP = "172.18.0.7"
NAME_KEY = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class End:
    """One end of a connection: a pod (namespace set) or an address outside the pod network."""

    ip: str
    namespace: str | None = None
    labels: dict[str, str] = field(default_factory=dict)


A_WEB = End("10.244.1.10", "tenant-a", {"app": "web"})
A_CLIENT = End("10.244.2.11", "tenant-a", {"app": "client"})
B_CLIENT = End("10.244.2.20", "tenant-b", {"app": "client"})
B_FAKE_TRAEFIK = End("10.244.2.21", "tenant-b", {"app": "traefik"})  # a learner's pod labelled like Traefik
UNWALLED = End("10.244.1.30", "default", {"app": "other"})
PROBE = End("10.244.1.40", WARM_NAMESPACES[0], {"app.kubernetes.io/name": "probe"})
OTHER_PROBE = End("10.244.2.41", WARM_NAMESPACES[1], {"app.kubernetes.io/name": "probe"})
TRAEFIK = End("10.244.2.50", "traefik", {"app": "traefik"})
COREDNS = End("10.244.0.2", "kube-system", {"k8s-app": "kube-dns"})
KUBE_SYSTEM_OTHER = End("10.244.0.3", "kube-system", {"k8s-app": "metrics"})
OUTSIDE = End("172.18.0.5")  # the outside container
NODE = End("172.18.0.3")  # a node: kube-proxy's SNAT source for node ports and load balancers
HOST = End("172.18.0.1")  # this machine, on the kind network's gateway
PARTNER = End(PARTNER_IP)


def _labs() -> list[Lab]:
    return [load_lab(path) for path in all_labs()]


def _facts(pod_cidrs: tuple[str, ...] = POD_CIDRS, partner_ip: str | None = PARTNER_IP) -> ClusterFacts:
    made = facts()
    made.pod_cidrs, made.partner_ip = pod_cidrs, partner_ip
    return made


def _selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    selector = selector or {}
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def _peer_admits(peer: dict[str, Any], own_namespace: str, other: End) -> bool:
    if "ipBlock" in peer:
        address = ipaddress.ip_address(other.ip)
        block = peer["ipBlock"]
        if address.version != ipaddress.ip_network(block["cidr"]).version:
            return False
        inside = address in ipaddress.ip_network(block["cidr"])
        return inside and not any(address in ipaddress.ip_network(cidr) for cidr in block.get("except") or [])
    if other.namespace is None:
        return False  # pod and namespace selectors name pods only
    if "namespaceSelector" in peer:
        namespace_ok = _selects(peer["namespaceSelector"], {NAME_KEY: other.namespace})
    else:
        namespace_ok = other.namespace == own_namespace
    return namespace_ok and _selects(peer.get("podSelector"), other.labels)


def _ports_admit(rule: dict[str, Any], protocol: str, port: int) -> bool:
    ports = rule.get("ports")
    return not ports or any(p.get("protocol", "TCP") == protocol and p.get("port") == port for p in ports)


def _admits(
    policies: list[dict[str, Any]], direction: str, me: End, other: End, *, protocol: str = "TCP", port: int = 8080
) -> bool:
    """Whether me's policies let this connection through in direction (Ingress: other calls me)."""
    if me.namespace is None:
        return True  # no NetworkPolicy governs an address outside the pod network
    mine = [
        p
        for p in policies
        if p["metadata"]["namespace"] == me.namespace
        and direction in p["spec"]["policyTypes"]
        and _selects(p["spec"]["podSelector"], me.labels)
    ]
    if not mine:
        return True
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    return any(
        (peers_key not in rule or any(_peer_admits(peer, me.namespace, other) for peer in rule[peers_key]))
        and _ports_admit(rule, protocol, port)
        for policy in mine
        for rule in policy["spec"].get(key) or []
    )


def _reaches(policies: list[dict[str, Any]], src: End, dst: End, protocol: str = "TCP", port: int = 8080) -> bool:
    out = _admits(policies, "Egress", src, dst, protocol=protocol, port=port)
    return out and _admits(policies, "Ingress", dst, src, protocol=protocol, port=port)


def _tenants(lab: Lab, cluster: ClusterFacts | None = None) -> list[dict[str, Any]]:
    """Two tenants of the same lab, as two gradings running at once would be."""
    cluster = cluster or _facts()
    return [obj for ns in ("tenant-a", "tenant-b") for obj in walls(ns, "run1", lab.policy, cluster)]


@pytest.mark.parametrize("lab", _labs(), ids=lambda lab: lab.id)
def test_the_grader_and_the_outside_reach_every_tenant_and_no_tenant_reaches_another(lab: Lab) -> None:
    policies = _tenants(lab)
    for src in (PROBE, OTHER_PROBE, OUTSIDE, NODE, HOST, A_CLIENT):
        assert _reaches(policies, src, A_WEB), f"{lab.id}: {src} must reach a tenant's pod"
    assert _reaches(policies, A_WEB, A_CLIENT), f"{lab.id}: a tenant's own pods talk both ways"
    assert not _reaches(policies, B_CLIENT, A_WEB), f"{lab.id}: another tenant's pod reaches in"
    assert not _admits(policies, "Ingress", A_WEB, UNWALLED), "the way in alone keeps pods out"
    assert not _admits(policies, "Egress", A_CLIENT, UNWALLED), "the way out alone keeps pods in"
    assert not _reaches(policies, A_CLIENT, OUTSIDE, port=80), f"{lab.id}: a tenant calls out of the cluster"


@pytest.mark.parametrize("lab", _labs(), ids=lambda lab: lab.id)
def test_every_tenant_resolves_names_and_nothing_else_in_kube_system(lab: Lab) -> None:
    policies = _tenants(lab)
    assert _reaches(policies, A_CLIENT, COREDNS, "UDP", 53)
    assert _reaches(policies, A_CLIENT, COREDNS, "TCP", 53)
    assert not _reaches(policies, A_CLIENT, COREDNS, "TCP", 9153)  # its metrics port
    assert not _reaches(policies, A_CLIENT, KUBE_SYSTEM_OTHER, "UDP", 53)


def test_only_routed_labs_admit_traefik_and_only_traefiks_own_pods() -> None:
    routed = {lab.id for lab in _labs() if _reaches(_tenants(lab), TRAEFIK, A_WEB)}
    assert routed == {"ingress", "gateway"}
    for lab in _labs():
        assert not _reaches(_tenants(lab), B_FAKE_TRAEFIK, A_WEB), f"{lab.id}: the label alone is not Traefik"


def test_only_the_labs_that_declare_the_partner_may_call_it() -> None:
    calling = {lab.id for lab in _labs() if _reaches(_tenants(lab), A_CLIENT, PARTNER, port=80)}
    assert calling == {"externalname", "pod-networking"}
    for lab in _labs():
        assert not _reaches(_tenants(lab), A_CLIENT, PARTNER, port=443), f"{lab.id}: the partner serves port 80"


def test_without_a_partner_container_no_policy_names_one() -> None:
    lab = load_lab("externalname")
    names = [p["metadata"]["name"] for p in walls("tenant-a", "run1", lab.policy, _facts(partner_ip=None))]
    assert "servicelab-partner" not in names
    assert not _reaches(_tenants(lab, _facts(partner_ip=None)), A_CLIENT, PARTNER, port=80)


def test_the_way_in_from_outside_leaves_out_exactly_the_pod_network() -> None:
    assert outside_blocks(POD_CIDRS) == [{"ipBlock": {"cidr": "0.0.0.0/0", "except": list(POD_CIDRS)}}]
    dual = outside_blocks(("10.244.0.0/24", "fd00:10:244::/64"))
    assert dual == [
        {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.244.0.0/24"]}},
        {"ipBlock": {"cidr": "::/0", "except": ["fd00:10:244::/64"]}},
    ]


def test_nodes_without_pod_ranges_let_every_address_in_and_the_egress_walls_still_hold() -> None:
    assert outside_blocks(()) == [{"ipBlock": {"cidr": "0.0.0.0/0"}}, {"ipBlock": {"cidr": "::/0"}}]
    policies = _tenants(load_lab("clusterip"), _facts(pod_cidrs=()))
    assert _admits(policies, "Ingress", A_WEB, B_CLIENT)  # by address the pod looks like outside
    assert not _reaches(policies, B_CLIENT, A_WEB)  # its own namespace's way out stops it


def test_every_wall_governs_every_pod_and_carries_the_graders_marks() -> None:
    for lab in _labs():
        objects = walls("tenant-a", "run7", lab.policy, _facts())
        names = [obj["metadata"]["name"] for obj in objects]
        assert len(names) == len(set(names))
        for obj in objects:
            assert obj["apiVersion"] == "networking.k8s.io/v1"
            assert obj["kind"] == "NetworkPolicy"
            assert obj["metadata"]["namespace"] == "tenant-a"
            assert obj["metadata"]["labels"] == {
                "app.kubernetes.io/managed-by": "servicelab",
                "servicelab.dev/run": "run7",
            }
            assert obj["spec"]["podSelector"] == {}
            directions = {"Ingress": "ingress", "Egress": "egress"}
            assert {directions[t] for t in obj["spec"]["policyTypes"]} == set(obj["spec"]) - {
                "podSelector",
                "policyTypes",
            }
        deny = next(obj for obj in objects if obj["metadata"]["name"] == "servicelab-deny-all")
        assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "ingress": [], "egress": []}


class _Recording:
    """A Kube that records what it applies and answers the namespace set-up's reads and reviews."""

    context = "fake"

    def __init__(self) -> None:
        self.applied: list[dict[str, Any]] = []

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        return {"status": {"used": {}}} if kind == "resourcequota" else None

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        return {"status": {"allowed": True}} if obj["kind"] == "SelfSubjectAccessReview" else obj

    def apply(self, manifest: str, namespace: str | None = None, *, dry_run: bool = False) -> list[dict[str, Any]]:
        self.applied += json.loads(manifest)["items"]
        return []

    def as_user(self, user: str) -> _Recording:
        return self


def test_a_new_namespace_gets_its_walls_with_its_fence() -> None:
    kube = _Recording()
    lab = load_lab("pod-networking")
    ensure_namespace(kube, "ns1", "run9", must_be_new=True, facts=_facts(), policy=lab.policy)  # type: ignore[arg-type]
    kinds = [obj["kind"] for obj in kube.applied]
    assert kinds[:5] == ["ResourceQuota", "LimitRange", "ServiceAccount", "Role", "RoleBinding"]
    walls_applied = {obj["metadata"]["name"] for obj in kube.applied if obj["kind"] == "NetworkPolicy"}
    assert walls_applied == {
        "servicelab-deny-all",
        "servicelab-same-namespace",
        "servicelab-cluster-dns",
        "servicelab-grader-probes",
        "servicelab-outside",
        "servicelab-partner",
    }
