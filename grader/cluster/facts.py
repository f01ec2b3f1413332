"""What the grader needs to know about the cluster: nodes, kind or not, and the values of `${VAR}` placeholders.

NODE_PORT and SHOP_HOST are no cluster's: a lab that declares one gives its default in lab.yaml (the NodePort lab:
30007; the Ingress and Gateway labs: shop.example), and a classroom gives each student their own
(grader.catalogue.labs.with_variables).

On the kind lab cluster the static IPs come from the `kind` docker network (<a.b>.255.210 in the `public`
pool, <a.b>.255.230 in the `internal` pool); on any other cluster from SERVICELAB_STATIC_IP and
SERVICELAB_INTERNAL_STATIC_IP.
"""

from __future__ import annotations

import ipaddress
import os
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any

from grader.base.errors import EnvError
from grader.base.names import CLIENT_CONTAINERS, PARTNER_CONTAINER
from grader.base.run import QUERY_TIMEOUT_S, RunError, ToolMissing
from grader.cluster import docker
from grader.cluster.net import lab_addresses
from grader.cluster.readiness import internal_ip
from grader.kube.client import Kube, KubeError, KubeUnreachable, Obj
from grader.probes.outside import container_reason

KNOWN_VARIABLES = ("STATIC_IP", "INTERNAL_STATIC_IP", "NAMESPACE", "NODE_PORT", "SHOP_HOST")
# Variables whose value no cluster knows: the lab gives its default (lab.yaml `defaults`), and a classroom may give
# each student their own (grader.classroom.assignment), so a class does the lab at once without sharing one port
# or one HTTP host.
LAB_VARIABLES = ("NODE_PORT", "SHOP_HOST")
# Variables a lab's texts (task.md, hints.yaml, notebook.yaml) say in place: shown to a learner with the lab's value
# (grader.catalogue.labs.learner_text). The others stay placeholders the learner writes (a node port, an address).
TEXT_VARIABLES = ("SHOP_HOST",)
CONTAINERS = (PARTNER_CONTAINER, *CLIENT_CONTAINERS)  # inspected together, in one docker call
DOCKER_READS_S = 3 * QUERY_TIMEOUT_S  # its two docker calls (containers, network), and as long again to start
_AHEAD: dict[str, Future[DockerReads]] = {}  # read_docker started ahead of discover()


@dataclass(frozen=True)
class Node:
    name: str
    internal_ip: str
    control_plane: bool = False


@dataclass
class ClusterFacts:
    context: str | None
    is_kind: bool
    nodes: list[Node]
    variables: dict[str, str] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)  # variable -> why it has no value
    partner_ip: str | None = None
    client_ips: dict[str, str] = field(default_factory=dict)  # outside containers (vantages) -> their address
    container_reasons: dict[str, str] = field(default_factory=dict)  # container -> why not usable ('' if it is)
    pod_cidrs: tuple[str, ...] = ()  # the pod network: every node's podCIDRs (none where nodes have none)
    not_kind: str = ""  # why a cluster of kind nodes is not graded as the kind lab cluster ('' otherwise)

    def values_for(self, namespace: str) -> dict[str, str]:
        return {**self.variables, "NAMESPACE": namespace}

    def with_variables(self, values: Mapping[str, str]) -> ClusterFacts:
        """A copy whose variables are these values over the cluster's: one grading's view (a lab's defaults, a
        student's own values), leaving the shared facts as they are."""
        if not values:
            return self
        missing = {var: why for var, why in self.missing.items() if var not in values}
        return replace(self, variables={**self.variables, **values}, missing=missing)


def kind_cluster_of(raw_nodes: list[Obj]) -> str | None:
    """The kind cluster the nodes belong to (providerID kind://<provider>/<cluster>/<node>), or None."""
    for obj in raw_nodes:
        provider = str(obj.get("spec", {}).get("providerID", ""))
        if provider.startswith("kind://"):
            parts = provider.removeprefix("kind://").split("/")
            return parts[1] if len(parts) >= 3 and parts[1] else ""
    return None


def discover(kube: Kube) -> ClusterFacts:
    try:
        raw_nodes = kube.list("nodes")
    except KubeUnreachable as err:
        why = docker.why_kind_unreachable(kube.context)
        raise EnvError(f"the cluster does not answer (context {kube.context or 'current'}): {why or err}") from err
    except KubeError as err:
        raise EnvError(f"cannot list the cluster's nodes: {err}") from err
    nodes = [_node(obj) for obj in raw_nodes]
    kind_cluster = kind_cluster_of(raw_nodes)
    is_kind, not_kind = kind_cluster is not None, ""
    if kind_cluster and (entry := kube.kubeconfig_cluster()) not in (None, f"kind-{kind_cluster}"):
        # The nodes are kind's, but the kubeconfig reaches them as another cluster (a copy, a tunnel, a proxy):
        # nothing says the kind network, where the outside containers live, is this machine's.
        is_kind, not_kind = False, f"the kubeconfig's cluster is '{entry}', not kind's 'kind-{kind_cluster}'"
    facts = ClusterFacts(
        context=kube.context, is_kind=is_kind, nodes=nodes, pod_cidrs=_pod_cidrs(raw_nodes), not_kind=not_kind
    )
    ahead = _AHEAD.pop("docker", None)
    reads = (ahead.result(timeout=DOCKER_READS_S) if ahead else read_docker()) if is_kind else None
    subnet = reads.subnet if reads else None
    # The same addresses `servicelab up` carved its MetalLB pools around.
    kind_values = {}
    if subnet is not None:
        carved = lab_addresses(subnet)
        kind_values = {"STATIC_IP": carved.static_ip, "INTERNAL_STATIC_IP": carved.internal_static_ip}
    for var in ("STATIC_IP", "INTERNAL_STATIC_IP"):
        env = os.environ.get(f"SERVICELAB_{var}")
        if env:
            facts.variables[var] = env
        elif var in kind_values:
            facts.variables[var] = kind_values[var]
        else:
            facts.missing[var] = (
                f"not a kind lab cluster: set SERVICELAB_{var} to an address your load balancer can assign"
            )
    if reads:
        facts.partner_ip = reads.ips.get(PARTNER_CONTAINER)
        facts.client_ips = {name: reads.ips[name] for name in CLIENT_CONTAINERS if name in reads.ips}
        facts.container_reasons = reads.reasons
    return facts


@dataclass(frozen=True)
class DockerReads:
    """The kind network's subnet, and the outside containers' addresses and states: one docker call each."""

    subnet: str | None  # IPv4
    ips: dict[str, str]
    reasons: dict[str, str]  # container -> why it is no vantage point ('' when it is); only those inspected together


def read_docker() -> DockerReads:
    """Never raises: without docker, or with a container missing, the reads hold less (one inspect per
    container finds the addresses of those that exist)."""
    inspected = _inspect(CONTAINERS)
    found = inspected or [c for name in CONTAINERS for c in _inspect([name]) or []]
    try:
        subnet = docker.kind_ipv4_subnet(timeout_s=QUERY_TIMEOUT_S)
    except (ToolMissing, RunError, ValueError):
        subnet = None
    return DockerReads(
        subnet,
        {docker.container_name(c): ip for c in found if (ip := docker.container_ip(c))},
        {docker.container_name(c): container_reason(c) for c in inspected or []},
    )


def _inspect(names: Sequence[str]) -> list[dict[str, Any]] | None:
    try:
        return docker.inspect_all(names, timeout_s=QUERY_TIMEOUT_S)
    except (ToolMissing, RunError, ValueError):
        return None


def read_docker_ahead() -> None:
    """Start read_docker in a thread: it waits on docker, so a grading's first API call (which imports the
    kubernetes client, ~0.17 s of Python) runs meanwhile; discover() takes the result."""
    if "docker" in _AHEAD:
        return
    future: Future[DockerReads] = Future()

    def work() -> None:
        try:
            future.set_result(read_docker())
        except Exception as err:  # handed to discover(), which raises it there
            future.set_exception(err)

    _AHEAD["docker"] = future
    threading.Thread(target=work, name="docker-facts", daemon=True).start()


def _node(obj: Obj) -> Node:
    meta = obj.get("metadata") or {}
    return Node(
        str(meta.get("name", "")),
        internal_ip(obj),
        "node-role.kubernetes.io/control-plane" in (meta.get("labels") or {}),
    )


def _pod_cidrs(nodes: list[dict[str, Any]]) -> tuple[str, ...]:
    """The ranges the nodes hand pod addresses out of, sorted (IPv4 first), each once."""
    cidrs = {
        ipaddress.ip_network(cidr, strict=False)
        for node in nodes
        for cidr in (node.get("spec", {}).get("podCIDRs") or [node.get("spec", {}).get("podCIDR")])
        if cidr
    }
    return tuple(str(net) for net in sorted(cidrs, key=lambda net: (net.version, net)))
