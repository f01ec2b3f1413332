"""A fake HTTP layer under grader.kube.api.Session: the ApiClient's connection pool answers from a table.

Requests are recorded (method, path, query, headers, body), so tests can check what went on the wire.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from grader.kube import api as _api
from grader.kube.client import Kube

HOST = "https://fake-apiserver:6443"
Answer = tuple[int, Any]  # (status, JSON-able body or raw bytes)


def _res(
    plural: str, kind: str, *, namespaced: bool = True, short: tuple[str, ...] = (), singular: str | None = None
) -> dict[str, Any]:
    return {
        "resource": plural,
        "responseKind": {"group": "", "version": "", "kind": kind},
        "scope": "Namespaced" if namespaced else "Cluster",
        "singularResource": singular or kind.lower(),
        "shortNames": list(short),
        "verbs": ["create", "delete", "get", "list", "patch"],
        "subresources": [{"subresource": "status"}],
    }


def group(name: str, *versions: tuple[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return {"metadata": {"name": name}, "versions": [{"version": v, "resources": r} for v, r in versions]}


def discovery_list(*groups: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "items": list(groups)}


CORE = discovery_list(
    group(
        "",
        (
            "v1",
            [
                _res("namespaces", "Namespace", namespaced=False, short=("ns",)),
                _res("pods", "Pod", short=("po",)),
                _res("services", "Service", short=("svc",)),
                _res("resourcequotas", "ResourceQuota", short=("quota",)),
                _res("events", "Event", short=("ev",)),
                _res("nodes", "Node", namespaced=False, short=("no",)),
            ],
        ),
    )
)
GROUPS = discovery_list(
    group("apps", ("v1", [_res("deployments", "Deployment", short=("deploy",))])),
    group("events.k8s.io", ("v1", [_res("events", "Event", short=("ev",))])),
    group("discovery.k8s.io", ("v1", [_res("endpointslices", "EndpointSlice")])),
    group(
        "apiextensions.k8s.io",
        (
            "v1",
            [_res("customresourcedefinitions", "CustomResourceDefinition", namespaced=False, short=("crd", "crds"))],
        ),
    ),
    group("metallb.io", ("v1beta1", [_res("ipaddresspools", "IPAddressPool")])),
    group(
        "gateway.networking.k8s.io",
        ("v1", [_res("gateways", "Gateway", short=("gtw",)), _res("httproutes", "HTTPRoute")]),
        ("v1beta1", [_res("gateways", "Gateway"), _res("referencegrants", "ReferenceGrant")]),
    ),
)


@dataclass
class Sent:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeHttp:
    """Routes (method, path) to an answer, or to a function of the request giving one."""

    routes: dict[tuple[str, str], Answer | Callable[[Sent], Answer]] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)
    fail: Exception | None = None  # raised by every request (a connection error)

    def __post_init__(self) -> None:
        self.routes.setdefault(("GET", "/api"), (200, CORE))
        self.routes.setdefault(("GET", "/apis"), (200, GROUPS))

    # the urllib3 PoolManager.request the Session calls
    def request(self, method: str, url: str, *, body: bytes | None = None, headers: dict[str, str], **_: Any) -> Any:
        parts = urlsplit(url)
        sent = Sent(method, parts.path, parse_qsl(parts.query), dict(headers), json.loads(body) if body else None)
        self.sent.append(sent)
        if self.fail is not None:
            raise self.fail
        missing = (
            (200, {"items": []})
            if ("limit", "500") in sent.query
            else (  # a list finds nothing
                404,
                {"kind": "Status", "reason": "NotFound", "message": f"{parts.path} not found"},
            )
        )
        route = self.routes.get((method, parts.path), missing)
        status, answer = route(sent) if callable(route) else route
        data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        return type("Response", (), {"status": status, "data": data})()

    def api_calls(self) -> list[Sent]:
        """What was sent, discovery left out."""
        return [s for s in self.sent if s.path not in ("/api", "/apis")]


class FakeConfiguration:
    host = HOST
    verify_ssl = True
    ssl_ca_cert = cert_file = key_file = tls_server_name = assert_hostname = None

    def get_api_key_with_prefix(self, identifier: str, alias: str | None = None) -> str | None:
        return None


def fake_kube(monkeypatch: pytest.MonkeyPatch, http: FakeHttp, *, namespace: str = "default") -> Kube:
    """A Kube whose Session connects to http instead of a cluster (no kubeconfig read, no kubernetes import)."""
    client = type(
        "ApiClient",
        (),
        {
            "configuration": FakeConfiguration(),
            "rest_client": type("Rest", (), {"pool_manager": http})(),
            "close": lambda self: None,
        },
    )()
    monkeypatch.setattr(_api, "_connect", lambda context, source: (client, namespace))
    return Kube(context="fake")
