"""Readiness questions about cluster objects, in the (value or None, state) form wait_for polls."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ParamSpec, TypeVar

from grader.kube.client import Kube, KubeError, KubeUnreachable, Obj

P = ParamSpec("P")
T = TypeVar("T")

SYSTEM_ROLLOUT_S = 240.0  # a system controller's rollout after `up` applied it: its image pulled, its pods ready


def api_errors_are_state(question: Callable[P, tuple[T | None, str]]) -> Callable[P, tuple[T | None, str]]:
    """An API server that is still starting (connection refused, RBAC not loaded yet: Forbidden) is a state
    to wait through, not a failure: the caller's deadline decides."""

    @functools.wraps(question)
    def asked(*args: P.args, **kwargs: P.kwargs) -> tuple[T | None, str]:
        try:
            return question(*args, **kwargs)
        except (KubeError, KubeUnreachable) as err:
            return None, f"API server: {str(err).strip().splitlines()[-1][:200]}"

    return asked


@api_errors_are_state
def rollout_ready(kube: Kube, namespace: str, kind: str, name: str) -> tuple[bool | None, str]:
    obj = kube.get(kind, name, namespace)
    if obj is None:
        return None, f"{kind} {namespace}/{name} does not exist yet"
    status, spec = obj.get("status", {}), obj.get("spec", {})
    if kind == "daemonset":
        want, ready = status.get("desiredNumberScheduled", 0), status.get("numberReady", 0)
        fresh = status.get("updatedNumberScheduled", 0) == want
    else:
        want, ready = spec.get("replicas", 1), status.get("readyReplicas", 0)
        fresh = status.get("updatedReplicas", 0) == want
    state = f"{kind} {namespace}/{name}: {ready}/{want} ready"
    return (True if want > 0 and ready == want and fresh else None), state


@api_errors_are_state
def nodes_ready(kube: Kube, count: int) -> tuple[list[str] | None, str]:
    nodes = kube.list("nodes")
    ready = [n["metadata"]["name"] for n in nodes if node_ready(n)]
    state = f"{len(ready)}/{len(nodes)} nodes Ready (want {count})"
    return (ready if len(ready) >= count else None), state


@api_errors_are_state
def lb_address(kube: Kube, namespace: str, name: str) -> tuple[str | None, str]:
    svc = kube.get("service", name, namespace)
    if svc is None:
        return None, f"service {namespace}/{name} does not exist"
    ingress = svc.get("status", {}).get("loadBalancer", {}).get("ingress") or []
    ip = ingress[0].get("ip") if ingress else None
    return (str(ip) if ip else None), f"service {namespace}/{name}: loadBalancer {ingress or 'pending'}"


@api_errors_are_state
def condition_true(kube: Kube, kind: str, name: str, namespace: str | None, condition: str) -> tuple[bool | None, str]:
    obj = kube.get(kind, name, namespace)
    if obj is None:
        return None, f"{kind} {name} does not exist yet"
    conditions = obj.get("status", {}).get("conditions") or []
    found = next((c for c in conditions if c.get("type") == condition), None)
    if found and found.get("status") == "True":
        return True, f"{kind} {name}: {condition}"
    detail = f"{found.get('reason')}: {found.get('message')}" if found else "not reported"
    return None, f"{kind} {name}: {condition} is {detail}"


@dataclass(frozen=True)
class NodeBoot:
    """A kind node container as docker sees it: when it last started and its address on the kind network."""

    started: datetime
    ip: str | None


@api_errors_are_state
def settled_since_boot(kube: Kube, boots: Mapping[str, NodeBoot], namespaces: Sequence[str]) -> tuple[bool | None, str]:
    """After node containers restart, the API server still holds what their kubelets last wrote: nodes
    Ready, pods Ready with containers that died with the old boot. This is True only once every kubelet has
    reported since its node booted (with its current address) and every pod in `namespaces` runs
    containers started since then and is Ready."""
    for node in kube.list("nodes"):
        name = node["metadata"]["name"]
        boot = boots.get(name)
        if boot is None:
            continue
        ready = _condition(node, "Ready")
        if ready.get("status") != "True" or not _at_or_after(ready.get("lastHeartbeatTime"), boot.started):
            return None, f"node {name}: its kubelet has not reported Ready since the node restarted"
        addresses = [a["address"] for a in node["status"].get("addresses", []) if a.get("type") == "InternalIP"]
        if boot.ip and boot.ip not in addresses:
            return None, f"node {name}: InternalIP {addresses} is not yet its address {boot.ip}"
    for namespace in namespaces:
        for pod in kube.list("pods", namespace):
            unsettled = _pod_unsettled(pod, boots)
            if unsettled:
                return None, f"pod {namespace}/{pod['metadata']['name']}: {unsettled}"
    return True, "every node and system pod has come back since the restart"


def _pod_unsettled(pod: Obj, boots: Mapping[str, NodeBoot]) -> str | None:
    status = pod.get("status", {})
    if status.get("phase") in ("Succeeded", "Failed"):
        return None
    boot = boots.get(pod.get("spec", {}).get("nodeName", ""))
    for container in status.get("containerStatuses") or []:
        running = (container.get("state") or {}).get("running")
        if running is None:
            return f"container {container.get('name')} is not running"
        if boot and not _at_or_after(running.get("startedAt"), boot.started):
            return f"container {container.get('name')} is from before the node restarted"
    return None if _condition(pod, "Ready").get("status") == "True" else "not Ready"


def node_ready(node: Obj) -> bool:
    return _condition(node, "Ready").get("status") == "True"


def internal_ip(node: Obj) -> str:
    """The node's InternalIP as its kubelet last published it ('' when none)."""
    addresses = (node.get("status") or {}).get("addresses") or []
    return next((str(a.get("address")) for a in addresses if a.get("type") == "InternalIP"), "")


def _condition(obj: Obj, kind: str) -> Obj:
    """The status condition of that type ({} when not reported)."""
    return next((c for c in obj.get("status", {}).get("conditions") or [] if c.get("type") == kind), {})


def _at_or_after(stamp: str | None, boot: datetime) -> bool:
    """API timestamps have whole seconds: compare at that resolution."""
    if not stamp:
        return False
    return datetime.fromisoformat(stamp) >= boot.replace(microsecond=0)
