"""Every point is earned by an observation (issue 22): the plugin keeps each check's observations and a PASS stands
only on one that supports it; a must-not-reach silence only beside its positive control. Real pytest runs of a small
lab with scripted vantage points, then the rule itself on hand-made results."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from _grader_fakes import REFUSED, TIMEOUT, FakeKube, ScriptedVantage, endpoint_slice, facts, http_ok, pod, service

from grader.catalogue.labs import load_lab
from grader.grading import evidence
from grader.grading.results import CheckResult, LabResult, Status
from grader.grading.session import run_checks
from grader.lab.context import LabContext
from grader.probes.base import ProbePolicy
from grader.probes.matrix import API, Observation
from grader.probes.shell import Op, Outcome
from grader.reports import json as json_report

CHECKS = """
import pytest
from grader.lab import LabContext

WEB = {"kind": "Service", "metadata": {"name": "web"}, "spec": {"type": "ClusterIP"}}

@pytest.mark.check(points=2, title="web answers inside")
def test_inside(lab: LabContext) -> None:
    lab.probe.http_get("http://10.96.0.10/hostname").must_succeed(hint="web does not answer", diagnosis="mini/silent")

@pytest.mark.check(points=1, title="nothing of web answers outside")
def test_private(lab: LabContext) -> None:
    lab.outside.must_not_reach("http://10.96.0.10/hostname", hint="web answers outside", diagnosis="mini/exposed")

@pytest.mark.check(points=1, title="the internet cannot connect to the internal address")
def test_internet_silent(lab: LabContext) -> None:
    lab.outside.must_not_connect("172.18.255.230", 80, hint="reached", see="vnet", diagnosis="mini/public")

@pytest.mark.check(points=1, title="the VNet reaches the internal address")
def test_vnet(lab: LabContext) -> None:
    lab.probe.http_get("http://172.18.255.230/hostname").must_succeed(hint="no answer", diagnosis="mini/vnet")

@pytest.mark.check(points=1, title="depends on private")
def test_after_private(lab: LabContext) -> None:
    lab.blocked("private", "what private observes is needed here")

@pytest.mark.check(points=1, title="looks and asserts nothing")
def test_nothing(lab: LabContext) -> None:
    lab.probe.http_get("http://10.96.0.10/hostname")

@pytest.mark.check(points=1, title="web is type ClusterIP", evidence="object")
def test_structural(lab: LabContext) -> None:
    lab.expect(lab.read_field(WEB, "spec.type") == "ClusterIP", "web is no ClusterIP", diagnosis="mini/type")

@pytest.mark.check(points=1, title="reads a field but earns on probes")
def test_reads_only(lab: LabContext) -> None:
    lab.read_field(WEB, "spec.type")
"""


def _lab(root: Path) -> Path:
    lab = root / "mini"
    (lab / "solution").mkdir(parents=True)
    (lab / "lab.yaml").write_text("id: mini\ntitle: Mini\norder: 1\ntimeouts: {probe: 2}\n")
    (lab / "task.md").write_text("Do it.\n")
    (lab / "solution" / "s.yaml").write_text("apiVersion: v1\nkind: Service\nmetadata: {name: web}\n")
    (lab / "checks.py").write_text(textwrap.dedent(CHECKS))
    return lab


class Env:
    """The probe pod answers (or refuses) everything; outside, only the partner answers (its known-good target)."""

    run_id = "t1"
    policy = ProbePolicy(per_try_s=0.5, deadline_s=2.0, backoff_s=0.01, exec_slack_s=5.0, hostname_rounds_size=4)
    kube = FakeKube()

    def __init__(self, web_answers: bool) -> None:
        self.web_answers = web_answers

    def context(self, namespace: str, ready_timeout_s: float = 60.0) -> LabContext:
        inside = (lambda op, n: http_ok("web-1")) if self.web_answers else (lambda op, n: REFUSED)

        def outside(op: Op, n: int) -> Outcome:
            return http_ok("partner") if "partner" in op.target else TIMEOUT

        return LabContext(
            namespace,
            FakeKube(),
            facts(),
            ScriptedVantage(inside),
            ScriptedVantage(inside, "other"),
            ScriptedVantage(outside, "outside container", known_good="http://partner/hostname"),
            ScriptedVantage(inside, "host"),
        )


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, LabResult]:
    lab = load_lab(str(_lab(tmp_path_factory.mktemp("evidence"))))
    return {answers: run_checks(lab, "ns", Env(answers)) for answers in (True, False)}  # type: ignore[arg-type]


def _status(result: LabResult) -> dict[str, tuple[Status, str]]:
    return {c.id: (c.status, c.blocked_by) for c in result.checks}


def test_a_pass_stands_on_an_observation_that_supports_it(graded: dict[bool, LabResult]) -> None:
    result = graded[True]
    assert _status(result) == {
        "inside": (Status.PASS, ""),
        "private": (Status.PASS, ""),  # its control, 10.96.0.10:80, answered the probe pod in `inside`
        "internet_silent": (Status.PASS, ""),  # its control answered later, in `vnet`
        "vnet": (Status.PASS, ""),
        "after_private": (Status.BLOCKED, "private"),
        "nothing": (Status.BLOCKED, ""),  # probed, asserted nothing: no observation supports it
        "structural": (Status.PASS, ""),
        "reads_only": (Status.BLOCKED, ""),  # a field read carries only a check whose marker says so
    }
    checks = {c.id: c for c in result.checks}
    assert checks["nothing"].message == f"not observed: {evidence.NO_EVIDENCE}"
    assert checks["nothing"].earned == 0
    assert [(s.vantage, s.target, s.detail) for s in checks["structural"].evidence] == [
        (API, "Service web spec.type", '"ClusterIP"')
    ]
    assert checks["structural"].structural
    silence = checks["private"].evidence
    assert [(s.vantage, s.expected, s.observed, s.control) for s in silence] == [
        ("outside container", False, False, "10.96.0.10:80")
    ]
    assert result.score == 2 + 1 + 1 + 1 + 1


def test_silence_without_its_positive_control_is_blocked_by_the_failure_behind_it(
    graded: dict[bool, LabResult],
) -> None:
    result = graded[False]
    assert _status(result) == {
        "inside": (Status.FAIL, ""),
        "private": (Status.BLOCKED, "inside"),  # the check that expected 10.96.0.10:80 to answer
        "internet_silent": (Status.BLOCKED, "vnet"),  # the check its probe named
        "vnet": (Status.FAIL, ""),
        "after_private": (Status.BLOCKED, "inside"),  # blocked by a blocked check: the failure at the root
        "nothing": (Status.BLOCKED, ""),
        "structural": (Status.PASS, ""),
        "reads_only": (Status.BLOCKED, ""),
    }
    checks = {c.id: c for c in result.checks}
    assert checks["private"].message == (
        "not observed: nothing answers at 10.96.0.10:80 at all, so its silence from outside container proves "
        "nothing: see check inside (blocked by inside)"
    )
    assert checks["after_private"].message == "not observed: what private observes is needed here (blocked by inside)"
    assert checks["inside"].diagnosis == "mini/silent"
    assert result.score == 1


def test_the_json_report_carries_each_checks_evidence(graded: dict[bool, LabResult]) -> None:
    checks = {c["id"]: c for c in json_report.to_dict(graded[False])["checks"]}
    assert checks["inside"]["diagnosis"] == "mini/silent"
    assert checks["private"]["blocked_by"] == "inside"
    assert checks["inside"]["evidence"][0] | {"detail": ""} == {
        "vantage": "probe pod",
        "target": "10.96.0.10:80",
        "expected": True,
        "observed": False,
        "ok": False,
        "detail": "",
        "address": "10.96.0.10:80",
        "control": "",
        "see": "",
    }
    assert all(c["evidence"] for c in checks.values() if c["status"] == "pass")


def _check(check_id: str, status: Status, *seen: Observation, blocked_by: str = "") -> CheckResult:
    return CheckResult(check_id, check_id, 1, status, blocked_by=blocked_by, evidence=list(seen))


def test_settle_blocks_what_rests_on_nothing_and_names_the_root_of_a_chain() -> None:
    silent = Observation("internet", "lb", False, False, "timed out", "172.18.255.230:80", "172.18.255.230:80")
    results = {
        "vnet": _check("vnet", Status.FAIL),
        "private": _check("private", Status.PASS),
        "loop_a": _check("loop_a", Status.BLOCKED, blocked_by="loop_b"),
        "loop_b": _check("loop_b", Status.BLOCKED, blocked_by="loop_a"),
        "later": _check("later", Status.BLOCKED, blocked_by="private"),
    }
    results["later"].message = "not observed: x (blocked by private)"
    observed = {
        "vnet": [Observation("outside", "lb", True, False, "timed out", "172.18.255.230:80")],
        "private": [silent],
    }
    evidence.settle(results, observed, set())
    assert (results["private"].status, results["private"].blocked_by) == (Status.BLOCKED, "vnet")
    assert (results["later"].blocked_by, results["later"].message) == ("vnet", "not observed: x (blocked by vnet)")
    assert {results["loop_a"].blocked_by, results["loop_b"].blocked_by} == {"loop_a", "loop_b"}  # no endless walk
    assert results["vnet"].evidence == observed["vnet"]


READINESS = Path(__file__).parents[3] / "labs" / "readiness"


def _web(name: str, ip: str, ready: bool = True, **labels: str) -> dict[str, Any]:
    made = pod(name, {"app": "web", **labels}, ready=ready)
    made["status"]["podIP"] = ip
    return made


WARMING_IP = "10.244.0.99"
DEPLOYMENT = {
    "kind": "Deployment",
    "metadata": {"name": "web", "generation": 1},
    "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "app", "readinessProbe": {"httpGet": {}}}]}}},
    "status": {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3},
}


class ReadinessEnv:
    """The readiness lab's cluster as the API and the probe pod show it: three ready web pods and the unready
    web-warming pod; `answering` are the pods that answer through the Service (none: the route is broken)."""

    run_id = "t2"
    policy = Env.policy

    def __init__(self, service: dict[str, Any], slices: list[dict[str, Any]], answering: list[str]) -> None:
        pods = [_web(f"web-{i}", f"10.244.0.{i + 9}") for i in (1, 2, 3)]
        pods.append(_web("web-warming", WARMING_IP, ready=False, track="warming"))
        self.kube = FakeKube(
            {"pods": pods, "services": [service], "endpointslices": slices, "deployments": [DEPLOYMENT]}
        )
        self.answering = answering

    def context(self, namespace: str, ready_timeout_s: float = 60.0) -> LabContext:
        turns = iter(range(10**6))

        def answer(op: Op, n: int) -> Outcome:
            if not self.answering:
                return REFUSED
            return http_ok(self.answering[next(turns) % len(self.answering)])

        return LabContext(
            namespace,
            self.kube,  # type: ignore[arg-type]
            facts(),
            ScriptedVantage(answer),
            ScriptedVantage(answer, "other"),
            ScriptedVantage(answer, "outside container"),
            ScriptedVantage(answer, "host"),
        )


def _readiness(env: ReadinessEnv) -> dict[str, CheckResult]:
    return {c.id: c for c in run_checks(load_lab(READINESS), "ns", env).checks}  # type: ignore[arg-type]


def test_readiness_unready_pod_check_earns_its_points_on_the_requests_it_sent() -> None:
    web = service("web", {"app": "web"}, target_port="http")
    checks = _readiness(
        ReadinessEnv(web, [endpoint_slice("web", ["web-1", "web-2", "web-3"])], ["web-1", "web-2", "web-3"])
    )
    assert {i: c.status for i, c in checks.items()} == dict.fromkeys(checks, Status.PASS)
    unready = checks["unready_pod_gets_no_traffic"].evidence
    assert [(s.target, s.expected, s.observed, s.control) for s in unready] == [
        ("web ClusterIP (24 requests)", True, True, ""),
        ("web-warming through web", False, False, "10.96.0.10:80"),
    ]
    assert checks["pods_have_readiness_probe"].structural


def test_readiness_unready_pod_check_is_blocked_when_no_pod_answers_through_the_service() -> None:
    """wrong/targetport-80 scored its 2 points on an EndpointSlice read before issue 22."""
    web = service("web", {"app": "web"}, target_port=80)
    checks = _readiness(ReadinessEnv(web, [endpoint_slice("web", ["web-1", "web-2", "web-3"])], []))
    answer = checks["ready_pods_answer"]
    assert (answer.status, answer.diagnosis) == (Status.FAIL, "endpoints/targetport-not-declared")
    unready = checks["unready_pod_gets_no_traffic"]
    assert (unready.status, unready.blocked_by, unready.earned) == (Status.BLOCKED, "ready_pods_answer", 0)
    assert checks["pods_have_readiness_probe"].status is Status.PASS


def test_readiness_unready_pod_check_fails_when_the_slices_publish_it() -> None:
    web = service("web", {"app": "web"}, target_port="http", spec={"publishNotReadyAddresses": True})
    slices = [endpoint_slice("web", ["web-1", "web-2", "web-3"]), endpoint_slice("web", ["web-warming"])]
    slices[1]["endpoints"][0]["addresses"] = [WARMING_IP]
    checks = _readiness(ReadinessEnv(web, slices, ["web-1", "web-2", "web-3"]))
    unready = checks["unready_pod_gets_no_traffic"]
    assert (unready.status, unready.diagnosis) == (Status.FAIL, "readiness/unready-pod-published")


INTERNAL_LB = Path(__file__).parents[3] / "labs" / "internal-lb"
LB_IP = "172.18.255.230"


class InternalLbEnv:
    """The internal-lb lab's cluster: internal-app's three pods behind a LoadBalancer Service at an internal address.
    When its selector matches them, they answer on the ClusterIP and the VNet (outside) reaches the address; the
    internet vantage point never does (no route to internal frontends)."""

    run_id = "t3"
    policy = Env.policy

    def __init__(self, selector: dict[str, str]) -> None:
        names = [f"internal-app-{i}" for i in (1, 2, 3)]
        pods = [pod(n, {"app": "internal-app"}, ports=[{"containerPort": 80}]) for n in names]
        svc = service(
            "internal-app",
            selector,
            target_port=80,
            type_="LoadBalancer",
            annotations={"service.beta.kubernetes.io/azure-load-balancer-internal": "true"},
        )
        svc["status"] = {"loadBalancer": {"ingress": [{"ip": LB_IP}]}}
        self.works = selector == {"app": "internal-app"}
        slices = [endpoint_slice("internal-app", names)] if self.works else []
        deployment = {**DEPLOYMENT, "metadata": {"name": "internal-app", "generation": 1}}
        self.kube = FakeKube({"pods": pods, "services": [svc], "endpointslices": slices, "deployments": [deployment]})
        self.names = names

    def context(self, namespace: str, ready_timeout_s: float = 60.0) -> LabContext:
        turns = iter(range(10**6))

        def backends(op: Op, n: int) -> Outcome:
            return http_ok(self.names[next(turns) % 3]) if self.works else REFUSED

        def outside(op: Op, n: int) -> Outcome:
            return http_ok("partner") if "partner" in op.target else backends(op, n) if LB_IP in op.target else TIMEOUT

        def internet(op: Op, n: int) -> Outcome:
            return http_ok("partner") if "partner" in op.target else TIMEOUT

        good = "http://partner/hostname"
        return LabContext(
            namespace,
            self.kube,  # type: ignore[arg-type]
            facts(),
            ScriptedVantage(backends),
            ScriptedVantage(backends, "other"),
            ScriptedVantage(outside, "outside container", known_good=good),
            ScriptedVantage(backends, "host"),
            internet=ScriptedVantage(internet, "internet", known_good=good),
        )


def test_internal_lb_earns_not_internet_only_beside_the_vnet_reaching_the_address() -> None:
    """Issue 22: with a selector that matches no pod, internal_ip_not_internet was PASS (3 points) on a silence
    that held from everywhere."""
    lab = load_lab(INTERNAL_LB)
    right = {c.id: c for c in run_checks(lab, "ns", InternalLbEnv({"app": "internal-app"})).checks}  # type: ignore[arg-type]
    assert {i: c.status for i, c in right.items()} == dict.fromkeys(right, Status.PASS)
    silence = [s for s in right["internal_ip_not_internet"].evidence if s.vantage == "internet"]
    assert [(s.address, s.control, s.see) for s in silence] == [(f"{LB_IP}:80", f"{LB_IP}:80", "reachable_from_vnet")]
    wrong = {c.id: c for c in run_checks(lab, "ns", InternalLbEnv({"app": "internal"})).checks}  # type: ignore[arg-type]
    assert {i: (c.status, c.blocked_by) for i, c in wrong.items()} == {
        "answers_on_cluster_ip": (Status.FAIL, ""),
        "internal_ip_not_internet": (Status.BLOCKED, "answers_on_cluster_ip"),
        "reachable_from_vnet": (Status.BLOCKED, "answers_on_cluster_ip"),
    }
    assert wrong["answers_on_cluster_ip"].diagnosis == "endpoints/selector-matches-no-pod"
    assert "nothing answers at internal-app LB at all" in wrong["internal_ip_not_internet"].message
