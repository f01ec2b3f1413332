"""What the grader needs to know about the cluster: nodes, kind or not, and the values of `${VAR}` placeholders.

On the kind lab cluster the static IPs come from the `kind` docker network (<a.b>.255.210 in the `public`
pool, <a.b>.255.230 in the `internal` pool); on any other cluster from SERVICELAB_STATIC_IP and
SERVICELAB_INTERNAL_STATIC_IP.
"""

from __future__ import annotations

import ipaddress
import json
import os
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from grader.base.errors import EnvError
from grader.base.names import CLIENT_CONTAINERS, PARTNER_CONTAINER
from grader.base.run import RunError, ToolMissing, run
from grader.cluster.docker import why_kind_unreachable
from grader.cluster.net import lab_addresses
from grader.kube.client import Kube, KubeError, KubeUnreachable
from grader.probes.outside import container_reason

KNOWN_VARIABLES = ("STATIC_IP", "INTERNAL_STATIC_IP", "NAMESPACE")
CONTAINERS = (PARTNER_CONTAINER, *CLIENT_CONTAINERS)  # inspected together, in one docker call
DOCKER_READS_S = 60.0  # two docker calls of 20 s each at most, and the thread's start
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

    def values_for(self, namespace: str) -> dict[str, str]:
        return {**self.variables, "NAMESPACE": namespace}


def discover(kube: Kube) -> ClusterFacts:
    try:
        raw_nodes = kube.list("nodes")
    except KubeUnreachable as err:
        why = why_kind_unreachable(kube.context)
        raise EnvError(f"the cluster does not answer (context {kube.context or 'current'}): {why or err}") from err
    except KubeError as err:
        raise EnvError(f"cannot list the cluster's nodes: {err}") from err
    nodes = [_node(obj) for obj in raw_nodes]
    is_kind = any(str(obj.get("spec", {}).get("providerID", "")).startswith("kind://") for obj in raw_nodes)
    facts = ClusterFacts(context=kube.context, is_kind=is_kind, nodes=nodes, pod_cidrs=_pod_cidrs(raw_nodes))
    ahead = _AHEAD.pop("docker", None)
    docker = (ahead.result(timeout=DOCKER_READS_S) if ahead else read_docker()) if is_kind else None
    subnet = docker.subnet if docker else None
    # The same addresses `servicelab up` carved its MetalLB pools around.
    kind_values = {}
    if subnet is not None:
        carved = lab_addresses(str(subnet))
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
    if docker:
        facts.partner_ip = docker.ips.get(PARTNER_CONTAINER)
        facts.client_ips = {name: docker.ips[name] for name in CLIENT_CONTAINERS if name in docker.ips}
        facts.container_reasons = docker.reasons
    return facts


@dataclass(frozen=True)
class DockerReads:
    """The kind network's subnet, and the outside containers' addresses and states: one docker call each."""

    subnet: ipaddress.IPv4Network | None
    ips: dict[str, str]
    reasons: dict[str, str]  # container -> why it is no vantage point ('' when it is); only those inspected together


def read_docker() -> DockerReads:
    inspected = _docker_json(["docker", "inspect", *CONTAINERS])
    found = inspected or [c for name in CONTAINERS for c in _docker_json(["docker", "inspect", name]) or []]
    return DockerReads(
        _kind_subnet(),
        {k: v for c in found for k, v in _kind_ip(c).items()},
        {str(c.get("Name", "")).lstrip("/"): container_reason(c) for c in inspected or []},
    )


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


def _node(obj: dict[str, object]) -> Node:
    meta = obj.get("metadata", {})
    status = obj.get("status", {})
    name = str(meta.get("name", "")) if isinstance(meta, dict) else ""
    labels = meta.get("labels", {}) if isinstance(meta, dict) else {}
    addresses = status.get("addresses", []) if isinstance(status, dict) else []
    ip = next((a.get("address", "") for a in addresses if a.get("type") == "InternalIP"), "")
    return Node(name, ip, "node-role.kubernetes.io/control-plane" in labels)


def _pod_cidrs(nodes: list[dict[str, Any]]) -> tuple[str, ...]:
    """The ranges the nodes hand pod addresses out of, sorted (IPv4 first), each once."""
    cidrs = {
        ipaddress.ip_network(cidr, strict=False)
        for node in nodes
        for cidr in (node.get("spec", {}).get("podCIDRs") or [node.get("spec", {}).get("podCIDR")])
        if cidr
    }
    return tuple(str(net) for net in sorted(cidrs, key=lambda net: (net.version, net)))


def _docker_json(argv: list[str]) -> list[dict[str, object]] | None:
    try:
        result = run(argv, timeout=20, check=False)
    except (ToolMissing, RunError):
        return None
    if result.code != 0:
        return None
    try:
        data = json.loads(result.stdout)
    except ValueError:
        return None
    return data if isinstance(data, list) else None


def _kind_subnet() -> ipaddress.IPv4Network | None:
    data = _docker_json(["docker", "network", "inspect", "kind"])
    if not data:
        return None
    ipam = data[0].get("IPAM", {})
    configs = ipam.get("Config", []) if isinstance(ipam, dict) else []
    for cfg in configs or []:
        try:
            net = ipaddress.ip_network(cfg.get("Subnet", ""), strict=False)
        except ValueError:
            continue
        if isinstance(net, ipaddress.IPv4Network):
            return net
    return None


def _kind_ip(container: dict[str, object]) -> dict[str, str]:
    """{name: address on the kind network} of one inspected container ({} when it has none)."""
    settings = container.get("NetworkSettings", {})
    networks = settings.get("Networks", {}) if isinstance(settings, dict) else {}
    kind = networks.get("kind", {}) if isinstance(networks, dict) else {}
    ip = kind.get("IPAddress") if isinstance(kind, dict) else None
    return {str(container.get("Name", "")).lstrip("/"): str(ip)} if ip else {}
