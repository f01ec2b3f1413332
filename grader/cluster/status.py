"""`servicelab status`: nodes, pools and their used IPs, controllers, images, outside containers."""

from __future__ import annotations

from dataclasses import dataclass, field

from grader.base import images
from grader.base.names import HELPER_CONTAINERS, OUTSIDE_CONTAINER, TRAEFIK_NODE_PORT
from grader.cluster import docker, metallb, netpol, nodeports, traefik, vantage
from grader.cluster.kindcli import Kind
from grader.cluster.readiness import internal_ip, node_ready, rollout_ready
from grader.cluster.up import CLUSTER_DNS, node_has_image
from grader.kube.client import Kube, KubeError, KubeUnreachable

CONTROLLERS = (CLUSTER_DNS, metallb.CONTROLLER, metallb.SPEAKERS, traefik.ROLLOUT, netpol.ROLLOUT)


@dataclass
class Status:
    exists: bool
    nodes: list[str] = field(default_factory=list)
    pools: dict[str, list[str]] = field(default_factory=dict)
    controllers: list[tuple[str, bool]] = field(default_factory=list)
    images: list[tuple[str, str, bool]] = field(default_factory=list)
    containers: list[tuple[str, str]] = field(default_factory=list)
    node_ports: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return self.exists and not self.problems


def collect(kind: Kind) -> Status:
    if not kind.exists():
        return Status(exists=False, problems=[f"no kind cluster '{kind.name}': run 'servicelab up'"])
    status = Status(exists=True)
    kube = Kube(context=kind.context)
    try:
        for node in kube.list("nodes"):
            ready = node_ready(node)
            ip = internal_ip(node) or "?"
            status.nodes.append(f"{node['metadata']['name']} {ip} {'Ready' if ready else 'NotReady'}")
            if not ready:
                status.problems.append(f"node {node['metadata']['name']} is not Ready")
        for namespace, kind_name, name in CONTROLLERS:
            ok, state = rollout_ready(kube, namespace, kind_name, name)
            status.controllers.append((state, bool(ok)))
            if not ok:
                status.problems.append(state)
        status.pools = metallb.pool_usage(kube)
    except (KubeError, KubeUnreachable) as err:
        status.problems.append(f"the API server does not answer properly: {err}")
    for container in kind.node_containers():
        for image in images.LAB_IMAGES:
            present = node_has_image(container, image)
            status.images.append((container, image, present))
            if not present:
                status.problems.append(f"{image} missing on {container}")
    _containers(status)
    if not status.problems:  # the witness needs Traefik and the outside container
        _node_ports(kube, status)
    return status


def api_problems(kube: Kube) -> list[str]:
    """What the API alone shows wrong with the lab cluster (no nodes, a node not Ready, a controller not rolled
    out), quickly and without Docker: a notebook's first check. KubeUnreachable when no API server answers."""
    nodes = kube.list("nodes")
    problems = [f"node {n['metadata']['name']} is not Ready" for n in nodes if not node_ready(n)]
    problems += [] if nodes else ["the cluster has no nodes"]
    for namespace, kind_name, name in CONTROLLERS:
        ok, state = rollout_ready(kube, namespace, kind_name, name)
        problems += [] if ok else [state]
    return problems


def _containers(status: Status) -> None:
    for name in HELPER_CONTAINERS:
        info = docker.container_state(name)
        running = bool(info and info.get("State", {}).get("Running"))
        status.containers.append((name, f"running at {docker.container_ip(info)}" if info and running else "absent"))
        if not running:
            status.problems.append(f"container {name} is not running: 'servicelab up' starts it")
        elif not vantage.current(name, info):
            status.problems.append(f"container {name} was made from an older spec: 'servicelab up' makes it again")


def _node_ports(kube: Kube, status: Status) -> None:
    try:
        ports = nodeports.probe(kube)
    except (nodeports.NotProbed, KubeError, KubeUnreachable) as err:
        status.problems.append(f"node ports could not be probed: {err}")
        return
    status.node_ports = [str(p) for p in ports]
    status.problems += [
        f"node {p.node}: {p.problem}; 'servicelab up' replaces its kube-proxy" for p in ports if p.problem
    ]


def render(status: Status) -> str:
    lines = []
    if status.nodes:
        lines += ["Nodes:"] + [f"  {n}" for n in status.nodes]
    if status.pools:
        lines.append("MetalLB pools:")
        lines += [f"  {pool}: {', '.join(ips) if ips else 'no addresses in use'}" for pool, ips in status.pools.items()]
    if status.controllers:
        lines += ["Controllers:"] + [f"  {'ok ' if ok else 'NOT'} {state}" for state, ok in status.controllers]
    if status.images:
        lines.append("Lab images:")
        lines += [f"  {'ok ' if ok else 'NOT'} {image} on {node}" for node, image, ok in status.images]
    if status.containers:
        lines += ["Outside containers:"] + [f"  {name}: {state}" for name, state in status.containers]
    if status.node_ports:
        lines.append(f"Node port {TRAEFIK_NODE_PORT} (Traefik) from {OUTSIDE_CONTAINER}:")
        lines += [f"  {p}" for p in status.node_ports]
    lines += ["Problems:"] + [f"  - {p}" for p in status.problems] if status.problems else ["All healthy."]
    return "\n".join(lines)
