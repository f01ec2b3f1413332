"""What `explore()` shows of a lab's namespace beyond its pods: the objects traffic meets on its way in.

Services (type, ClusterIP, external address, ports, selector), Ingresses (class, host and path to backend),
Gateways (class, listeners, addresses, conditions) and HTTPRoutes (parents, hostnames, rules, whether each
parent accepted the route and its backends resolved). The Gateways shown are the namespace's own and those its
routes attach to elsewhere (a platform's shared Gateway, on clusters that have one). Read through the one API
client; a cluster without Gateway API says so instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from grader.kube.client import Obj
from grader.kube.errors import UnknownKind
from grader.learner.display import escape_cell, markdown_table

SERVICES = "services"
INGRESSES = "ingresses.networking.k8s.io"
GATEWAYS = "gateways.gateway.networking.k8s.io"
HTTPROUTES = "httproutes.gateway.networking.k8s.io"
NO_GATEWAY_API = "Gateway API is not installed on this cluster (no Gateway or HTTPRoute kinds)."

Table = tuple[tuple[str, ...], list[tuple[str, ...]]]


class Reads(Protocol):
    """The reads of grader.kube.client.Kube this uses."""

    def list(
        self, kind: str, namespace: str | None = None, selector: str | None = None, all_namespaces: bool = False
    ) -> list[Obj]: ...

    def get(self, kind: str, name: str, namespace: str | None = None) -> Obj | None: ...


def _names(items: Iterable[Any], sep: str = ", ") -> str:
    return sep.join(str(i) for i in items if i not in (None, "")) or "-"


def _lb_addresses(obj: Obj) -> list[str]:
    return [
        i.get("ip") or i.get("hostname") or ""
        for i in obj.get("status", {}).get("loadBalancer", {}).get("ingress") or []
    ]


def service_rows(services: list[Obj]) -> Table:
    rows: list[tuple[str, ...]] = []
    for svc in sorted(services, key=lambda s: s["metadata"]["name"]):
        spec = svc.get("spec", {})
        kind = spec.get("type", "ClusterIP")
        if kind == "ExternalName":
            external = f"CNAME {spec.get('externalName', '?')}"
        elif kind == "LoadBalancer":
            external = _names(addresses) if (addresses := _lb_addresses(svc)) else "pending"
        else:
            external = "-"
        ports = [
            f"{p.get('port')}"
            + (f":{p['nodePort']}" if p.get("nodePort") else "")
            + f"/{p.get('protocol', 'TCP')} -> {p.get('targetPort', p.get('port'))}"
            for p in spec.get("ports") or []
        ]
        selector = _names(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items()))
        rows.append((svc["metadata"]["name"], kind, spec.get("clusterIP") or "-", external, _names(ports), selector))
    return ("service", "type", "cluster IP", "external IP", "ports (port:nodePort -> targetPort)", "selector"), rows


def _backend(backend: Obj) -> str:
    svc = backend.get("service") or {}
    port = svc.get("port") or {}
    return f"{svc.get('name', '?')}:{port.get('number') or port.get('name') or '?'}"


def ingress_rows(ingresses: list[Obj]) -> Table:
    rows: list[tuple[str, ...]] = []
    for ing in sorted(ingresses, key=lambda i: i["metadata"]["name"]):
        spec = ing.get("spec", {})
        annotations = ing["metadata"].get("annotations") or {}
        klass = spec.get("ingressClassName") or annotations.get("kubernetes.io/ingress.class") or "(default)"
        routes = [
            f"{rule.get('host') or '*'}{path.get('path', '/')} ({path.get('pathType', '?')}) -> "
            f"{_backend(path.get('backend') or {})}"
            for rule in spec.get("rules") or []
            for path in (rule.get("http") or {}).get("paths") or []
        ]
        if spec.get("defaultBackend"):
            routes.append(f"default -> {_backend(spec['defaultBackend'])}")
        hosts = _names(dict.fromkeys(rule.get("host") or "*" for rule in spec.get("rules") or []))
        rows.append((ing["metadata"]["name"], klass, hosts, _names(routes, "; "), _names(_lb_addresses(ing))))
    return ("ingress", "class", "hosts", "paths -> backends", "address"), rows


def _conditions(conditions: list[Obj] | None) -> str:
    return _names(
        f"{c.get('type')}={c.get('status')}" + (f" ({c['reason']})" if c.get("reason") else "")
        for c in conditions or []
    )


def gateway_rows(gateways: list[Obj]) -> Table:
    rows: list[tuple[str, ...]] = []
    for gw in sorted(gateways, key=lambda g: (g["metadata"].get("namespace", ""), g["metadata"]["name"])):
        spec, status = gw.get("spec", {}), gw.get("status", {})
        listeners = [
            f"{ls.get('name')}: {ls.get('port')}/{ls.get('protocol')}"
            + (f" {ls['hostname']}" if ls.get("hostname") else "")
            for ls in spec.get("listeners") or []
        ]
        addresses = [a.get("value", "") for a in status.get("addresses") or []]
        name = f"{gw['metadata'].get('namespace', '')}/{gw['metadata']['name']}".lstrip("/")
        rows.append(
            (
                name,
                spec.get("gatewayClassName", "?"),
                _names(listeners, "; "),
                _names(addresses),
                _conditions(status.get("conditions")),
            )
        )
    return ("gateway", "class", "listeners (name: port/protocol hostname)", "addresses", "conditions"), rows


def _parent(ref: Obj, namespace: str) -> str:
    section = f"/{ref['sectionName']}" if ref.get("sectionName") else ""
    port = f":{ref['port']}" if ref.get("port") else ""
    return f"{ref.get('namespace') or namespace}/{ref.get('name', '?')}{section}{port}"


def _match(match: Obj) -> str:
    path = match.get("path") or {}
    said = f"{path.get('type', 'PathPrefix')} {path.get('value', '/')}"
    if match.get("headers"):
        said += " headers " + _names(h.get("name") for h in match["headers"])
    return said


def httproute_rows(routes: list[Obj]) -> Table:
    rows: list[tuple[str, ...]] = []
    for route in sorted(routes, key=lambda r: r["metadata"]["name"]):
        spec, namespace = route.get("spec", {}), route["metadata"].get("namespace", "")
        rules = [
            f"{_names((_match(m) for m in rule.get('matches') or [{}]), ' or ')} -> "
            + _names(
                (
                    f"{b.get('name', '?')}:{b.get('port', '?')}" + (f" weight {b['weight']}" if "weight" in b else "")
                    for b in rule.get("backendRefs") or []
                ),
            )
            for rule in spec.get("rules") or []
        ]
        status = [
            f"{_parent(p.get('parentRef') or {}, namespace)}: {_conditions(p.get('conditions'))}"
            for p in (route.get("status") or {}).get("parents") or []
        ]
        rows.append(
            (
                route["metadata"]["name"],
                _names((_parent(ref, namespace) for ref in spec.get("parentRefs") or []), "; "),
                _names(spec.get("hostnames") or ["*"]),
                _names(rules, "; "),
                _names(status, "; ") if status else "not yet seen by any Gateway",
            )
        )
    return ("httproute", "parents (namespace/gateway/listener)", "hostnames", "rules", "status per parent"), rows


def _parent_gateways(kube: Reads, routes: list[Obj], namespace: str, have: set[tuple[str, str]]) -> list[Obj]:
    """The Gateways the routes attach to outside what was listed already (each read once; a missing one is left
    out: the route's status says so)."""
    found = []
    for route in routes:
        for ref in route.get("spec", {}).get("parentRefs") or []:
            if ref.get("kind", "Gateway") != "Gateway":
                continue
            key = (ref.get("namespace") or namespace, ref.get("name", ""))
            if key in have or not key[1]:
                continue
            have.add(key)
            gateway = kube.get(GATEWAYS, key[1], key[0])
            if gateway is not None:
                found.append(gateway)
    return found


def l7_tables(kube: Reads, namespace: str) -> list[tuple[str, Table | str]]:
    """(heading, table or a sentence) for the namespace: Services always; Ingresses, Gateways and HTTPRoutes
    when there are any."""
    sections: list[tuple[str, Table | str]] = []
    services = kube.list(SERVICES, namespace)
    sections.append(("Services", service_rows(services) if services else "no Service yet"))
    if ingresses := kube.list(INGRESSES, namespace):
        sections.append(("Ingresses", ingress_rows(ingresses)))
    try:
        gateways = kube.list(GATEWAYS, namespace)
        routes = kube.list(HTTPROUTES, namespace)
    except UnknownKind:
        return [*sections, ("Gateway API", NO_GATEWAY_API)]
    have = {(g["metadata"].get("namespace") or namespace, g["metadata"]["name"]) for g in gateways}
    gateways = gateways + _parent_gateways(kube, routes, namespace, have)
    adders: list[tuple[str, list[Obj], Callable[[list[Obj]], Table]]] = [
        ("Gateways", gateways, gateway_rows),
        ("HTTPRoutes", routes, httproute_rows),
    ]
    sections += [(heading, render(items)) for heading, items, render in adders if items]
    return sections


def render(sections: list[tuple[str, Table | str]]) -> tuple[str, str]:
    """The sections as (markdown, plain text)."""
    markdown, text = [], []
    for heading, table in sections:
        markdown.append(f"**{heading}**\n")
        text.append(f"{heading}:")
        if isinstance(table, str):
            markdown.append(table + "\n")
            text.append("  " + table)
            continue
        head, rows = table
        markdown += [*markdown_table(head, [tuple(escape_cell(c) for c in row) for row in rows]), ""]
        text += ["  " + "  ".join(head), *("  " + "  ".join(row) for row in rows)]
    return "\n".join(markdown), "\n".join(text)
