"""LabContext against a fake API: endpoints waits and their diagnoses, missing objects, LB pending."""

from __future__ import annotations

import time
from typing import Any

import pytest
from _grader_fakes import REFUSED, TIMEOUT, FakeKube, ScriptedVantage, endpoint_slice, facts, http_ok, pod, service

from grader.base.errors import EnvError
from grader.base.outcomes import Fail
from grader.lab import traefik_entry as entrypoint
from grader.lab.context import LabContext


def _ctx(objects: dict[str, list[dict[str, Any]]]) -> LabContext:
    vantages = [ScriptedVantage(lambda op, n: http_ok(), name=n) for n in ("probe pod", "other", "outside", "host")]
    return LabContext("ns", FakeKube(objects), facts(), *vantages, ready_timeout_s=2.0)  # type: ignore[arg-type]


def test_ready_endpoints_returns_pod_names() -> None:
    ctx = _ctx(
        {
            "services": [service("web", {"app": "web"})],
            "endpointslices": [endpoint_slice("web", ["web-1", "web-2"])],
            "pods": [pod("web-1", {"app": "web"}), pod("web-2", {"app": "web"})],
        }
    )
    eps = ctx.wait_ready_endpoints("web", count=2)
    assert eps.pod_names == ["web-1", "web-2"]
    assert eps.ready == 2


def test_selector_matching_no_pod_fails_early_showing_pod_labels() -> None:
    ctx = _ctx(
        {
            "services": [service("web", {"app": "webapp"})],
            "endpointslices": [],
            "pods": [pod("web-1", {"app": "web", "pod-template-hash": "x"})],
        }
    )
    with pytest.raises(Fail) as info:
        ctx.wait_ready_endpoints("web", count=1, timeout_s=30)
    assert "selector app=webapp" in info.value.hint
    assert "web-1: app=web" in info.value.hint
    assert "pod-template-hash" not in info.value.hint


def test_named_target_port_missing_is_diagnosed() -> None:
    ctx = _ctx(
        {
            "services": [service("web", {"app": "web"}, target_port="web")],
            "endpointslices": [],
            "pods": [pod("web-1", {"app": "web"})],
        }
    )
    with pytest.raises(Fail, match="targetPort 'web'"):
        ctx.wait_ready_endpoints("web", count=1, timeout_s=30)


def test_pods_not_ready_reported_at_the_deadline() -> None:
    ctx = _ctx(
        {
            "services": [service("web", {"app": "web"})],
            "endpointslices": [endpoint_slice("web", ["w"], False)],
            "pods": [pod("web-1", {"app": "web"}, ready=False)],
        }
    )
    with pytest.raises(Fail, match="only 0 are Ready"):
        ctx.wait_ready_endpoints("web", count=1, timeout_s=0.5)


def test_missing_service_lists_the_services_there() -> None:
    ctx = _ctx({"services": [service("other", {"app": "x"})]})
    with pytest.raises(Fail, match=r"no Service 'web'.*other"):
        ctx.service("web")


def test_service_names_its_matrix_columns() -> None:
    obj = service("web", {"app": "web"}, type_="NodePort")
    obj["spec"]["ports"][0]["nodePort"] = 30007
    ctx = _ctx({"services": [obj]})
    ctx.service("web")
    assert ctx.matrix.label_for("10.96.0.10", 80) == "web ClusterIP"
    assert ctx.matrix.label_for("172.18.0.3", 30007) == "web NodePort @w1"


def test_target_port_mismatch_is_appended_to_a_failed_probe_hint() -> None:
    ctx = _ctx({"services": [service("web", {"app": "web"}, target_port=9090)], "pods": [pod("web-1", {"app": "web"})]})
    svc = ctx.service("web")
    refused = ScriptedVantage(lambda op, n: REFUSED)
    refused.attach(ctx.matrix)
    refused.recorder.diagnose = ctx._diagnose_port
    with pytest.raises(Fail) as info:
        refused.http_get(svc.url("/"), deadline_s=0.1).must_succeed(hint="web does not answer.")
    assert "targetPort 9090" in info.value.hint
    assert "8080" in info.value.hint


def test_lb_pending_unknown_pool_is_the_learners_mistake() -> None:
    svc = service("web", {"app": "web"}, type_="LoadBalancer", annotations={"metallb.io/address-pool": "privat"})
    pools = [{"metadata": {"name": "public"}}, {"metadata": {"name": "internal"}}]
    ctx = _ctx(
        {
            "services": [svc],
            "ipaddresspools.metallb.io": pools,
            "l2advertisements.metallb.io": [{}],
            "events": [],
            "deployments": [METALLB_CONTROLLER],
        }
    )
    with pytest.raises(Fail, match=r"pool 'privat'.*internal, public"):
        ctx.wait_load_balancer("web", timeout_s=0.3)


METALLB_CONTROLLER = {"metadata": {"name": "controller"}, "status": {"availableReplicas": 1}}


def test_lb_pending_with_metallb_stopped_is_an_environment_error() -> None:
    svc = service("web", {"app": "web"}, type_="LoadBalancer")
    stopped = {"metadata": {"name": "controller"}, "status": {"availableReplicas": 0}}
    pools = [{"metadata": {"name": "public"}}]
    ctx = _ctx(
        {
            "services": [svc],
            "ipaddresspools.metallb.io": pools,
            "l2advertisements.metallb.io": [{}],
            "events": [],
            "deployments": [stopped],
        }
    )
    with pytest.raises(EnvError, match="controller is not running"):
        ctx.wait_load_balancer("web", timeout_s=0.3)


def test_lb_pending_without_pools_is_an_environment_error() -> None:
    svc = service("web", {"app": "web"}, type_="LoadBalancer")
    ctx = _ctx({"services": [svc], "ipaddresspools.metallb.io": [], "l2advertisements.metallb.io": [], "events": []})
    with pytest.raises(EnvError, match="no IPAddressPool"):
        ctx.wait_load_balancer("web", timeout_s=0.3)


def _deployment(replicas: int, made: int, generation: int = 2, observed: int = 2) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "generation": generation},
        "spec": {"replicas": replicas},
        "status": {"observedGeneration": observed, "replicas": made, "updatedReplicas": made},
    }


@pytest.mark.parametrize("deployment", [_deployment(2, 2)])
def test_selector_matching_no_pod_fails_early_though_a_pod_never_turns_ready(deployment: dict[str, Any]) -> None:
    ctx = _ctx(
        {
            "services": [service("web", {"app": "webb"})],
            "endpointslices": [],
            "deployments": [deployment],
            "pods": [pod("web-1", {"app": "web"}), pod("web-warming", {"app": "web"}, ready=False)],
        }
    )
    start = time.monotonic()
    with pytest.raises(Fail) as info:
        ctx.wait_ready_endpoints("web", count=1, timeout_s=30)
    assert "selector app=webb" in info.value.hint
    assert time.monotonic() - start < 10  # known after 3 steady seconds, not at the deadline


@pytest.mark.parametrize("deployment", [_deployment(3, 2), _deployment(2, 2, generation=3)])
def test_while_a_deployment_still_makes_pods_the_wait_goes_on(deployment: dict[str, Any]) -> None:
    ctx = _ctx(
        {
            "services": [service("web", {"app": "webb"})],
            "endpointslices": [],
            "deployments": [deployment],
            "pods": [pod("web-1", {"app": "web"}), pod("web-warming", {"app": "web"}, ready=False)],
        }
    )
    start = time.monotonic()
    with pytest.raises(Fail):
        ctx.wait_ready_endpoints("web", count=1, timeout_s=4)
    assert time.monotonic() - start >= 4  # a pod still to come may match: no verdict before the deadline


def _traefik_ctx(outside: ScriptedVantage) -> LabContext:
    traefik = service("traefik", {"app": "traefik"}, type_="LoadBalancer")
    traefik["status"] = {"loadBalancer": {"ingress": [{"ip": "172.18.255.200"}]}}
    others = [ScriptedVantage(lambda op, n: http_ok(), name=n) for n in ("probe pod", "other")]
    host = ScriptedVantage(lambda op, n: http_ok(), name="host")
    return LabContext("ns", FakeKube({"services": [traefik]}), facts(), *others, outside, host, ready_timeout_s=2.0)  # type: ignore[arg-type]


def test_traefik_is_asked_once_for_a_host_no_route_claims() -> None:
    outside = ScriptedVantage(lambda op, n: http_ok("404 page not found", 404), name="outside")
    ctx = _traefik_ctx(outside)
    assert ctx.traefik().lb_ips == ["172.18.255.200"]
    ctx.traefik()
    assert [[(op.target, op.host_header) for op in ops] for ops in outside.rounds] == [
        [("http://172.18.255.200/", entrypoint.CONTROL_HOST)]
    ]


def test_traefik_that_gives_no_http_answer_from_outside_is_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(entrypoint, "ANSWER_S", 0.3)
    ctx = _traefik_ctx(ScriptedVantage(lambda op, n: TIMEOUT, name="outside"))
    with pytest.raises(EnvError, match=r"Traefik at 172\.18\.255\.200 gives no HTTP answer from outside"):
        ctx.traefik()
    rounds = len(ctx.outside.rounds)  # type: ignore[attr-defined]
    with pytest.raises(EnvError, match="no HTTP answer"):  # asked once: the run's other checks hear the same
        ctx.traefik()
    assert len(ctx.outside.rounds) == rounds  # type: ignore[attr-defined]


def test_the_in_cluster_route_is_judged_once_a_run_for_each_service_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    from grader.lab import kit as labkit  # noqa: PLC0415 - labkit sits above checks

    judged: list[str] = []
    monkeypatch.setattr(labkit, "_route_works", lambda lab, svc: judged.append(svc.name) or False)
    ctx = _ctx({"services": [service("web", {"app": "web"})]})
    svc = ctx.service("web")
    assert labkit.route_works(ctx, svc) is False
    assert labkit.route_works(ctx, ctx.service("web", fresh=True)) is False  # the same spec: not judged again
    assert judged == ["web"]
    other = type(svc).from_obj(service("web", {"app": "web"}, target_port=9376))
    assert labkit.route_works(ctx, other) is False  # another spec is judged on its own
    assert judged == ["web", "web"]
    labkit.route_works(_ctx({"services": [service("web", {"app": "web"})]}), svc)  # a new run judges again
    assert judged == ["web", "web", "web"]


@pytest.mark.parametrize(("answer", "works"), [(REFUSED, False), (http_ok("web-1"), True)])
def test_the_clusterip_check_tells_route_works_what_it_saw(
    monkeypatch: pytest.MonkeyPatch, answer: Any, works: bool
) -> None:
    from grader.lab import kit as labkit  # noqa: PLC0415 - labkit sits above checks

    monkeypatch.setattr(labkit, "_route_works", lambda lab, svc: pytest.fail("probed the route a second time"))
    ctx = _ctx(
        {
            "services": [service("web", {"app": "web"})],
            "endpointslices": [endpoint_slice("web", ["web-1", "web-2"])],
            "pods": [pod("web-1", {"app": "web"}), pod("web-2", {"app": "web"})],
        }
    )
    probe = ctx.probe
    assert isinstance(probe, ScriptedVantage)
    probe.respond = lambda op, n: answer
    with pytest.raises(Fail):  # refused by both, or web-2 never answers
        labkit.inside_route(ctx, "web", 2, "the web pods")
    assert labkit.route_works(ctx, ctx.service("web")) is works


def test_a_clusterip_check_that_found_no_endpoint_spares_the_next_checks_the_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from grader.lab import kit as labkit  # noqa: PLC0415 - labkit sits above checks

    monkeypatch.setattr(labkit, "_route_works", lambda lab, svc: pytest.fail("waited for the endpoints again"))
    ctx = _ctx({"services": [service("web", {"app": "wbe"})], "pods": [pod("web-1", {"app": "web"})]})
    monkeypatch.setattr(ctx, "wait_ready_endpoints", lambda *a, **k: (_ for _ in ()).throw(Fail("no endpoints")))
    with pytest.raises(Fail):
        labkit.inside_route(ctx, "web", 1, "the web pod")
    assert labkit.route_works(ctx, ctx.service("web")) is False


def test_a_clusterip_check_short_of_endpoints_leaves_the_route_to_be_judged(monkeypatch: pytest.MonkeyPatch) -> None:
    from grader.lab import kit as labkit  # noqa: PLC0415 - labkit sits above checks

    ctx = _ctx(
        {
            "services": [service("web", {"app": "web"})],
            "endpointslices": [endpoint_slice("web", ["web-1"])],  # 1 of the 3 wanted: the route may still work
            "pods": [pod("web-1", {"app": "web"})],
        }
    )
    monkeypatch.setattr(ctx, "wait_ready_endpoints", lambda *a, **k: (_ for _ in ()).throw(Fail("1 of 3")))
    with pytest.raises(Fail):
        labkit.inside_route(ctx, "web", 3, "the web pods")
    assert not labkit.route_known_broken(ctx, ctx.service("web"))


def _node_port_ctx(witness: Any) -> tuple[LabContext, ScriptedVantage]:
    """A learner's node port refused on node w1 (172.18.0.3); Traefik's node port 30080 answers `witness` there."""
    traefik = service("traefik", {"app": "traefik"}, type_="LoadBalancer")
    traefik["spec"]["ports"][0]["nodePort"] = 30080

    def outside_answer(op: Any, n: int) -> Any:
        return witness if op.target == "http://172.18.0.3:30080/" else REFUSED

    outside = ScriptedVantage(outside_answer, name="outside")
    others = [ScriptedVantage(lambda op, n: http_ok(), name=n) for n in ("probe pod", "other")]
    host = ScriptedVantage(lambda op, n: http_ok(), name="host")
    ctx = LabContext("ns", FakeKube({"services": [traefik]}), facts(), *others, outside, host)  # type: ignore[arg-type]
    return ctx, outside


def test_a_node_that_refuses_traefiks_node_port_too_is_the_environment() -> None:
    ctx, _ = _node_port_ctx(REFUSED)
    result = ctx.outside.http_get("http://172.18.0.3:30007/hostname", deadline_s=0.1)
    with pytest.raises(EnvError, match=r"node 172\.18\.0\.3 refuses every node port, Traefik's 30080 too"):
        result.must_succeed("Node port 30007 does not answer on every node.")


def test_a_node_whose_other_node_ports_answer_leaves_the_failure_to_the_learner() -> None:
    ctx, outside = _node_port_ctx(http_ok("404 page not found", 404))
    for _ in range(2):
        result = ctx.outside.http_get("http://172.18.0.3:30007/hostname", deadline_s=0.1)
        with pytest.raises(Fail, match="does not answer"):
            result.must_succeed("Node port 30007 does not answer on every node.")
    witness = [op for ops in outside.rounds for op in ops if op.target.endswith(":30080/")]
    assert len(witness) == 1  # asked once a run while it answers
