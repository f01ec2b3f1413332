"""L7 routes: a wrong answer is final once Traefik has taken every route object and the answer stopped
changing; before that (or for a route nobody takes) the grader keeps polling until the deadline."""

from __future__ import annotations

import time
from typing import Any

import pytest
from _grader_fakes import FakeKube, ScriptedVantage, facts, http_ok, pod

from grader.base.outcomes import Blocked
from grader.lab import routes
from grader.lab.context import LabContext

ROUTES = {"/store": "store", "/api": "api"}
PODS = [pod("store-1", {"app": "store"}), pod("api-1", {"app": "api"})]


def _ingress(published: bool, ingress_class: str | None = None) -> dict[str, Any]:
    status = {"loadBalancer": {"ingress": [{"ip": "172.18.255.200"}]}} if published else {}
    return {
        "metadata": {"name": "shop", "generation": 1},
        "spec": {"ingressClassName": ingress_class},
        "status": status,
    }


def _route(observed: int | None, gateway: str = "lab-gateway") -> dict[str, Any]:
    conditions = [] if observed is None else [{"type": "Accepted", "status": "True", "observedGeneration": observed}]
    return {
        "metadata": {"name": "shop", "generation": 2},
        "spec": {"parentRefs": [{"name": gateway, "namespace": "traefik"}]},
        "status": {"parents": [{"conditions": conditions}]},
    }


class GatewayKube(FakeKube):
    """The cluster's one Gateway: traefik/lab-gateway."""

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        if kind.startswith("gateways."):
            return {"metadata": {"name": name}} if (namespace, name) == ("traefik", "lab-gateway") else None
        return super().get(kind, name, namespace)


def _ctx(objects: dict[str, list[dict[str, Any]]]) -> LabContext:
    # Every path is answered by the store back end: /api is wrong, and stays wrong.
    vantages = [
        ScriptedVantage(lambda op, n: http_ok("store-1"), name=n) for n in ("probe pod", "other", "outside", "host")
    ]
    return LabContext("ns", GatewayKube({"pods": PODS, **objects}), facts(), *vantages)  # type: ignore[arg-type]


def _poll(ctx: LabContext, kind: str = "ingresses") -> tuple[routes.Seen, float]:
    start = time.monotonic()
    seen = routes.poll_routes(ctx, "172.18.255.200", "shop.example", ROUTES, kind=kind, deadline_s=2.5)
    return seen, time.monotonic() - start


@pytest.fixture(autouse=True)
def _short_settle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routes, "SETTLE_S", 0.5)


@pytest.mark.parametrize(
    ("kind", "objects"),
    [
        ("ingresses", {"ingresses": [_ingress(published=True)]}),
        ("ingresses", {"ingresses": [_ingress(published=False, ingress_class="nginx")]}),  # nobody will ever take it
        ("httproutes", {"httproutes": [_route(observed=2)]}),
        ("httproutes", {"httproutes": [_route(observed=None, gateway="no-such-gateway")]}),  # nobody will take it
    ],
)
def test_a_taken_route_that_keeps_answering_wrong_is_final_early(kind: str, objects: dict[str, Any]) -> None:
    seen, seconds = _poll(_ctx(objects), kind)
    assert seen["/api"] == (200, "store")
    assert seconds < 2.0


@pytest.mark.parametrize(
    ("kind", "objects"),
    [
        ("ingresses", {"ingresses": [_ingress(published=False)]}),  # Traefik has not got to it yet
        ("httproutes", {"httproutes": [_route(observed=1)]}),  # status of an older generation
        ("httproutes", {"httproutes": [_route(observed=None)]}),
        ("ingresses", {}),
    ],
)
def test_until_the_controller_has_taken_the_routes_the_grader_waits_for_the_deadline(
    kind: str, objects: dict[str, Any]
) -> None:
    seen, seconds = _poll(_ctx(objects), kind)
    assert seen["/api"] == (200, "store")
    assert seconds >= 2.5


def test_answers_that_change_after_the_routes_were_taken_settle_sooner(monkeypatch: pytest.MonkeyPatch) -> None:
    # Traefik took the Ingress (status published), then its configuration went live: 404 turned into the store
    # back end on every path. That change is the new configuration; only its steadiness is left to see.
    monkeypatch.setattr(routes, "SETTLE_S", 5.0)
    monkeypatch.setattr(routes, "LIVE_SETTLE_S", 0.3)
    ctx = _ctx({"ingresses": [_ingress(published=True)]})
    ctx.outside = ScriptedVantage(lambda op, n: http_ok("", status=404) if n == 1 else http_ok("store-1"), name="o")
    start = time.monotonic()
    seen = routes.poll_routes(ctx, "172.18.255.200", "shop.example", ROUTES, deadline_s=8.0)
    assert seen["/api"] == (200, "store")
    assert time.monotonic() - start < 5.0  # before SETTLE_S would have ended it


def test_a_change_to_answers_from_no_back_end_of_ours_keeps_the_long_settle(monkeypatch: pytest.MonkeyPatch) -> None:
    # Another namespace's routes for the host went away (503 -> 404): not our configuration going live.
    monkeypatch.setattr(routes, "SETTLE_S", 4.0)
    monkeypatch.setattr(routes, "LIVE_SETTLE_S", 0.1)
    ctx = _ctx({"ingresses": [_ingress(published=True)]})
    ctx.outside = ScriptedVantage(lambda op, n: http_ok("", status=503 if n == 1 else 404), name="o")
    start = time.monotonic()
    seen = routes.poll_routes(ctx, "172.18.255.200", "shop.example", ROUTES, deadline_s=8.0)
    assert seen["/api"] == (404, "")
    assert time.monotonic() - start >= 4.0  # SETTLE_S after the change, not LIVE_SETTLE_S


@pytest.mark.parametrize(
    ("kind", "objects"),
    [
        ("ingresses", {"ingresses": [_ingress(published=False, ingress_class="nginx")]}),
        ("httproutes", {"httproutes": [_route(observed=None, gateway="no-such-gateway")]}),
    ],
)
def test_routes_nobody_will_ever_serve_are_final_after_one_round(kind: str, objects: dict[str, Any]) -> None:
    rounds: list[int] = []
    ctx = _ctx(objects)
    ctx.outside = ScriptedVantage(lambda op, n: rounds.append(n) or http_ok("", status=404), name="o")
    seen = routes.poll_routes(ctx, "172.18.255.200", "shop.example", ROUTES, kind=kind, deadline_s=8.0)
    assert seen["/api"] == (404, "")
    assert max(rounds) == 1


def _refused(observed: int) -> dict[str, Any]:
    route = _route(observed=observed)
    route["status"]["parents"][0]["conditions"][0]["status"] = "False"  # NoMatchingParent: no such listener
    return route


def _rounds(kind: str, objects: dict[str, Any]) -> int:
    """How many rounds of requests poll_routes made before its verdict: 1 when it knew at once that no route
    object of the namespace will ever be served."""
    rounds: list[int] = []
    ctx = _ctx(objects)
    ctx.outside = ScriptedVantage(lambda op, n: rounds.append(n) or http_ok("", status=404), name="o")
    routes.poll_routes(ctx, "172.18.255.200", "shop.example", ROUTES, kind=kind, deadline_s=1.2)
    return max(rounds)


@pytest.mark.parametrize(
    ("kind", "objects"),
    [
        ("ingresses", {"ingresses": [_ingress(published=False, ingress_class="nginx"), _ingress(published=False)]}),
        ("httproutes", {"httproutes": [_route(observed=None, gateway="no-such-gateway"), _route(observed=None)]}),
        ("ingresses", {}),  # nothing made yet
        ("httproutes", {"httproutes": [_route(observed=2)]}),  # accepted
        ("httproutes", {"httproutes": [_refused(observed=1)]}),  # a refusal of an older generation says nothing
    ],
)
def test_one_route_that_may_yet_be_served_keeps_the_wait(kind: str, objects: dict[str, Any]) -> None:
    assert _rounds(kind, objects) > 1


def test_a_route_its_parent_refused_is_never_served() -> None:
    assert _rounds("httproutes", {"httproutes": [_refused(observed=2)]}) == 1


def test_what_beside_the_routes_is_observed_counts_only_when_traefik_serves_one_of_ours() -> None:
    served = _ctx({"ingresses": [_ingress(published=True)]})  # every path answered by this namespace's store pod
    routes.require_served(served, "172.18.255.200", "shop.example", ROUTES, by="paths_reach_backends")
    rounds = len(served.outside.rounds)  # type: ignore[attr-defined]
    routes.require_served(served, "172.18.255.200", "shop.example", ROUTES, by="paths_reach_backends")
    assert len(served.outside.rounds) == rounds  # type: ignore[attr-defined]  # found out once a run
    vantages = [
        ScriptedVantage(lambda op, n: http_ok("404 page not found", status=404), name=n)
        for n in ("probe pod", "other", "outside", "host")
    ]
    nothing = LabContext(
        "ns",
        GatewayKube({"pods": PODS, "ingresses": [_ingress(published=False, ingress_class="nginx")]}),
        facts(),
        *vantages,  # type: ignore[arg-type]
    )
    with pytest.raises(Blocked) as blocked:
        routes.require_served(nothing, "172.18.255.200", "shop.example", ROUTES, by="paths_reach_backends")
    assert blocked.value.by == "paths_reach_backends"
    assert "Traefik serves no route of this namespace for Host shop.example" in blocked.value.why
    with pytest.raises(Blocked) as none:
        routes.require_served(_ctx({}), "172.18.255.200", "shop.example", ROUTES, kind="httproutes", by="paths")
    assert none.value.why == "there is no HTTPRoute in the namespace, so Traefik serves nothing of it"
