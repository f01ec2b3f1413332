"""Ingress lab: host ${SHOP_HOST} (shop.example unless a classroom gives the learner their own), /store and /api to
their back ends through Traefik; nothing else."""

from __future__ import annotations

import pytest

from grader.lab import Diagnosis, LabContext, first_wrong, poll_routes, require_served, route_owner

ROUTES = {"/store": "store", "/store/cart": "store", "/api": "api", "/api/orders": "api"}


def shop_host(lab: LabContext) -> str:
    """The learner's host: lab.yaml's default, or the one their classroom gave them."""
    return lab.facts.variables["SHOP_HOST"]


def _traefik_ip(lab: LabContext) -> str:
    """Where Traefik serves this lab (Ingress: port 80 of its load-balancer address)."""
    return f"{lab.traefik().lb_ips[0]}"


def _ingress_diagnosis(lab: LabContext, seen: dict[str, tuple[int | None, str]]) -> Diagnosis:
    host = shop_host(lab)
    ingresses = lab.objects("ingresses")
    if not ingresses:
        return Diagnosis("ingress/no-ingress", "There is no Ingress in the namespace.")
    for ing in ingresses:
        spec = ing.get("spec", {})
        cls = spec.get("ingressClassName")
        if cls not in (None, "traefik"):
            return Diagnosis(
                "ingress/class-not-served",
                f"ingressClassName is {cls!r}: no controller here serves that class; use traefik (the default).",
            )
    rules = [r for ing in ingresses for r in ing["spec"].get("rules", []) or []]
    hosts = {r.get("host") for r in rules}
    if host not in hosts and None not in hosts:
        return Diagnosis(
            "ingress/host-not-shop-example",
            f"The rules are for host {', '.join(sorted(h for h in hosts if h))}, but clients send Host {host}.",
        )
    paths = [p for r in rules for p in (r.get("http") or {}).get("paths", [])]
    for p in paths:
        if p.get("pathType") == "Exact":
            return Diagnosis(
                "ingress/path-type-exact",
                f"pathType Exact on {p.get('path')} matches that path only, not /store/cart: use Prefix.",
            )
        svc_name = p.get("backend", {}).get("service", {}).get("name", "")
        number = p.get("backend", {}).get("service", {}).get("port", {}).get("number")
        svc = lab.get("service", svc_name)
        ports = [sp.get("port") for sp in (svc or {}).get("spec", {}).get("ports", [])]
        if number is not None and svc and number not in ports:
            return Diagnosis(
                "ingress/backend-port-not-service-port",
                f"The backend of {p.get('path')} uses port {number}, which Service {svc_name} does not have "
                f"(it has {', '.join(map(str, ports))}): name the Service port, not the container port.",
            )
    return Diagnosis(
        "ingress/backend-wrong",
        "Check each path's backend (Service name and port number): " + first_wrong(seen, host, ROUTES) + ".",
    )


@pytest.mark.check(points=3, title="Host shop.example: /store reaches store and /api reaches api, from outside")
def test_paths_reach_backends(lab: LabContext) -> None:
    lab.expect(
        bool(lab.objects("ingresses")), "There is no Ingress in the namespace yet.", diagnosis="ingress/no-ingress"
    )
    host = shop_host(lab)
    seen = poll_routes(lab, _traefik_ip(lab), host, ROUTES)
    wrong = first_wrong(seen, host, ROUTES)
    if wrong:
        why = _ingress_diagnosis(lab, seen)
        lab.fail(f"{wrong}. {why}", diagnosis=why.id)


@pytest.mark.check(points=1, title="an unknown path on shop.example gets 404")
def test_unknown_path_404(lab: LabContext) -> None:
    ip, host = _traefik_ip(lab), shop_host(lab)
    require_served(lab, ip, host, ROUTES, by="paths_reach_backends")  # else a 404 is all Traefik could say
    result = lab.outside.http_get(f"http://{ip}/checkout", host, expect_status=404, deadline_s=5)
    result.must_succeed(
        f"/checkout with Host {host} should get 404 but got {result.observed}"
        + (f" from {route_owner(lab, result.body, ROUTES.values())}" if result.status == 200 else "")
        + ": a rule for path / (or a default backend) catches every path; route only /store and /api.",
        diagnosis="ingress/catch-all-path",
    )


@pytest.mark.check(points=1, title="the rules belong to shop.example only: another host gets 404")
def test_host_scoped(lab: LabContext) -> None:
    ip, host = _traefik_ip(lab), shop_host(lab)
    require_served(lab, ip, host, ROUTES, by="paths_reach_backends")  # else a 404 is all Traefik could say
    result = lab.outside.http_get(f"http://{ip}/store", "other.example", expect_status=404, deadline_s=5)
    result.must_succeed(
        f"/store with Host other.example got {result.observed}: a rule without host answers "
        f"for every hostname; set host: {host} on the rule.",
        diagnosis="ingress/rule-without-host",
    )
