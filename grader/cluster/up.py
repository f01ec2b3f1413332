"""`servicelab up`: an ordered list of actions; a failure deletes what this run made unless --retain.

Every action is idempotent, so a second `up` on a running cluster checks each piece and is quick.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from grader.base import images
from grader.base.errors import EnvError
from grader.base.names import (
    APP_ROUTING_CLASS,
    HELPER_CONTAINERS,
    KIND_CLUSTER,
    OUTSIDE_CONTAINER,
    PARTNER_CONTAINER,
    PARTNER_HOST,
    TRAEFIK_CLASS,
    TRAEFIK_GATEWAY,
    TRAEFIK_NAMESPACE,
    TRAEFIK_NODE_PORT,
)
from grader.base.run import run
from grader.base.wait import WaitTimeout, wait_for
from grader.cluster import aks, docker, metallb, netpol, nodeports, podguard, tools, traefik, vantage, versions
from grader.cluster.kindcli import Kind
from grader.cluster.net import LabAddresses, lab_addresses
from grader.cluster.preflight import check as preflight
from grader.cluster.preflight import check_ports_free
from grader.cluster.readiness import NodeBoot, nodes_ready, rollout_ready, settled_since_boot
from grader.cluster.sources import FIXTURES
from grader.kube.client import Kube

NODE_COUNT = 3
NODE_PORTS_SETTLE_S = 10.0
CLUSTER_DNS = ("kube-system", "deployment", "coredns")
SYSTEM_NAMESPACES = ("kube-system", metallb.NAMESPACE, TRAEFIK_NAMESPACE)


@dataclass
class UpOptions:
    name: str = KIND_CLUSTER
    node_image: str | None = None
    retain: bool = False
    say: Callable[[str], None] = print


@dataclass
class UpState:
    """What this run created (for rollback) and learned (for the summary)."""

    kind: Kind | None = None
    kube: Kube | None = None
    created_cluster: bool = False
    created_containers: list[str] = field(default_factory=list)
    addresses: LabAddresses | None = None
    traefik_ip: str = ""
    node_image: str = ""
    boots: dict[str, NodeBoot] = field(default_factory=dict)  # a reused cluster's node containers


def node_image(requested: str | None) -> str:
    if requested:
        return requested
    # Built here: the build's record names its node image, tagged by a hash of all its inputs.
    build = tools.offline_build()
    if build and docker.has_image(build.node_image):
        return build.node_image
    # Loaded from a `servicelab images save` bundle: the stable name the build also gives it.
    if docker.has_image(versions.OFFLINE_NODE_IMAGE):
        return versions.OFFLINE_NODE_IMAGE
    return versions.ONLINE_NODE_IMAGE


def kind_config(name: str) -> str:
    text = (FIXTURES / "kind-config.yaml").read_text()
    return text.replace("name: servicelab\n", f"name: {name}\n", 1)


def _create_cluster(opts: UpOptions, state: UpState) -> str:
    pre = preflight()
    state.kind = Kind(pre.kind_binary, opts.name)
    for note in pre.notes:
        opts.say(f"      note: {note}")
    state.node_image = node_image(opts.node_image)
    recreated = ""
    if state.kind.exists():
        containers = {node: docker.container_state(node) or {} for node in state.kind.node_containers()}
        stopped = [node for node, info in containers.items() if not info.get("State", {}).get("Running")]
        if _start_nodes(opts, stopped):
            # A started cluster is a restarted one (other addresses, the API server's state from the last boot):
            # _nodes_ready and _node_ports wait that out, and it keeps the learner's namespaces.
            containers = {node: docker.container_state(node) or {} for node in containers} if stopped else containers
            state.kube = Kube(context=state.kind.context)
            state.boots = {node: _boot(info) for node, info in containers.items()}
            return f"cluster '{opts.name}' exists: " + (f"started {', '.join(stopped)}" if stopped else "reusing it")
        opts.say(f"      {', '.join(stopped)} would not start: recreating cluster '{opts.name}'")
        state.kind.delete()
        recreated = " (recreated)"
    check_ports_free()
    state.kind.create(state.node_image, kind_config(opts.name))
    state.created_cluster = True
    state.kube = Kube(context=state.kind.context)
    return f"created{recreated} with {state.node_image} (kind {pre.kind_binary})"


def _start_nodes(opts: UpOptions, stopped: list[str]) -> bool:
    """Start node containers that stopped (the engine stopped cleanly, the machine restarted: docker does not
    start them again by itself), the control plane first; False when one will not start."""
    if stopped:
        opts.say(f"      cluster '{opts.name}' exists but {', '.join(stopped)} stopped: starting them")
    for node in sorted(stopped, key=lambda name: "control-plane" not in name):
        if run(["docker", "start", node], timeout=120, check=False).code != 0:
            return False
    return True


def _boot(container: dict[str, Any]) -> NodeBoot:
    return NodeBoot(docker.parse_docker_time(container["State"]["StartedAt"]), docker.container_ip(container))


def _nodes_ready(opts: UpOptions, state: UpState) -> str:
    kube = state.kube
    assert kube is not None
    ready = wait_for(lambda: nodes_ready(kube, NODE_COUNT), what="nodes Ready", timeout_s=300)
    if state.boots:
        # A reused cluster may have just come back from a restart (docker engine, machine): wait until
        # what the API server says of its nodes and controllers is from this boot, not the last one.
        wait_for(
            lambda: settled_since_boot(kube, state.boots, SYSTEM_NAMESPACES),
            what="nodes and system pods back since the node containers started",
            timeout_s=300,
        )
    wait_for(lambda: rollout_ready(kube, *CLUSTER_DNS), what="CoreDNS ready", timeout_s=180)
    return f"{len(ready)} nodes Ready: {', '.join(ready)}"


def _vantage_containers(opts: UpOptions, state: UpState) -> str:
    subnet = docker.kind_ipv4_subnet()
    if subnet is None:
        raise EnvError(f"docker network '{docker.KIND_NETWORK}' has no IPv4 subnet")
    state.addresses = lab_addresses(subnet)
    for name in HELPER_CONTAINERS:
        if vantage.ensure(name, state.addresses):
            state.created_containers.append(name)
    return f"{', '.join(HELPER_CONTAINERS)} on network '{docker.KIND_NETWORK}' ({PARTNER_CONTAINER} is {PARTNER_HOST})"


def _lab_images(opts: UpOptions, state: UpState) -> str:
    assert state.kind is not None
    loaded = []
    nodes = state.kind.node_containers()
    for image in images.LAB_IMAGES:
        missing = [node for node in nodes if not node_has_image(node, image)]
        if missing:
            if not docker.has_image(image):
                docker.pull(image)
            state.kind.load_image(image)
            loaded.append(image)
    return f"loaded {', '.join(loaded)}" if loaded else "present on every node"


def node_has_image(node: str, image: str) -> bool:
    return run(["docker", "exec", node, "crictl", "inspecti", image], timeout=60, check=False).code == 0


def _metallb(opts: UpOptions, state: UpState) -> str:
    assert state.kube is not None
    assert state.addresses is not None
    metallb.install(state.kube, state.addresses)
    carved = state.addresses
    return (
        f"{versions.METALLB}: public {carved.public_range}, internal {carved.internal_range}; "
        f"static {carved.static_ip} and {carved.internal_static_ip} by request only"
    )


def _aks(opts: UpOptions, state: UpState) -> str:
    assert state.kube is not None
    assert state.addresses is not None
    aks.install(state.kube, state.addresses)
    return "azure-load-balancer-internal -> pool internal; azure-load-balancer-ipv4 -> that address"


def _pod_guard(opts: UpOptions, state: UpState) -> str:
    assert state.kube is not None
    return podguard.install(state.kube)


def _traefik(opts: UpOptions, state: UpState) -> str:
    assert state.kube is not None
    state.traefik_ip = traefik.install(state.kube)
    return (
        f"{versions.TRAEFIK} at {state.traefik_ip} (IngressClass, GatewayClasses {TRAEFIK_CLASS} and "
        f"{APP_ROUTING_CLASS}; Gateway {TRAEFIK_NAMESPACE}/{TRAEFIK_GATEWAY})"
    )


def _walls(opts: UpOptions, state: UpState) -> str:
    """Needs the lab images on the nodes (the witness pods run agnhost)."""
    assert state.kube is not None
    seen = netpol.install(state.kube)
    return f"kube-router {versions.KUBE_ROUTER} on every node; witness: {seen}"


def _node_ports(opts: UpOptions, state: UpState) -> str:
    """Needs Traefik (the witness port's backend) and the outside container. A node that still refuses after
    NODE_PORTS_SETTLE_S (kube-proxy programs a new Service within a second or two) gets a new kube-proxy pod,
    which reads the node's current address (see nodeports)."""
    assert state.kube is not None
    kube = state.kube
    what = f"node port {TRAEFIK_NODE_PORT} answering on every node"
    done = f"{TRAEFIK_NODE_PORT} answers on {NODE_COUNT} nodes from {OUTSIDE_CONTAINER}"
    try:
        wait_for(lambda: nodeports.answering(kube), what=what, timeout_s=NODE_PORTS_SETTLE_S, interval_s=0.5)
        return done
    except WaitTimeout:
        silent = [p for p in nodeports.probe(kube) if p.problem]
    if not silent:  # they answered just after the wait
        return done
    replaced = nodeports.replace_kube_proxy(kube, [p.node for p in silent])
    wait_for(lambda: nodeports.answering(kube), what=what, timeout_s=120)
    return f"{done}, once kube-proxy {', '.join(replaced)} was replaced ({'; '.join(map(str, silent))})"


ACTIONS: list[tuple[str, Callable[[UpOptions, UpState], str]]] = [
    ("Cluster (kind)", _create_cluster),
    ("Nodes ready", _nodes_ready),
    ("Outside containers", _vantage_containers),
    ("Lab images on nodes", _lab_images),
    ("MetalLB (Azure Load Balancer stand-in)", _metallb),
    ("AKS annotations", _aks),
    ("Pod guard for grading namespaces (ValidatingAdmissionPolicy)", _pod_guard),
    ("Traefik (Ingress + Gateway API)", _traefik),
    ("Walls between tenants (NetworkPolicy)", _walls),
    ("Node ports on every node (kube-proxy)", _node_ports),
]


def up(opts: UpOptions) -> UpState:
    state = UpState()
    started = time.monotonic()
    for index, (title, action) in enumerate(ACTIONS, 1):
        opts.say(f"[{index}/{len(ACTIONS)}] {title} ...")
        step_started = time.monotonic()
        try:
            detail = action(opts, state)
        except BaseException:
            _rollback(opts, state)
            raise
        opts.say(f"      {detail} ({time.monotonic() - step_started:.1f}s)")
    context = state.kind.context if state.kind else ""
    opts.say(f"Lab cluster '{opts.name}' is up ({time.monotonic() - started:.1f}s); kube context {context}")
    return state


def _rollback(opts: UpOptions, state: UpState) -> None:
    if opts.retain:
        opts.say("      failed: keeping what was made (--retain)")
        return
    for name in state.created_containers:
        docker.remove_container(name)
    if state.created_cluster and state.kind is not None:
        opts.say(f"      failed: deleting cluster '{opts.name}' made by this run (use --retain to keep it)")
        state.kind.delete()
