"""L7 routing for the Ingress and Gateway API labs: paths to back ends whose pods answer every path with their
own name, polled through Traefik until right or until the answer is final (see docs/DESIGN.md, early
verdicts)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from typing import Any

from grader.base.wait import WaitTimeout, wait_for
from grader.kube.client import KubeError
from grader.lab import traefik_view
from grader.lab.context import LabContext

Seen = dict[str, tuple[int | None, str]]  # path -> (HTTP status, which back end answered)


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
    just another's routes gone); at once when no route object of the namespace will ever be served (another
    class, no existing parent Gateway). Otherwise until the deadline."""
    last: Seen = {}
    state: dict[str, Any] = {"seen": None, "changed": 0.0, "taken": None, "live": ""}

    # One round per poll: this loop retries, not the probe (a 5xx from a broken back end is an answer to record).
    one_round = lab.outside.policy.one_round_s
    traefik = traefik_view.Reader(lab.kube)  # what Traefik runs: when it holds our routes, the answer is final

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
        objects = lab.objects(kind)  # one read of them a round
        taken_now, never = _route_objects(lab, kind, objects)
        if never:
            raise _Settled  # no route of ours will ever be served: this answer is the one for good
        live = traefik.fingerprint(lab.namespace, kind, objects)
        if live and live == state["live"]:
            raise _Settled  # Traefik ran these very routers before this round's requests and after them
        state["live"] = live
        now = time.monotonic()
        if state["seen"] != last:
            state.update(seen=dict(last), changed=now)
        if state["taken"] is None and taken_now:
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
    lab.judged[_served_key(kind, host)] = any(status == 200 and owner for status, owner in last.values())
    return last


def require_served(
    lab: LabContext, ip: str, host: str, routes: dict[str, str], *, kind: str = "ingresses", by: str
) -> None:
    """BLOCKED (naming check `by`) unless Traefik serves a route of this namespace for `host`: some path of `routes`
    answered 200 from a back end of this namespace. What a check observes beside that (a 404 for another path or
    host) says nothing when no route of ours is served at all. Found out once a run (poll_routes remembers it)."""
    if not lab.objects(kind):
        what = "Ingress" if kind == "ingresses" else "HTTPRoute" if kind.startswith("httproutes") else kind
        lab.blocked(by, f"there is no {what} in the namespace, so Traefik serves nothing of it")
    if _served_key(kind, host) not in lab.judged:
        poll_routes(lab, ip, host, routes, kind=kind)
    if not lab.judged[_served_key(kind, host)]:
        lab.blocked(
            by,
            f"Traefik serves no route of this namespace for Host {host} (no path reached a back end of it), so "
            "what it answers here says nothing of the routes",
        )


def _served_key(kind: str, host: str) -> str:
    return f"served {kind} {host}"


def _route_objects(lab: LabContext, kind: str, objects: list[dict[str, Any]]) -> tuple[bool, bool]:
    """(taken, never served), from one read of the namespace's route objects and of their parent Gateways.
    Taken: the controller has processed every one (Traefik publishes its address on an Ingress it serves and
    writes an Accepted condition for an HTTPRoute's generation); an Ingress of another class, or a route whose
    parentRefs name no existing Gateway, is taken by nobody and counts as taken: nothing will change for it."""
    if not objects:
        return False, False
    if kind == "ingresses":
        return all(map(_ingress_taken, objects)), not any(map(_class_is_ours, objects))
    parented = [_has_parent_gateway(lab, r) for r in objects]
    accepted = [_accepted(r) for r in objects]
    taken = all(bool(said) or not parent for said, parent in zip(accepted, parented, strict=True))
    refused = [bool(said) and all(status == "False" for status in said) for said in accepted]
    return taken, not any(parent and not no for parent, no in zip(parented, refused, strict=True))


def _accepted(route: dict[str, Any]) -> list[str]:
    """The status of every Accepted condition written for the route's current generation (one a parent). All
    "False": every parent refused it (no such listener, a hostname or namespace the listener does not allow)."""
    generation = route.get("metadata", {}).get("generation")
    return [
        str(c.get("status"))
        for parent in (route.get("status") or {}).get("parents") or []
        for c in parent.get("conditions") or []
        if c.get("type") == "Accepted" and c.get("observedGeneration") == generation
    ]


def _class_is_ours(ingress: dict[str, Any]) -> bool:
    return (ingress.get("spec") or {}).get("ingressClassName") in (None, "traefik")


def _ingress_taken(ingress: dict[str, Any]) -> bool:
    if not _class_is_ours(ingress):
        return True
    return bool(((ingress.get("status") or {}).get("loadBalancer") or {}).get("ingress"))


def _has_parent_gateway(lab: LabContext, route: dict[str, Any]) -> bool:
    """Whether a Gateway named by the route's parentRefs exists (a read error counts as existing: keep waiting)."""
    own = route.get("metadata", {}).get("namespace", lab.namespace)
    for ref in (route.get("spec") or {}).get("parentRefs") or []:
        if ref.get("kind", "Gateway") != "Gateway":
            continue
        try:
            if lab.kube.get("gateways.gateway.networking.k8s.io", str(ref.get("name")), ref.get("namespace", own)):
                return True
        except KubeError:
            return True
    return False


def first_wrong(seen: Seen, host: str, routes: dict[str, str]) -> str:
    for path, (status, owner) in seen.items():
        if status != 200 or owner != routes[path]:
            got = f"the {owner} back end" if owner else (f"HTTP {status}" if status else "no answer")
            return f"{path} with Host {host} got {got}, expected the {routes[path]} back end"
    return ""
