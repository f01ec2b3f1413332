"""The routers Traefik makes for a route object (an Ingress or an HTTPRoute), as its providers name and write
them (Traefik v3.6, fixtures/traefik): what grader.lab.traefik_view looks for in its running configuration.

Only what is known for sure is predicted; anything else raises Unknown, and the grader keeps its clocks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from grader.kube.client import Obj

PRIORITY = "traefik.ingress.kubernetes.io/router.priority"
ENTRY_POINTS = "traefik.ingress.kubernetes.io/router.entrypoints"


class Unknown(Exception):
    """A route this module cannot predict Traefik's routers for: leave the verdict to the clocks."""


@dataclass(frozen=True)
class Router:
    """One router Traefik should run for a route object: its matchers, e.g. {("Host", "shop.example"),
    ("PathPrefix", "/store")}, and the back ends it sends to (Traefik's service names, without the provider)."""

    matchers: frozenset[tuple[str, str]]
    backends: frozenset[str]
    priority: int | None = None
    entry_points: tuple[str, ...] | None = None


def router_prefix(kind: str, route: Obj) -> str:
    meta = route["metadata"]
    if kind == "ingresses":
        return normalize(f"{meta.get('namespace', '')}-{meta['name']}") + "-"
    return normalize(f"httproute-{meta.get('namespace', '')}-{meta['name']}-gw") + "-"


def normalize(name: str) -> str:
    """Traefik's own: every run of characters other than letters and digits becomes one dash."""
    return "-".join(part for part in re.split(r"[^0-9A-Za-z]+", name) if part)


def ingress_routers(ingress: Obj) -> Iterator[Router]:
    namespace = ingress["metadata"].get("namespace", "")
    annotations = ingress["metadata"].get("annotations") or {}
    spec = ingress.get("spec") or {}
    if spec.get("defaultBackend") or spec.get("tls"):
        raise Unknown("a default back end or TLS: other routers")
    priority = int(annotations[PRIORITY]) if str(annotations.get(PRIORITY, "")).isdigit() else None
    points = annotations.get(ENTRY_POINTS)
    entry_points = tuple(sorted(p.strip() for p in points.split(","))) if points else None
    for rule in spec.get("rules") or []:
        host = rule.get("host") or ""
        if "*" in host:
            raise Unknown("a wildcard host")
        for path in (rule.get("http") or {}).get("paths") or []:
            service = (path.get("backend") or {}).get("service") or {}
            port = service.get("port") or {}
            matchers = {("Host", host)} if host else set()
            if path.get("path"):
                matchers.add(("Path" if path.get("pathType") == "Exact" else "PathPrefix", path["path"]))
            backend = f"{namespace}-{service.get('name')}-{port.get('number') or port.get('name')}"
            yield Router(frozenset(matchers), frozenset({backend}), priority, entry_points)


def httproute_routers(route: Obj) -> Iterator[Router]:
    namespace = route["metadata"].get("namespace", "")
    spec = route.get("spec") or {}
    hosts = {("Host", h) for h in spec.get("hostnames") or []}
    if any("*" in h for _, h in hosts):
        raise Unknown("a wildcard hostname")
    for _parent in _accepted_parents(route):
        for rule in spec.get("rules") or []:
            if rule.get("filters") or any(b.get("filters") for b in rule.get("backendRefs") or []):
                raise Unknown("filters")
            backends = frozenset(_gateway_backend(namespace, ref) for ref in rule.get("backendRefs") or [])
            for match in rule.get("matches") or [{}]:
                if set(match) - {"path"}:
                    raise Unknown("a match on headers, query or method")
                yield Router(frozenset(hosts | _gateway_paths(match.get("path"))), backends)


def _accepted_parents(route: Obj) -> list[Obj]:
    generation = route["metadata"].get("generation")
    return [
        parent
        for parent in (route.get("status") or {}).get("parents") or []
        if any(
            c.get("type") == "Accepted" and c.get("status") == "True" and c.get("observedGeneration") == generation
            for c in parent.get("conditions") or []
        )
    ]


def _gateway_backend(namespace: str, ref: Obj) -> str:
    if ref.get("kind", "Service") != "Service" or ref.get("group") or ref.get("namespace", namespace) != namespace:
        raise Unknown("a back end other than a Service of the route's namespace")
    return f"{namespace}-{ref.get('name')}-http-{ref.get('port')}"


def _gateway_paths(path: Obj | None) -> set[tuple[str, str]]:
    kind, value = (path or {}).get("type", "PathPrefix"), (path or {}).get("value", "/")
    if kind == "Exact":
        return {("Path", value)}
    if kind != "PathPrefix":
        raise Unknown("a regular expression path")
    if value.rstrip("/") == "":
        return {("PathPrefix", "/")}
    return {("Path", value.rstrip("/")), ("PathPrefix", value.rstrip("/") + "/")}
