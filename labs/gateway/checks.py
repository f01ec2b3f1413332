"""Gateway API lab: an HTTPRoute on lab-gateway does what the Ingress lab did."""

from __future__ import annotations

import pytest

from grader.lab import Diagnosis, LabContext, first_wrong, poll_routes, require_served, route_owner

HOST = "shop.example"
ROUTES = {"/store": "store", "/store/cart": "store", "/api": "api", "/api/orders": "api"}
KIND = "httproutes.gateway.networking.k8s.io"


def _traefik_ip(lab: LabContext) -> str:
    """host:port where Traefik serves this lab (the Gateway listener http)."""
    traefik = lab.traefik()
    # the listener's port (8000) is Traefik's entry point; its Service publishes that entry point on port 80
    port = next((p.port for p in traefik.ports if p.target_port in ("web", 8000)), 80)
    return f"{traefik.lb_ips[0]}:{port}"


def _route_diagnosis(lab: LabContext, seen: dict[str, tuple[int | None, str]]) -> Diagnosis:
    routes = lab.objects(KIND)
    if not routes:
        return Diagnosis("gateway/no-httproute", "There is no HTTPRoute in the namespace.")
    for route in routes:
        name = route["metadata"]["name"]
        parents = route.get("status", {}).get("parents", []) or []
        conditions = {c.get("type"): c for p in parents for c in p.get("conditions", [])}
        accepted = conditions.get("Accepted", {})
        refs = route.get("spec", {}).get("parentRefs", [])
        if accepted.get("status") != "True":
            shown = "; ".join(
                f"name={r.get('name')} namespace={r.get('namespace', '(own)')} "
                f"sectionName={r.get('sectionName', '(any)')}"
                for r in refs
            )
            reason = f" ({accepted.get('reason')}: {accepted.get('message', '')})" if accepted else ""
            return Diagnosis(
                _unattached(refs),
                f"HTTPRoute {name} is not attached to the Gateway{reason}. Its parentRefs are {shown}; "
                "they must name lab-gateway in namespace traefik, listener (sectionName) http.",
            )
        resolved = conditions.get("ResolvedRefs", {})
        if resolved.get("status") == "False":
            return Diagnosis(
                "gateway/backend-refs-unresolved",
                f"HTTPRoute {name} has backendRefs that do not resolve ({resolved.get('reason')}: "
                f"{resolved.get('message', '')}): a backendRef names a Service and one of its ports (80), "
                "not the container port.",
            )
        for rule in route.get("spec", {}).get("rules", []) or []:
            for match in rule.get("matches", []) or []:
                if match.get("path", {}).get("type") == "Exact":
                    return Diagnosis(
                        "gateway/path-type-exact",
                        f"Path type Exact on {match['path'].get('value')} matches that path only, "
                        "not /store/cart: use PathPrefix.",
                    )
        hostnames = route.get("spec", {}).get("hostnames") or []
        if hostnames and HOST not in hostnames:
            return Diagnosis(
                "gateway/hostnames-not-shop-example",
                f"HTTPRoute {name} is for {', '.join(hostnames)}, but clients send Host {HOST}.",
            )
    return Diagnosis(
        "gateway/backend-wrong",
        "Check each rule's backendRefs (Service name and port): " + first_wrong(seen, HOST, ROUTES) + ".",
    )


def _unattached(refs: list[dict[str, str]]) -> str:
    """Which part of the parentRefs keeps a route off lab-gateway's listener http: the id of that mistake."""
    if any(r.get("name") != "lab-gateway" for r in refs) or not refs:
        return "gateway/parent-not-lab-gateway"
    if any(r.get("namespace") != "traefik" for r in refs):
        return "gateway/parent-namespace-not-traefik"
    if any(r.get("sectionName", "http") != "http" for r in refs):
        return "gateway/parent-listener-unknown"
    return "gateway/route-not-attached"


@pytest.mark.check(points=3, title="Host shop.example: /store reaches store and /api reaches api, from outside")
def test_paths_reach_backends(lab: LabContext) -> None:
    lab.expect(bool(lab.objects(KIND)), "There is no HTTPRoute in the namespace yet.", diagnosis="gateway/no-httproute")
    seen = poll_routes(lab, _traefik_ip(lab), HOST, ROUTES, kind=KIND)
    wrong = first_wrong(seen, HOST, ROUTES)
    if wrong:
        why = _route_diagnosis(lab, seen)
        lab.fail(f"{wrong}. {why}", diagnosis=why.id)


@pytest.mark.check(points=1, title="an unknown path on shop.example gets 404")
def test_unknown_path_404(lab: LabContext) -> None:
    ip = _traefik_ip(lab)
    require_served(lab, ip, HOST, ROUTES, kind=KIND, by="paths_reach_backends")  # else a 404 is all it could say
    result = lab.outside.http_get(f"http://{ip}/checkout", HOST, expect_status=404, deadline_s=5)
    result.must_succeed(
        f"/checkout with Host {HOST} should get 404 but got {result.observed}"
        + (f" from {route_owner(lab, result.body, ROUTES.values())}" if result.status == 200 else "")
        + ": a PathPrefix / match catches every path; route only /store and /api.",
        diagnosis="gateway/catch-all-path",
    )


@pytest.mark.check(points=1, title="the route belongs to shop.example only: another host gets 404")
def test_host_scoped(lab: LabContext) -> None:
    ip = _traefik_ip(lab)
    require_served(lab, ip, HOST, ROUTES, kind=KIND, by="paths_reach_backends")  # else a 404 is all it could say
    result = lab.outside.http_get(f"http://{ip}/store", "other.example", expect_status=404, deadline_s=5)
    result.must_succeed(
        f"/store with Host other.example got {result.observed}: an HTTPRoute without hostnames "
        f"answers for every host; set hostnames: [{HOST}].",
        diagnosis="gateway/route-without-hostnames",
    )
