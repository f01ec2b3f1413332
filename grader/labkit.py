"""Helpers shared by the Service labs' checks (labs/*/checks.py).

The labs follow one rule: a broken in-cluster route (selector, targetPort, port, protocol) is charged once, by
the ClusterIP check (`inside_route`); later checks use `route_works` to judge only their own concern when the
route is broken.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import time
from collections.abc import Iterable
from typing import Any

from grader._kube import KubeError
from grader._wait import WaitTimeout, wait_for
from grader.checks import LabContext, Service
from grader.diagnose import matches, port_mismatch
from grader.verdicts import Fail

__all__ = [
    "WaitTimeout",
    "first_wrong",
    "inside_route",
    "internet_facing",
    "poll_routes",
    "pool_of",
    "require_route",
    "route_owner",
    "route_works",
    "selected_pods",
    "wait_for",
]

Seen = dict[str, tuple[int | None, str]]  # path -> (HTTP status, which back end answered)


def selected_pods(lab: LabContext, svc: Service) -> list[dict[str, Any]]:
    return [p for p in lab.objects("pods") if matches(svc.selector, p["metadata"].get("labels") or {})]


def inside_route(lab: LabContext, name: str, count: int, what: str) -> list[str]:
    """The in-cluster route (selector, port 80, targetPort) works and reaches all `count` pods; their names."""
    svc = lab.service(name)
    eps = lab.wait_ready_endpoints(svc, count=count, hint=f"Service {name} should send traffic to {what}.")
    ports = [p.port for p in svc.ports]
    lab.expect(
        80 in ports,
        f"Service {name} listens on port {', '.join(map(str, ports)) or 'none'}, but clients "
        "use port 80: set port: 80 (targetPort stays the port the pods listen on).",
    )
    protocol = svc.port("80").protocol
    lab.expect(protocol == "TCP", f"Port 80 of Service {name} uses protocol {protocol}: HTTP needs protocol TCP.")
    lab.expect(svc.cluster_ip is not None, f"Service {name} has no ClusterIP: remove clusterIP: None.")
    seen = lab.probe.collect_hostnames(svc.url("/hostname", port=80), eps.pod_names)
    lab.judged[_route_key(svc)] = bool(seen.seen)  # what route_works would find: no need to probe it again
    if not seen.ok:
        why = port_mismatch(svc, selected_pods(lab, svc))
        seen.must_cover(
            f"Not every pod behind Service {name} answered on {svc.cluster_ip}:80. "
            + (why or "Check that targetPort is the port the containers listen on.")
        )
    return eps.pod_names


def route_works(lab: LabContext, svc: Service) -> bool:
    """Whether the in-cluster route works. When it does not, the ClusterIP check already charges that mistake,
    so exposure checks judge their own concern from the API instead of failing a second time. Found out once a
    run for each Service spec: the learner's objects do not change while they are graded, and every check
    after the first would wait out the same broken route again."""
    key = _route_key(svc)
    if key not in lab.judged:
        lab.judged[key] = _route_works(lab, svc)
    return lab.judged[key]


def _route_key(svc: Service) -> str:
    return "route " + json.dumps([svc.name, svc.raw.get("spec", {})], sort_keys=True)


def _route_works(lab: LabContext, svc: Service) -> bool:
    try:
        lab.wait_ready_endpoints(svc, count=1, timeout_s=20)
    except Fail:
        return False
    if svc.cluster_ip is None or all(p.port != 80 or p.protocol != "TCP" for p in svc.ports):
        return False
    return lab.probe.http_get(svc.url("/hostname", port=80), deadline_s=8).ok


def require_route(lab: LabContext, svc: Service, by: str) -> None:
    """BLOCKED (naming check `by`) when the in-cluster route is broken: what comes after it cannot be seen."""
    if not route_works(lab, svc):
        lab.blocked(by, f"{svc.name} does not answer inside the cluster, so this cannot be observed")


def pool_of(lab: LabContext, ip: str) -> str | None:
    """The MetalLB pool holding ip, or None when MetalLB is absent (a real cloud)."""
    try:
        pools = lab.kube.list("ipaddresspools.metallb.io", all_namespaces=True)
    except KubeError:
        return None
    addr = ipaddress.ip_address(ip)
    for pool in pools:
        for block in pool.get("spec", {}).get("addresses", []):
            if "-" in block:
                first, last = (ipaddress.ip_address(x.strip()) for x in block.split("-", 1))
                inside = first.version == addr.version == last.version and int(first) <= int(addr) <= int(last)
            else:
                inside = addr in ipaddress.ip_network(block, strict=False)
            if inside:
                return str(pool["metadata"]["name"])
    return ""


def internet_facing(lab: LabContext, ip: str) -> bool:
    """The lab's "internet" vantage point: Azure's edge forwards only public addresses. On kind that is the
    MetalLB pool `public`; on a real cloud, a globally routable address."""
    pool = pool_of(lab, ip)
    facing = pool == "public" if pool is not None else ipaddress.ip_address(ip).is_global
    lab.matrix.record(
        "internet (by address)",
        lab.matrix.label_for(ip, 80),
        expected=None,
        observed=facing,
        detail=f"pool {pool}" if pool else "routable" if facing else "private",
    )
    return facing


# --- L7 routing (Ingress, Gateway API): paths to back ends whose pods answer every path with their name ---
def route_owner(lab: LabContext, body: str, apps: Iterable[str]) -> str:
    """Which back end (app label) answered: its pods answer every path with their own name."""
    name = body.strip()
    for app in apps:
        if name in {p["metadata"]["name"] for p in lab.objects("pods", selector=f"app={app}")}:
            return app
    return ""


SETTLE_S = 8.0  # after the controller took the routes: Traefik's provider throttle (2 s) plus a margin
LIVE_SETTLE_S = 3.0  # they changed after that, to answers from this namespace's pods: our routes are live


class _Settled(Exception):
    """The controller has taken every route and the answer has not changed since: waiting longer changes nothing."""


def poll_routes(
    lab: LabContext, ip: str, host: str, routes: dict[str, str], *, kind: str = "ingresses", deadline_s: float = 40.0
) -> Seen:
    """GET each path with Host `host` until all reach their back end, or until the verdict is known early:
    Traefik has published its status on every route object (`kind`: ingresses or httproutes) of the namespace
    and what the paths answer has not changed for SETTLE_S since (LIVE_SETTLE_S when they changed after the
    routes were taken and a back end of this namespace answers: the configuration with our routes is live, not
    just another's routes gone). Otherwise until the deadline."""
    last: Seen = {}
    state: dict[str, Any] = {"seen": None, "changed": 0.0, "taken": None}

    # One round per poll: this loop retries, not the probe (a 5xx from a broken back end is an answer to record).
    one_round = lab.outside.policy.one_round_s

    def attempt() -> tuple[bool | None, str]:
        results = lab.outside.http_batch([f"http://{ip}{path}" for path in routes], host, deadline_s=one_round)
        last.clear()
        last.update(
            {
                path: (r.status, route_owner(lab, r.body, routes.values()))
                for path, r in zip(routes, results, strict=True)
            }
        )
        if all(status == 200 and owner == routes[path] for path, (status, owner) in last.items()):
            return True, ""
        now = time.monotonic()
        if state["seen"] != last:
            state.update(seen=dict(last), changed=now)
        if state["taken"] is None and routes_taken(lab, kind):
            state["taken"] = now
        taken, changed, ours = state["taken"], state["changed"], any(owner for _, owner in last.values())
        if taken is not None and now - max(taken, changed) >= (LIVE_SETTLE_S if changed > taken and ours else SETTLE_S):
            raise _Settled
        return None, first_wrong(last, host, routes)

    with contextlib.suppress(WaitTimeout, _Settled):
        wait_for(attempt, what="routes through Traefik", timeout_s=deadline_s)
    for path, (status, owner) in last.items():
        lab.matrix.record(
            lab.outside.name,
            f"{host}{path}",
            expected=True,
            observed=status == 200 and owner == routes[path],
            detail=f"HTTP {status} from {owner or 'nobody'}",
        )
    return last


def routes_taken(lab: LabContext, kind: str) -> bool:
    """Whether the controller has processed every route object of the namespace (and there is one): Traefik
    publishes its address on an Ingress it serves and writes an Accepted condition for the route's generation
    on an HTTPRoute. An Ingress of another class, or a route whose parentRefs name no existing Gateway, is never
    taken by anyone: nothing will change for it either."""
    objects = lab.objects(kind)
    if kind == "ingresses":
        return bool(objects) and all(map(_ingress_taken, objects))
    return bool(objects) and all(_route_taken(r) or not _parent_gateways(lab, r) for r in objects)


def _ingress_taken(ingress: dict[str, Any]) -> bool:
    if (ingress.get("spec") or {}).get("ingressClassName") not in (None, "traefik"):
        return True
    return bool(((ingress.get("status") or {}).get("loadBalancer") or {}).get("ingress"))


def _parent_gateways(lab: LabContext, route: dict[str, Any]) -> list[str]:
    """The Gateways named by the route's parentRefs that exist (a read error counts as existing: keep waiting)."""
    own = route.get("metadata", {}).get("namespace", lab.namespace)
    found = []
    for ref in (route.get("spec") or {}).get("parentRefs") or []:
        if ref.get("kind", "Gateway") != "Gateway":
            continue
        where = f"{ref.get('namespace', own)}/{ref.get('name')}"
        try:
            exists = (
                lab.kube.get("gateways.gateway.networking.k8s.io", str(ref.get("name")), ref.get("namespace", own))
                is not None
            )
        except KubeError:
            exists = True
        if exists:
            found.append(where)
    return found


def _route_taken(route: dict[str, Any]) -> bool:
    generation = route.get("metadata", {}).get("generation")
    return any(
        c.get("type") == "Accepted" and c.get("observedGeneration") == generation
        for parent in (route.get("status") or {}).get("parents") or []
        for c in parent.get("conditions") or []
    )


def first_wrong(seen: Seen, host: str, routes: dict[str, str]) -> str:
    for path, (status, owner) in seen.items():
        if status != 200 or owner != routes[path]:
            got = f"the {owner} back end" if owner else (f"HTTP {status}" if status else "no answer")
            return f"{path} with Host {host} got {got}, expected the {routes[path]} back end"
    return ""
