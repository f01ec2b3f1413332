"""What the grader needs to know about the cluster: nodes, kind or not, and the values of `${VAR}` placeholders.

On the kind lab cluster the static IPs come from the `kind` docker network (<a.b>.255.210 in the `public`
pool, <a.b>.255.230 in the `internal` pool); on any other cluster from SERVICELAB_STATIC_IP and
SERVICELAB_INTERNAL_STATIC_IP.
"""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import dataclass, field

from grader._kube import Kube, KubeError, KubeUnreachable
from grader._run import RunError, ToolMissing, run
from grader.cluster.docker import why_kind_unreachable
from grader.cluster.net import lab_addresses
from grader.probes.outside import CONTAINER, INTERNET_CONTAINER
from grader.verdicts import EnvError

KNOWN_VARIABLES = ("STATIC_IP", "INTERNAL_STATIC_IP", "NAMESPACE")
PARTNER_CONTAINER = "servicelab-partner"


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
    facts = ClusterFacts(context=kube.context, is_kind=is_kind, nodes=nodes)
    subnet = _kind_subnet() if is_kind else None
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
    if is_kind:
        ips = _container_ips([PARTNER_CONTAINER, CONTAINER, INTERNET_CONTAINER])
        facts.partner_ip = ips.get(PARTNER_CONTAINER)
        facts.client_ips = {name: ips[name] for name in (CONTAINER, INTERNET_CONTAINER) if name in ips}
    return facts


def _node(obj: dict[str, object]) -> Node:
    meta = obj.get("metadata", {})
    status = obj.get("status", {})
    name = str(meta.get("name", "")) if isinstance(meta, dict) else ""
    labels = meta.get("labels", {}) if isinstance(meta, dict) else {}
    addresses = status.get("addresses", []) if isinstance(status, dict) else []
    ip = next((a.get("address", "") for a in addresses if a.get("type") == "InternalIP"), "")
    return Node(name, ip, "node-role.kubernetes.io/control-plane" in labels)


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


def _container_ips(names: list[str]) -> dict[str, str]:
    """Each running container's address on the kind network: one docker call, one per name if any is absent."""
    data = _docker_json(["docker", "inspect", *names])
    if data is None and len(names) > 1:
        return {k: v for name in names for k, v in _container_ips([name]).items()}
    found = {}
    for container in data or []:
        settings = container.get("NetworkSettings", {})
        networks = settings.get("Networks", {}) if isinstance(settings, dict) else {}
        kind = networks.get("kind", {}) if isinstance(networks, dict) else {}
        ip = kind.get("IPAddress") if isinstance(kind, dict) else None
        if ip:
            found[str(container.get("Name", "")).lstrip("/")] = str(ip)
    return found
