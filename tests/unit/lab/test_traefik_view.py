"""Whether Traefik's running configuration (its API's rawdata, shapes as Traefik v3.6 wrote them on the lab
cluster) holds a namespace's route objects as they are now: only then is an L7 answer final without a clock."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest
from _grader_fakes import FakeKube, ScriptedVantage, facts, http_ok, pod

from grader.kube.client import KubeError, KubeUnreachable
from grader.kube.portforward import PodHttpAnswer
from grader.lab import routes, traefik_view
from grader.lab.context import LabContext

NS = "lab-ingress"
IPS = {"store": ["10.244.1.5", "10.244.2.5"], "api": ["10.244.1.6"]}


def _ingress(paths: dict[str, str], path_type: str = "Prefix", **annotations: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "shop", "namespace": NS, "annotations": annotations},
        "spec": {
            "ingressClassName": "traefik",
            "rules": [
                {
                    "host": "shop.example",
                    "http": {
                        "paths": [
                            {
                                "path": path,
                                "pathType": path_type,
                                "backend": {"service": {"name": svc, "port": {"number": 80}}},
                            }
                            for path, svc in paths.items()
                        ]
                    },
                }
            ],
        },
    }


def _service(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": NS}, "spec": {"ports": [{"port": 80, "targetPort": 8080}]}}


def _slice(name: str, ready: bool = True, more: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "metadata": {"name": f"{name}-x", "labels": {"kubernetes.io/service-name": name}},
        "ports": [{"name": "", "port": 8080}],
        "endpoints": [{"addresses": [ip], "conditions": {"ready": ready}} for ip in [*IPS[name], *more]],
    }


def _deployment(name: str, ready: int = 2, want: int = 2) -> dict[str, Any]:
    counts = {"replicas": want, "updatedReplicas": want, "readyReplicas": ready, "availableReplicas": ready}
    return {
        "metadata": {"name": name, "generation": 1},
        "spec": {"replicas": want},
        "status": {"observedGeneration": 1, **counts},
    }


def _ingress_config(paths: dict[str, str], matcher: str = "PathPrefix") -> dict[str, Any]:
    """What Traefik ran for the Ingress `shop` with these paths (router names as its provider makes them)."""
    routers = {
        f"{NS}-shop-shop-example-{path.strip('/')}@kubernetes": {
            "entryPoints": ["ping", "web"],
            "service": f"{NS}-{svc}-80",
            "rule": f'Host("shop.example") && {matcher}("{path}")',
            "priority": 44,
            "status": "enabled",
        }
        for path, svc in paths.items()
    }
    services = {
        f"{NS}-{svc}-80@kubernetes": {"loadBalancer": {"servers": [{"url": f"http://{ip}:8080"} for ip in IPS[svc]]}}
        for svc in set(paths.values())
    }
    return {"routers": routers, "services": services}


PATHS = {"/store": "store", "/api": "api"}


def _read(routes_: list[dict[str, Any]], kind: str = "ingresses", **changes: Any) -> traefik_view.Namespace:
    read = {
        "routes": routes_,
        "services": [_service("store"), _service("api")],
        "slices": [_slice("store"), _slice("api")],
        "deployments": [_deployment("store"), _deployment("api", 1, 1)],
        **changes,
    }
    return traefik_view.Namespace(kind, **read)


def test_routers_and_servers_as_the_objects_are_now_are_live() -> None:
    assert traefik_view.live_fingerprint(_ingress_config(PATHS), _read([_ingress(PATHS)]))


def test_the_fingerprint_changes_with_the_servers() -> None:
    before = traefik_view.live_fingerprint(_ingress_config(PATHS), _read([_ingress(PATHS)]))
    scaled = _ingress_config(PATHS)  # a second api pod, in the endpoints and in Traefik's servers
    scaled["services"][f"{NS}-api-80@kubernetes"]["loadBalancer"]["servers"].append({"url": "http://10.244.2.6:8080"})
    after = traefik_view.live_fingerprint(
        scaled, _read([_ingress(PATHS)], slices=[_slice("store"), _slice("api", more=("10.244.2.6",))])
    )
    assert before
    assert after
    assert before != after


def _stale_rule() -> dict[str, Any]:
    return _ingress_config({"/shop": "store", "/api": "api"})  # the Ingress said /shop before the learner's edit


def _extra_router() -> dict[str, Any]:
    return _ingress_config({**PATHS, "/old": "store"})


def _missing_server() -> dict[str, Any]:
    config = _ingress_config(PATHS)
    config["services"][f"{NS}-store-80@kubernetes"]["loadBalancer"]["servers"].pop()
    return config


def _disabled() -> dict[str, Any]:
    config = _ingress_config(PATHS)
    next(iter(config["routers"].values()))["status"] = "disabled"
    return config


@pytest.mark.parametrize("config", [_stale_rule(), _extra_router(), _missing_server(), _disabled(), None, {}])
def test_a_configuration_that_does_not_hold_the_objects_as_they_are_is_not_live(config: Any) -> None:
    assert traefik_view.live_fingerprint(config, _read([_ingress(PATHS)])) == ""


def test_exact_and_prefix_are_told_apart() -> None:
    assert traefik_view.live_fingerprint(_ingress_config(PATHS), _read([_ingress(PATHS, "Exact")])) == ""
    assert traefik_view.live_fingerprint(_ingress_config(PATHS, "Path"), _read([_ingress(PATHS, "Exact")]))


@pytest.mark.parametrize(
    "changes",
    [
        {"slices": [_slice("store", ready=False), _slice("api")]},  # a pod still starting: new servers to come
        {"deployments": [_deployment("store", ready=1), _deployment("api", 1, 1)]},  # a rollout under way
        {"slices": [_slice("store")]},  # no endpoint of api at all: Traefik's answer for it is not known here
    ],
)
def test_back_ends_that_will_still_change_are_not_live(changes: dict[str, Any]) -> None:
    assert traefik_view.live_fingerprint(_ingress_config(PATHS), _read([_ingress(PATHS)], **changes)) == ""


def test_annotations_the_router_must_show() -> None:
    ingress = _ingress(PATHS, **{"traefik.ingress.kubernetes.io/router.priority": "44"})
    assert traefik_view.live_fingerprint(_ingress_config(PATHS), _read([ingress]))
    ingress = _ingress(PATHS, **{"traefik.ingress.kubernetes.io/router.priority": "7"})
    assert traefik_view.live_fingerprint(_ingress_config(PATHS), _read([ingress])) == ""
    ingress = _ingress(PATHS, **{"traefik.ingress.kubernetes.io/router.entrypoints": "web"})
    assert traefik_view.live_fingerprint(_ingress_config(PATHS), _read([ingress])) == ""  # it runs on ping, web


def test_a_path_to_a_port_the_service_lacks_gets_no_router() -> None:
    wrong = _ingress(PATHS)
    for path in wrong["spec"]["rules"][0]["http"]["paths"]:
        path["backend"]["service"]["port"]["number"] = 8080  # the container port
    assert traefik_view.live_fingerprint({"routers": {}, "services": {}}, _read([wrong])) == "[[]]"
    assert traefik_view.live_fingerprint(_ingress_config(PATHS), _read([wrong])) == ""  # the routers before the edit


def _httproute(match: dict[str, Any] | None = None, port: int = 80) -> dict[str, Any]:
    rules = [
        {
            "matches": [match or {"path": {"type": "PathPrefix", "value": f"/{svc}"}}],
            "backendRefs": [{"name": svc, "port": port}],
        }
        for svc in ("store", "api")
    ]
    accepted = {"type": "Accepted", "status": "True", "observedGeneration": 1}
    return {
        "metadata": {"name": "shop", "namespace": NS, "generation": 1},
        "spec": {"hostnames": ["shop.example"], "rules": rules},
        "status": {"parents": [{"conditions": [accepted]}]},
    }


def _gateway_config(port: int = 80, loaded: bool = True) -> dict[str, Any]:
    routers, services = {}, {}
    for n, svc in enumerate(("store", "api")):
        name = f"httproute-{NS}-shop-gw-traefik-lab-gateway-ep-web-{n}-abc{n}"
        routers[f"{name}@kubernetesgateway"] = {
            "service": f"{name}-wrr",
            "rule": f'Host("shop.example") && (Path("/{svc}") || PathPrefix("/{svc}/"))',
            "status": "enabled",
        }
        services[f"{name}-wrr@kubernetesgateway"] = {"weighted": {"services": [{"name": f"{NS}-{svc}-http-{port}"}]}}
        if loaded:
            servers = [{"url": f"http://{ip}:8080"} for ip in IPS[svc]]
            services[f"{NS}-{svc}-http-{port}@kubernetesgateway"] = {"loadBalancer": {"servers": servers}}
    return {"routers": routers, "services": services}


def test_httproutes() -> None:
    assert traefik_view.live_fingerprint(_gateway_config(), _read([_httproute()], "httproutes"))
    exact = _httproute({"path": {"type": "Exact", "value": "/store"}})
    assert traefik_view.live_fingerprint(_gateway_config(), _read([exact], "httproutes")) == ""
    # A back end at a port the Service lacks: Traefik keeps the router and answers 500 (no such service).
    wrong = _read([_httproute(port=8080)], "httproutes")
    assert traefik_view.live_fingerprint(_gateway_config(8080, loaded=False), wrong)
    assert traefik_view.live_fingerprint(_gateway_config(8080), wrong) == ""


def test_what_is_not_predicted_leaves_the_clocks_in_charge() -> None:
    headers = _httproute({"headers": [{"name": "x-shop", "value": "1"}], "path": {"value": "/store"}})
    assert traefik_view.live_fingerprint(_gateway_config(), _read([headers], "httproutes")) == ""
    wildcard = copy.deepcopy(_ingress(PATHS))
    wildcard["spec"]["rules"][0]["host"] = "*.example"
    assert traefik_view.live_fingerprint(_ingress_config(PATHS), _read([wildcard])) == ""


class TraefikKube(FakeKube):
    """One ready Traefik pod whose API answers `config` (or refuses)."""

    def __init__(self, objects: dict[str, list[dict[str, Any]]], config: Any) -> None:
        super().__init__(objects)
        self.config = config

    def list(self, kind: str, namespace: str | None = None, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        if kind == "pods" and namespace == "traefik":
            ready = pod("traefik-1", {"app": "traefik"})
            ready["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
            return [ready]
        return super().list(kind, namespace, *args, **kwargs)

    def pod_http_get(self, pod: str, namespace: str, port: int, path: str, *, timeout: float) -> PodHttpAnswer:
        # the API is read inside the pod (its loopback), never through the pod's IP
        assert (pod, namespace, port, path) == ("traefik-1", "traefik", 8080, "/api/rawdata")
        if isinstance(self.config, Exception):
            raise self.config
        if isinstance(self.config, PodHttpAnswer):
            return self.config
        return PodHttpAnswer(200, json.dumps(self.config).encode())


def test_no_api_is_no_configuration() -> None:
    assert traefik_view.Reader(TraefikKube({}, KubeError("forbidden"))).configuration() is None  # type: ignore[arg-type]
    assert traefik_view.Reader(TraefikKube({}, KubeUnreachable("hung"))).configuration() is None  # type: ignore[arg-type]
    assert traefik_view.Reader(FakeKube({})).configuration() is None  # type: ignore[arg-type]
    assert traefik_view.Reader(TraefikKube({}, {"routers": {}})).configuration() == {"routers": {}}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "answer", [PodHttpAnswer(404, b"404 page not found\n"), PodHttpAnswer(200, b"<html>"), PodHttpAnswer(200, b"[]")]
)
def test_an_answer_that_is_not_the_configuration_is_none(answer: PodHttpAnswer) -> None:
    assert traefik_view.Reader(TraefikKube({}, answer)).configuration() is None  # type: ignore[arg-type]


def test_a_wrong_answer_under_a_live_configuration_is_final_after_two_rounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routes, "SETTLE_S", 30.0)  # the clocks alone would wait the whole deadline
    swapped = {"/store": "api", "/api": "store"}
    objects = {
        "ingresses": [_ingress(swapped)],
        "services": [_service("store"), _service("api")],
        "endpointslices": [_slice("store"), _slice("api")],
        "deployments": [_deployment("store")],
        "pods": [pod("store-1", {"app": "store"}), pod("api-1", {"app": "api"})],
    }
    kube = TraefikKube(objects, _ingress_config(swapped))
    rounds: list[int] = []
    vantages = [ScriptedVantage(lambda op, n: http_ok("store-1"), name=n) for n in ("pod", "other", "outside", "host")]
    ctx = LabContext(NS, kube, facts(), *vantages)  # type: ignore[arg-type]
    ctx.outside = ScriptedVantage(lambda op, n: rounds.append(n) or http_ok("api-1"), name="o")
    start = time.monotonic()
    seen = routes.poll_routes(ctx, "172.18.255.200", "shop.example", {"/store": "store", "/api": "api"}, deadline_s=20)
    assert seen["/store"] == (200, "api")
    assert max(rounds) == 2  # live after the first round and still the same after the second
    assert time.monotonic() - start < 5
