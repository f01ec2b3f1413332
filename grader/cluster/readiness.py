"""Readiness questions about cluster objects, in the (value or None, state) form wait_for polls."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from grader._kube import Kube, KubeError, KubeUnreachable

P = ParamSpec("P")
T = TypeVar("T")


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
    ready = [
        n["metadata"]["name"]
        for n in nodes
        if any(c.get("type") == "Ready" and c.get("status") == "True" for c in n["status"].get("conditions", []))
    ]
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
