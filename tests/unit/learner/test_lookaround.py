"""explore()'s view of a lab namespace beyond pods: Services, Ingresses, Gateways and HTTPRoutes, read from a fake
API (grader.learner.lookaround)."""

from __future__ import annotations

from typing import Any

import pytest
from _grader_fakes import FakeKube, pod, service

from grader.kube.errors import UnknownKind
from grader.learner.lookaround import GATEWAYS, HTTPROUTES, INGRESSES, NO_GATEWAY_API, SERVICES, l7_tables, render

NS = "lab-gateway"


class NamespacedKube(FakeKube):
    """FakeKube that keeps namespaces apart (the route's Gateway lives in traefik, not in the lab's namespace)."""

    def list(
        self, kind: str, namespace: str | None = None, selector: str | None = None, all_namespaces: bool = False
    ) -> list[dict[str, Any]]:
        items = super().list(kind, namespace, selector, all_namespaces)
        return [o for o in items if all_namespaces or o["metadata"].get("namespace", NS) == namespace]

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        self.calls.append(("get", kind, name))
        found = self.objects.get(kind, [])
        return next(
            (o for o in found if (o["metadata"]["name"], o["metadata"]["namespace"]) == (name, namespace)), None
        )


class NoGatewayApi(FakeKube):
    def list(
        self, kind: str, namespace: str | None = None, selector: str | None = None, all_namespaces: bool = False
    ) -> list[dict[str, Any]]:
        if kind in (GATEWAYS, HTTPROUTES):
            raise UnknownKind(f'error: the server doesn\'t have a resource type "{kind}"')
        return super().list(kind, namespace, selector, all_namespaces)


def meta(name: str, namespace: str = NS) -> dict[str, Any]:
    return {"name": name, "namespace": namespace}


LOAD_BALANCER = service(
    "web",
    {"app": "web"},
    type_="LoadBalancer",
    spec={"ports": [{"port": 80, "nodePort": 31234, "targetPort": "http", "protocol": "TCP"}]},
)
LOAD_BALANCER["metadata"]["namespace"] = NS
LOAD_BALANCER["status"] = {"loadBalancer": {"ingress": [{"ip": "172.18.255.201"}]}}
ALIAS = {
    "metadata": meta("partner-api"),
    "spec": {"type": "ExternalName", "externalName": "api.partner.example"},
}
INGRESS = {
    "metadata": meta("shop"),
    "spec": {
        "ingressClassName": "traefik",
        "rules": [
            {
                "host": "shop.example",
                "http": {
                    "paths": [
                        {
                            "path": "/store",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": "store", "port": {"number": 80}}},
                        }
                    ]
                },
            }
        ],
    },
    "status": {"loadBalancer": {"ingress": [{"ip": "172.18.255.200"}]}},
}
GATEWAY = {
    "metadata": meta("lab-gateway", "traefik"),
    "spec": {
        "gatewayClassName": "traefik",
        "listeners": [{"name": "http", "port": 8000, "protocol": "HTTP", "hostname": "*.example"}],
    },
    "status": {
        "addresses": [{"type": "IPAddress", "value": "172.18.255.200"}],
        "conditions": [{"type": "Programmed", "status": "True", "reason": "Programmed"}],
    },
}
ROUTE = {
    "metadata": meta("shop"),
    "spec": {
        "parentRefs": [{"name": "lab-gateway", "namespace": "traefik", "sectionName": "http"}],
        "hostnames": ["shop.example"],
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": "/api"}}],
                "backendRefs": [{"name": "api", "port": 80}],
            }
        ],
    },
    "status": {
        "parents": [
            {
                "parentRef": {"name": "lab-gateway", "namespace": "traefik", "sectionName": "http"},
                "conditions": [
                    {"type": "Accepted", "status": "True", "reason": "Accepted"},
                    {"type": "ResolvedRefs", "status": "False", "reason": "BackendNotFound"},
                ],
            }
        ]
    },
}


def test_services_show_type_addresses_ports_and_selector() -> None:
    kube = NamespacedKube({SERVICES: [LOAD_BALANCER, ALIAS]})
    sections = dict(l7_tables(kube, NS))
    head, rows = sections["Services"]
    assert head[:4] == ("service", "type", "cluster IP", "external IP")
    assert rows == [
        ("partner-api", "ExternalName", "-", "CNAME api.partner.example", "-", "-"),
        ("web", "LoadBalancer", "10.96.0.10", "172.18.255.201", "80:31234/TCP -> http", "app=web"),
    ]
    assert set(sections) == {"Services"}  # no Ingress, Gateway or route: no empty tables


def test_a_pending_load_balancer_and_an_empty_namespace_say_so() -> None:
    pending = service("web", {"app": "web"}, type_="LoadBalancer")
    pending["metadata"]["namespace"] = NS
    rows = dict(l7_tables(NamespacedKube({SERVICES: [pending]}), NS))["Services"][1]
    assert rows[0][3] == "pending"
    assert dict(l7_tables(NamespacedKube(), NS))["Services"] == "no Service yet"


def test_ingresses_show_class_hosts_paths_backends_and_address() -> None:
    _, rows = dict(l7_tables(NamespacedKube({INGRESSES: [INGRESS]}), NS))["Ingresses"]
    assert rows == [("shop", "traefik", "shop.example", "shop.example/store (Prefix) -> store:80", "172.18.255.200")]


def test_routes_show_their_gateway_from_another_namespace_with_listeners_and_status() -> None:
    kube = NamespacedKube({HTTPROUTES: [ROUTE], GATEWAYS: [GATEWAY]})
    sections = dict(l7_tables(kube, NS))
    _, gateways = sections["Gateways"]
    assert gateways == [
        (
            "traefik/lab-gateway",
            "traefik",
            "http: 8000/HTTP *.example",
            "172.18.255.200",
            "Programmed=True (Programmed)",
        )
    ]
    _, routes = sections["HTTPRoutes"]
    name, parents, hostnames, rules, status = routes[0]
    assert (name, parents, hostnames) == ("shop", "traefik/lab-gateway/http", "shop.example")
    assert rules == "PathPrefix /api -> api:80"
    assert status == "traefik/lab-gateway/http: Accepted=True (Accepted), ResolvedRefs=False (BackendNotFound)"
    assert ("get", GATEWAYS, "lab-gateway") in kube.calls


def test_a_route_no_gateway_has_seen_says_so() -> None:
    unseen = {**ROUTE, "status": {}}
    _, routes = dict(l7_tables(NamespacedKube({HTTPROUTES: [unseen]}), NS))["HTTPRoutes"]
    assert routes[0][4] == "not yet seen by any Gateway"


def test_a_cluster_without_gateway_api_says_so() -> None:
    sections = dict(l7_tables(NoGatewayApi({INGRESSES: [INGRESS]}), NS))
    assert sections["Gateway API"] == NO_GATEWAY_API
    assert "Ingresses" in sections


def test_rendered_as_markdown_tables_and_text() -> None:
    markdown, text = render(l7_tables(NamespacedKube({SERVICES: [LOAD_BALANCER], HTTPROUTES: [ROUTE]}), NS))
    assert "**Services**" in markdown
    assert "| web | LoadBalancer | 10.96.0.10 | 172.18.255.201 |" in markdown
    assert "HTTPRoutes:" in text
    assert "shop.example" in text


def test_explore_shows_pods_then_the_way_in(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from grader.learner import notebook  # noqa: PLC0415 - registers nothing outside IPython

    monkeypatch.setenv("SERVICELAB_NAMESPACE", NS)
    monkeypatch.setattr(notebook, "apply", lambda *a, **k: [])
    web = {**pod("web-1", {"app": "web"}), "metadata": {"name": "web-1", "namespace": NS, "labels": {"app": "web"}}}
    kube = NamespacedKube({"pods": [web], SERVICES: [LOAD_BALANCER], HTTPROUTES: [ROUTE], GATEWAYS: [GATEWAY]})
    monkeypatch.setattr(notebook, "Kube", lambda context=None: kube)
    notebook.explore("gateway")
    out = capsys.readouterr().out
    assert out.index("web-1") < out.index("Services:") < out.index("Gateways:") < out.index("HTTPRoutes:")
    assert "http: 8000/HTTP" in out
