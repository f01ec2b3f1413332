"""The learner's Gateway as a door to probe: its address once taken, the learner's mistakes FAIL (or BLOCK a later
check), an implementation that never answers is ENV-ERROR."""

from __future__ import annotations

from typing import Any

import pytest
from _grader_fakes import FakeKube, ScriptedVantage, facts, http_ok

from grader.base.errors import EnvError
from grader.base.outcomes import Blocked, Diagnosis, Fail, NotApplicable
from grader.lab import gateways
from grader.lab.context import LabContext

GATEWAYS = gateways.GATEWAYS
CLASSES = gateways.GATEWAY_CLASSES


def _gateway(
    name: str = "shop-gateway", cls: str = "approuting-istio", accepted: str | None = "True", address: str = "10.0.0.9"
) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if accepted is not None:
        status = {
            "conditions": [{"type": "Accepted", "status": accepted, "reason": "ListenersNotValid", "message": "bad"}],
            "addresses": [{"type": "IPAddress", "value": address}] if accepted == "True" else [],
            "listeners": [
                {
                    "name": "http",
                    "conditions": [
                        {"type": "Accepted", "status": "False", "reason": "PortUnavailable", "message": "x"}
                    ],
                }
            ]
            if accepted == "False"
            else [],
        }
    return {"metadata": {"name": name, "generation": 1}, "spec": {"gatewayClassName": cls}, "status": status}


def _class(name: str = "approuting-istio", controller: str = "example.com/gateway") -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"controllerName": controller}}


class GatewayKube(FakeKube):
    """Objects by their full resource name (gateways.gateway.networking.k8s.io), as the grader asks for them."""

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        return next((o for o in self.objects.get(kind, []) if o["metadata"]["name"] == name), None)


def _lab(gateways_: list[dict[str, Any]], classes: list[dict[str, Any]] | None = None) -> LabContext:
    kube = GatewayKube({GATEWAYS: gateways_, CLASSES: [_class()] if classes is None else classes})
    vantages = [ScriptedVantage(lambda op, n: http_ok("x"), name=n) for n in ("probe pod", "other", "outside", "host")]
    return LabContext("ns", kube, facts(), *vantages)  # type: ignore[arg-type]


def test_a_taken_gateway_is_a_door_at_the_address_its_status_gives() -> None:
    door = gateways.door(_lab([_gateway()]), "shop-gateway")
    assert door.address == "10.0.0.9"
    assert door.gateway["metadata"]["name"] == "shop-gateway"


def test_no_gateway_of_that_name_fails_and_names_the_ones_there() -> None:
    with pytest.raises(Fail) as failed:
        gateways.door(_lab([_gateway(name="shop")]), "shop-gateway")
    assert failed.value.diagnosis == "gateway/no-gateway"
    assert "(Gateways there: shop)" in failed.value.hint


def test_a_class_the_cluster_lacks_fails_and_names_the_classes_it_has() -> None:
    with pytest.raises(Fail) as failed:
        gateways.door(_lab([_gateway(cls="istio")]), "shop-gateway")
    assert failed.value.diagnosis == "gateway/class-unknown"
    assert "it has: approuting-istio" in failed.value.hint


def test_a_later_check_is_blocked_by_the_first_not_failed() -> None:
    with pytest.raises(Blocked) as blocked:
        gateways.door(_lab([]), "shop-gateway", blocked_by="paths_reach_backends")
    assert blocked.value.by == "paths_reach_backends"


def test_a_refused_gateway_is_named_by_the_lab_else_by_each_listeners_reason() -> None:
    lab = _lab([_gateway(accepted="False")])
    with pytest.raises(Fail) as named:
        gateways.door(lab, "shop-gateway", refused=lambda g: Diagnosis("gateway/listener-port", "port 8000"))
    assert named.value.diagnosis == "gateway/listener-port"
    with pytest.raises(Fail) as general:
        gateways.door(lab, "shop-gateway", refused=lambda g: Diagnosis())
    assert general.value.diagnosis == "gateway/not-accepted"
    assert "listener http: PortUnavailable (x)" in general.value.hint


def test_a_gateway_nobody_takes_is_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gateways, "TAKEN_S", 0.2)
    with pytest.raises(EnvError, match="no Gateway API implementation took Gateway shop-gateway"):
        gateways.door(_lab([_gateway(accepted=None)]), "shop-gateway")


def test_a_gateway_of_traefiks_class_asks_traefik_first(monkeypatch: pytest.MonkeyPatch) -> None:
    def silent(self: LabContext) -> None:
        raise EnvError("Traefik does not answer")

    monkeypatch.setattr(LabContext, "traefik", silent)
    lab = _lab([_gateway()], [_class(controller=gateways.TRAEFIK_CONTROLLER)])
    with pytest.raises(EnvError, match="Traefik does not answer"):
        gateways.door(lab, "shop-gateway")


def test_listener_problems_lists_refused_and_conflicted_listeners_only() -> None:
    gateway = {
        "status": {
            "listeners": [
                {"name": "ok", "conditions": [{"type": "Accepted", "status": "True"}]},
                {
                    "name": "dup",
                    "conditions": [{"type": "Conflicted", "status": "True", "reason": "Dup", "message": "m"}],
                },
            ]
        }
    }
    assert gateways.listener_problems(gateway) == ["listener dup: Dup (m)"]


class PortForwardKube(GatewayKube):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.forwarded: list[tuple[str, str, int, str, str]] = []

    def pod_https_get(
        self, pod: str, namespace: str, port: int, server_name: str, path: str, *, timeout: float
    ) -> tuple[bytes, Any]:
        self.forwarded.append((pod, namespace, port, server_name, path))
        return b"CERT", type("Answer", (), {"status": 200, "body": b"store-1"})()


def test_where_this_machine_cannot_reach_traefiks_gateways_are_asked_through_its_pod() -> None:
    ready = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    traefik_pod = {"metadata": {"name": "traefik-abc", "labels": {"app": "traefik"}}, "status": ready}
    kube = PortForwardKube({"pods": [traefik_pod]})
    vantages = [ScriptedVantage(lambda op, n: http_ok("x"), name=n) for n in ("probe pod", "other", "outside")]
    host = ScriptedVantage(lambda op, n: http_ok("x"), name="host", reason="this machine cannot route to the cluster")
    lab = LabContext("ns", kube, facts(), *vantages, host)  # type: ignore[arg-type]
    door = gateways.Door("10.0.0.9", _gateway(), gateways.TRAEFIK_CONTROLLER)
    answer, vantage = gateways.https_through(
        lab, door, 443, "shop.example", "/store", deadline_s=2, done=lambda a: a.status == 200
    )
    assert (vantage, answer.certificate, answer.status, answer.body) == ("port-forward", b"CERT", 200, "store-1")
    assert kube.forwarded == [("traefik-abc", "traefik", 443, "shop.example", "/store")]


def test_a_gateway_traefik_does_not_serve_is_asked_from_this_machine_or_is_na() -> None:
    kube = PortForwardKube({})
    vantages = [ScriptedVantage(lambda op, n: http_ok("x"), name=n) for n in ("probe pod", "other", "outside")]
    lab = LabContext(
        "ns", kube, facts(), *vantages, ScriptedVantage(lambda op, n: http_ok("x"), name="host", reason="no route")
    )  # type: ignore[arg-type]
    door = gateways.Door("10.0.0.9", _gateway(), "istio.io/gateway-controller")
    with pytest.raises(NotApplicable):
        gateways.https_through(lab, door, 443, "shop.example", "/store", deadline_s=2, done=lambda a: True)
    assert kube.forwarded == []
