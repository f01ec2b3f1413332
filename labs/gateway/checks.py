"""Gateway API lab: the learner's own Gateway (AKS app routing's class) and an HTTPRoute on it do what the Ingress
lab did, through the address the Gateway's status gives and the port clients use, for host ${SHOP_HOST}
(shop.example unless a classroom gives the learner their own; the lab's certificate is for shop.example and
*.shop.example, so it serves a classroom's hosts too)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from grader.lab import (
    Diagnosis,
    HttpsAnswer,
    LabContext,
    fingerprint,
    first_wrong,
    gateway_door,
    https_through,
    listener_problems,
    listeners_of,
    poll_routes,
    require_served,
    route_owner,
    secret_certificate,
)

GATEWAY = "shop-gateway"
PORT = 80  # the port clients use: a listener's port is where its Gateway's address takes connections
TLS_PORT = 443
TLS_SECRET = "shop-tls"  # the lab's certificate for shop.example and *.shop.example, in the starter
ROUTES = {"/store": "store", "/store/cart": "store", "/api": "api", "/api/orders": "api"}
KIND = "httproutes.gateway.networking.k8s.io"
GATEWAYS = "gateways.gateway.networking.k8s.io"
FIRST = "paths_reach_backends"


def shop_host(lab: LabContext) -> str:
    """The learner's host: lab.yaml's default, or the one their classroom gave them."""
    return lab.facts.variables["SHOP_HOST"]


def _refused(host: str) -> Callable[[dict[str, Any]], Diagnosis]:
    """What gateway_door says of a Gateway its implementation refused: this lab's words, for the learner's host."""
    return lambda gateway: _gateway_diagnosis(gateway, host)


def _url_root(address: str) -> str:
    """host:port to probe (an IPv6 address in brackets)."""
    return f"[{address}]:{PORT}" if ":" in address else f"{address}:{PORT}"


def _gateway_diagnosis(gateway: dict[str, Any], host: str) -> Diagnosis:
    """What of the Gateway keeps port 80 from serving the host, '' when nothing."""
    listeners = listeners_of(gateway)
    on_port = [x for x in listeners if x.get("port") == PORT and x.get("protocol") == "HTTP"]
    if not on_port:
        shown = ", ".join(f"{x.get('name')}: {x.get('protocol')} port {x.get('port')}" for x in listeners)
        return Diagnosis(
            "gateway/listener-port",
            f"Gateway {GATEWAY} has no HTTP listener on port {PORT} ({shown}). A listener's port is the port clients "
            f"connect to (on AKS its load balancer publishes it; on kind Traefik serves listeners on port {PORT}), "
            f"and clients of {host} use {PORT}.",
        )
    hosts = [x.get("hostname") for x in on_port]
    if None not in hosts and host not in hosts:
        return Diagnosis(
            "gateway/listener-hostname",
            f"Gateway {GATEWAY}'s listener on port {PORT} is for {', '.join(map(str, hosts))}: it takes only routes "
            f"and requests for that host, not {host}. Set its hostname to {host}, or leave it out.",
        )
    for listener in listeners:
        refs = [r.get("name") for r in (listener.get("tls") or {}).get("certificateRefs") or [] if isinstance(r, dict)]
        if listener.get("protocol") == "HTTPS" and TLS_SECRET not in refs:
            return Diagnosis(
                "gateway/certificate-ref",
                f"Gateway {GATEWAY}'s listener {listener.get('name')} names certificate "
                f"{', '.join(map(str, refs)) or 'none'}: an HTTPS listener terminates TLS with a Secret of your "
                f"namespace, here {TLS_SECRET} (tls.certificateRefs: [{{name: {TLS_SECRET}}}]).",
            )
    problems = listener_problems(gateway)
    if problems:
        return Diagnosis("gateway/listener-refused", f"Gateway {GATEWAY}: " + "; ".join(problems) + ".")
    return Diagnosis()


def _route_diagnosis(lab: LabContext, gateway: dict[str, Any], seen: dict[str, tuple[int | None, str]]) -> Diagnosis:
    host = shop_host(lab)
    routes = lab.objects(KIND)
    if not routes:
        return Diagnosis("gateway/no-httproute", "There is no HTTPRoute in the namespace.")
    listeners = {x.get("name") for x in listeners_of(gateway)}
    for found in (_gateway_diagnosis(gateway, host), *(_route_mistake(route, listeners, host) for route in routes)):
        if found:
            return found
    return Diagnosis(
        "gateway/backend-wrong",
        "Check each rule's backendRefs (Service name and port): " + first_wrong(seen, host, ROUTES) + ".",
    )


def _route_mistake(route: dict[str, Any], listeners: set[Any], host: str) -> Diagnosis:
    """What of one HTTPRoute keeps it from serving the paths, as its status and spec say; empty when nothing."""
    name = route["metadata"]["name"]
    conditions = {
        c.get("type"): c for p in route.get("status", {}).get("parents", []) or [] for c in p.get("conditions", [])
    }
    accepted = conditions.get("Accepted", {})
    if accepted.get("status") != "True":
        return _unattached(name, route.get("spec", {}).get("parentRefs", []) or [], accepted, listeners)
    resolved = conditions.get("ResolvedRefs", {})
    if resolved.get("status") == "False":
        return Diagnosis(
            "gateway/backend-refs-unresolved",
            f"HTTPRoute {name} has backendRefs that do not resolve ({resolved.get('reason')}: "
            f"{resolved.get('message', '')}): a backendRef names a Service and one of its ports (80), "
            "not the container port.",
        )
    exact = [
        match["path"].get("value")
        for rule in route.get("spec", {}).get("rules", []) or []
        for match in rule.get("matches", []) or []
        if match.get("path", {}).get("type") == "Exact"
    ]
    if exact:
        return Diagnosis(
            "gateway/path-type-exact",
            f"Path type Exact on {exact[0]} matches that path only, not /store/cart: use PathPrefix.",
        )
    hostnames = route.get("spec", {}).get("hostnames") or []
    if hostnames and host not in hostnames:
        return Diagnosis(
            "gateway/hostnames-not-shop-example",
            f"HTTPRoute {name} is for {', '.join(hostnames)}, but clients send Host {host}.",
        )
    return Diagnosis()


def _unattached(name: str, refs: list[dict[str, Any]], accepted: dict[str, Any], listeners: set[Any]) -> Diagnosis:
    """Which part of the parentRefs keeps the route off the learner's Gateway."""
    shown = "; ".join(f"name={r.get('name')} sectionName={r.get('sectionName', '(any)')}" for r in refs)
    reason = f" ({accepted.get('reason')}: {accepted.get('message', '')})" if accepted else ""
    if not refs or any(r.get("name") != GATEWAY for r in refs):
        return Diagnosis(
            "gateway/parent-not-your-gateway",
            f"HTTPRoute {name} is not attached to your Gateway{reason}: its parentRefs are {shown or 'none'}. "
            f"A route attaches to the Gateway you wrote, by its name ({GATEWAY}).",
        )
    if any("sectionName" in r and r["sectionName"] not in listeners for r in refs):
        return Diagnosis(
            "gateway/parent-listener-unknown",
            f"HTTPRoute {name} is not attached to the Gateway{reason}: its parentRefs are {shown}, but "
            f"{GATEWAY}'s listeners are {', '.join(sorted(map(str, listeners)))}. sectionName names one of "
            "them (or leave it out to attach to every listener that allows the route).",
        )
    return Diagnosis("gateway/route-not-attached", f"HTTPRoute {name} is not attached to {GATEWAY}{reason}.")


@pytest.mark.check(
    points=3, title="through your Gateway's address, port 80, Host shop.example: /store reaches store, /api reaches api"
)
def test_paths_reach_backends(lab: LabContext) -> None:
    host = shop_host(lab)
    door = gateway_door(lab, GATEWAY, refused=_refused(host))
    lab.expect(bool(lab.objects(KIND)), "There is no HTTPRoute in the namespace yet.", diagnosis="gateway/no-httproute")
    seen = poll_routes(lab, _url_root(door.address), host, ROUTES, kind=KIND)
    wrong = first_wrong(seen, host, ROUTES)
    if wrong:
        now = [g for g in lab.objects(GATEWAYS) if g["metadata"]["name"] == GATEWAY]  # its status as of now
        why = _route_diagnosis(lab, now[0] if now else door.gateway, seen)
        lab.fail(f"{wrong}. {why}", diagnosis=why.id)


@pytest.mark.check(points=1, title="an unknown path on shop.example gets 404")
def test_unknown_path_404(lab: LabContext) -> None:
    host = shop_host(lab)
    root = _url_root(gateway_door(lab, GATEWAY, blocked_by=FIRST, refused=_refused(host)).address)
    require_served(lab, root, host, ROUTES, kind=KIND, by=FIRST)  # else a 404 is all it could say
    result = lab.outside.http_get(f"http://{root}/checkout", host, expect_status=404, deadline_s=5)
    result.must_succeed(
        f"/checkout with Host {host} should get 404 but got {result.observed}"
        + (f" from {route_owner(lab, result.body, ROUTES.values())}" if result.status == 200 else "")
        + ": a PathPrefix / match catches every path; route only /store and /api.",
        diagnosis="gateway/catch-all-path",
    )


@pytest.mark.check(points=1, title="the route belongs to shop.example only: another host gets 404")
def test_host_scoped(lab: LabContext) -> None:
    host = shop_host(lab)
    root = _url_root(gateway_door(lab, GATEWAY, blocked_by=FIRST, refused=_refused(host)).address)
    require_served(lab, root, host, ROUTES, kind=KIND, by=FIRST)  # else a 404 is all it could say
    result = lab.outside.http_get(f"http://{root}/store", "other.example", expect_status=404, deadline_s=5)
    result.must_succeed(
        f"/store with Host other.example got {result.observed}: with no hostname on the listener and no "
        f"hostnames on the HTTPRoute, the route answers for every host; set hostnames: [{host}] on the route "
        "(or hostname on the listener).",
        diagnosis="gateway/route-without-hostnames",
    )


@pytest.mark.check(
    points=2,
    title="HTTPS on port 443 for shop.example: your Gateway presents the lab's certificate and routes /store",
)
def test_tls_at_gateway(lab: LabContext) -> None:
    host = shop_host(lab)
    door = gateway_door(lab, GATEWAY, blocked_by=FIRST, refused=_refused(host))
    require_served(lab, _url_root(door.address), host, ROUTES, kind=KIND, by=FIRST)  # the routes work over HTTP
    wanted = secret_certificate(lab, TLS_SECRET)

    def right(answer: HttpsAnswer) -> bool:
        # a back end of this namespace answered through TLS: which one is paths_reach_backends' to judge
        return answer.certificate == wanted and answer.status == 200 and bool(_owner(lab, answer.body))

    https = [x for x in door.listeners() if x.get("protocol") == "HTTPS" and x.get("port") == TLS_PORT]
    names = {x.get("name") for x in https}
    routed = any(
        ref.get("name") == GATEWAY and ref.get("sectionName", next(iter(names), None)) in names
        for route in lab.objects(KIND)
        for ref in (route.get("spec") or {}).get("parentRefs") or []
    )
    # with no HTTPS listener, or no route on it, nothing can turn right: one look, not the time a new one takes
    answer, vantage = https_through(lab, door, TLS_PORT, host, "/store", deadline_s=20 if routed else 2, done=right)
    owner = _owner(lab, answer.body)
    lab.matrix.record(
        vantage,
        f"https://{host}/store",
        expected=True,
        observed=right(answer),
        detail=f"certificate {fingerprint(answer.certificate)}, {answer.observed} from {owner or 'nobody'}",
    )
    if right(answer):
        return
    if not https:
        lab.fail(
            f"https://{host}/store on port {TLS_PORT} got {answer.observed}: Gateway {GATEWAY} has no HTTPS listener "
            f"on port {TLS_PORT}. Add one (protocol HTTPS, port {TLS_PORT}, hostname {host}) whose tls.certificateRefs "
            f"names the Secret {TLS_SECRET}; the Gateway terminates TLS there.",
            diagnosis="gateway/no-https-listener",
        )
    if answer.certificate and answer.certificate != wanted:
        lab.fail(
            f"For {host} the Gateway presented certificate {fingerprint(answer.certificate)}, not the lab's "
            f"({fingerprint(wanted)}, Secret {TLS_SECRET}): the HTTPS listener's hostname must be {host} and its "
            f"certificateRefs must name {TLS_SECRET}.",
            diagnosis="gateway/wrong-certificate",
        )
    lab.fail(
        f"https://{host}/store got {answer.observed}"
        + (f" from {owner}" if owner else "")
        + f" with the lab's certificate: the HTTPS listener takes TLS, but no route of yours serves it. An HTTPRoute "
        "attaches to the listeners its parentRefs name: leave sectionName out, or add a parentRef with sectionName "
        f"{https[0].get('name')}.",
        diagnosis="gateway/route-not-on-https",
    )


def _owner(lab: LabContext, body: str) -> str:
    return route_owner(lab, body, ROUTES.values()) if body else ""
