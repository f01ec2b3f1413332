"""The cluster's pod guard (fixtures/pods/guard.yaml) holds pods to the static judge's rules: no cluster.

Every expression of the ValidatingAdmissionPolicy is evaluated here with a CEL interpreter (cel-python, a dev
dependency) on pods as the API server would hand them over after defaulting and the mutating admission
plugins: every lab's own pods (starters, solutions, alternatives, wrong answers) pass every rule, and each
sample in podguard.SAMPLES breaks its own rule and no other. The static judge refuses every sample too. What
only the real API server can show (that it compiles and type-checks the expressions, and refuses the samples)
`servicelab up` proves with server-side dry-runs; the e2e suite runs it.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from grader.base import images
from grader.base.errors import BadInput, EnvError
from grader.base.wait import WaitTimeout
from grader.cluster import podguard
from grader.grading import deploy, fence
from grader.intake.manifests import Doc, read_docs
from grader.intake.podpolicy import judge_pod_spec
from grader.kube.client import KubeError, Obj

REPO = Path(__file__).resolve().parents[3]
LAB_ROOTS = (REPO / "labs", REPO / "tests" / "data" / "labs")
NAMESPACE_FIELD = "metadata.namespace"


def _policy() -> tuple[Obj, Obj]:
    policy, binding = yaml.safe_load_all(podguard.policy_manifest())
    return policy, binding


def _lab_pods() -> list[tuple[str, Obj]]:
    """Every pod the labs make: a Pod's object, a Deployment's template as the pod the ReplicaSet makes."""
    pods = []
    for root in LAB_ROOTS:
        # a lab's manifests are in these folders; its own files (lab.yaml, notebook.yaml) are not objects
        folders = ("starter", "solution", "alternatives", "wrong")
        for path in sorted(p for folder in folders for p in root.glob(f"*/{folder}/**/*.yaml")):
            if path.name == "case.yaml":
                continue
            for doc in read_docs(path):
                if doc.kind == "Pod":
                    pods.append((f"{path.relative_to(REPO)}:{doc.line}", doc.obj))
                elif doc.kind == "Deployment":
                    template = doc.obj["spec"]["template"]
                    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": template.get("metadata") or {}}
                    pods.append((f"{path.relative_to(REPO)}:{doc.line}", {**pod, "spec": template["spec"]}))
    return pods


LAB_PODS = _lab_pods()


def admitted(pod: Obj) -> Obj:
    """The pod as a ValidatingAdmissionPolicy sees it: after API defaulting and the mutating admission plugins
    (ServiceAccount, Priority, DefaultTolerationSeconds, LimitRanger with the fence's LimitRange)."""
    pod = copy.deepcopy(pod)
    spec = pod["spec"]
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    if not spec.get("priorityClassName"):
        spec.setdefault("priority", 0)
    spec["tolerations"] = [
        *(spec.get("tolerations") or []),
        *(
            {"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
            for key in podguard.DEFAULT_TOLERATIONS
        ),
    ]
    if spec.get("automountServiceAccountToken") is not False:
        token = {
            "name": "kube-api-access-x7k2p",
            "projected": {
                "defaultMode": 420,
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": NAMESPACE_FIELD}}]}},
                ],
            },
        }
        spec["volumes"] = [*(spec.get("volumes") or []), token]
    for container in [*spec["containers"], *(spec.get("initContainers") or [])]:
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("imagePullPolicy", "IfNotPresent")
        resources = container.setdefault("resources", {})
        for part, defaults in (
            ("limits", podguard.CONTAINER_DEFAULT_LIMITS),
            ("requests", podguard.CONTAINER_DEFAULT_REQUESTS),
        ):
            resources[part] = {**defaults, **(resources.get(part) or {})}
        if "securityContext" in container:
            container["securityContext"].setdefault("procMount", "Default")
    return pod


class Guard:
    """The policy's variables and validations, compiled once with cel-python."""

    def __init__(self) -> None:
        celpy = pytest.importorskip("celpy", reason="cel-python (a dev dependency) evaluates the policy's CEL")
        self._celpy = celpy
        env = celpy.Environment()
        policy, _ = _policy()
        self.variables = [(v["name"], env.program(env.compile(v["expression"]))) for v in policy["spec"]["variables"]]
        self.validations = [
            (v["message"].split(":", 1)[0], env.program(env.compile(v["expression"])))
            for v in policy["spec"]["validations"]
        ]

    def broken(self, pod: Obj, operation: str = "CREATE", old: Obj | None = None) -> list[str]:
        """The rules this pod breaks (an expression that errs refuses too: failurePolicy Fail)."""
        celpy = self._celpy
        activation: dict[str, Any] = {
            "object": celpy.json_to_cel(pod),
            "oldObject": celpy.json_to_cel(old),
            "request": celpy.json_to_cel({"operation": operation}),
        }
        variables: dict[Any, Any] = {}
        for name, program in self.variables:
            activation["variables"] = celpy.celtypes.MapType(variables)
            variables[celpy.celtypes.StringType(name)] = program.evaluate(activation)
        activation["variables"] = celpy.celtypes.MapType(variables)
        return [rule for rule, program in self.validations if not self._allows(program, activation)]

    def _allows(self, program: Any, activation: dict[str, Any]) -> bool:
        try:
            result = program.evaluate(activation)
        except self._celpy.CELEvalError:
            return False
        return isinstance(result, self._celpy.celtypes.BoolType) and bool(result)


@pytest.fixture(scope="module")
def guard() -> Guard:
    return Guard()


def test_the_policy_is_filled_in_and_binds_the_grading_roles() -> None:
    text = podguard.policy_manifest()
    assert "${" not in text
    policy, binding = _policy()
    assert policy["metadata"]["name"] == binding["spec"]["policyName"] == podguard.POLICY
    assert policy["spec"]["failurePolicy"] == "Fail"
    assert binding["spec"]["validationActions"] == ["Deny"]
    (selector,) = binding["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"]
    assert selector == {"key": podguard.ROLE_KEY, "operator": "In", "values": list(podguard.GUARDED_ROLES)}
    assert {deploy.GRADING, deploy.WORKSPACE} <= set(podguard.GUARDED_ROLES)
    namespace = fence.namespace_object("ns1", "run1", deploy.GRADING)
    assert namespace["metadata"]["labels"][podguard.ROLE_KEY] == deploy.GRADING
    rules = [v["message"].split(":", 1)[0] for v in policy["spec"]["validations"]]
    assert sorted(rules) == sorted(podguard.SAMPLES), "one sample per rule, one rule per sample"
    assert all(v["reason"] == "Forbidden" for v in policy["spec"]["validations"])


def test_the_fence_bounds_pods_and_ephemeral_storage() -> None:
    objects = {o["kind"]: o for o in fence.fence("ns1", "run1", fence.LabPolicy())}
    limits = {item["type"]: item for item in objects["LimitRange"]["spec"]["limits"]}
    assert limits["Pod"]["max"] == podguard.POD_MAX
    assert limits["Container"]["max"] == podguard.CONTAINER_MAX
    assert limits["Container"]["default"]["ephemeral-storage"] == podguard.CONTAINER_DEFAULT_LIMITS["ephemeral-storage"]
    hard = objects["ResourceQuota"]["spec"]["hard"]
    assert {"requests.ephemeral-storage", "limits.ephemeral-storage", "services.loadbalancers"} <= set(hard)
    assert "services.nodeports" in hard


@pytest.mark.parametrize(("where", "pod"), LAB_PODS, ids=[w for w, _ in LAB_PODS])
def test_every_lab_pod_passes_the_guard(guard: Guard, where: str, pod: Obj) -> None:
    assert guard.broken(admitted(pod)) == []


def test_the_labs_have_pods_to_check() -> None:
    assert len(LAB_PODS) >= 20


def test_the_ordinary_pod_passes_and_stays_admitted_once_bound(guard: Guard) -> None:
    pod = admitted(podguard.ordinary_pod())
    assert guard.broken(pod) == []
    bound = {**pod, "spec": {**pod["spec"], "nodeName": "servicelab-worker"}}
    assert guard.broken(bound, "UPDATE", old=bound) == []  # the scheduler's binding is no learner's nodeName


@pytest.mark.parametrize("rule", sorted(podguard.SAMPLES))
def test_each_sample_breaks_its_rule_alone(guard: Guard, rule: str) -> None:
    assert guard.broken(admitted(podguard.SAMPLES[rule])) == [rule]


@pytest.mark.parametrize("rule", sorted(podguard.SAMPLES))
def test_the_static_judge_refuses_each_sample_too(rule: str) -> None:
    pod = podguard.SAMPLES[rule]
    doc = Doc("guard.yaml", 1, json.loads(json.dumps(pod)))
    with pytest.raises(BadInput):
        judge_pod_spec(doc, images.LAB_IMAGES)


def test_live_proof_leaves_out_only_what_the_api_server_refuses_first() -> None:
    assert podguard.CANARY in podguard.LIVE
    assert set(podguard.SAMPLES) - set(podguard.LIVE) == {
        "runtime-class",
        "service-account",
        "ephemeral-containers",
        "proc-mount",
        "pod-resources",
    }


class FakeApi:
    """Enough of Kube for podguard.install: pods dry-run in the check namespace are refused (403 Forbidden)
    unless they are the ordinary pod or a sample named in `admits`."""

    def __init__(self, admits: tuple[str, ...] = (), warnings: tuple[str, ...] = ()) -> None:
        self.admits = admits
        self.warnings = [{"fieldRef": "spec.validations[0].expression", "warning": w} for w in warnings]
        self.applied: list[Obj] = []
        self.namespaces: dict[str, Obj] = {}

    def apply(self, manifest: str, namespace: str | None = None, *, dry_run: bool = False) -> list[Obj]:
        objs = [o for o in yaml.safe_load_all(manifest) if o]
        if not dry_run:
            self.applied += objs
            return objs
        (pod,) = objs
        assert namespace == podguard.CHECK_NAMESPACE
        rule = pod["metadata"]["name"].removeprefix("servicelab-guard-")
        if rule == "ordinary" or rule in self.admits:
            return objs
        raise KubeError(f"denied request: {rule}", status=403, reason="Forbidden")

    def get(self, kind: str, name: str, namespace: str | None = None) -> Obj | None:
        if kind == "namespace":
            return self.namespaces.get(name)
        assert (kind, name) == ("validatingadmissionpolicy", podguard.POLICY)
        status = {"observedGeneration": 1, "typeChecking": {"expressionWarnings": self.warnings}}
        return {"metadata": {"generation": 1}, "status": status}

    def create(self, obj: Obj) -> Obj:
        self.namespaces[obj["metadata"]["name"]] = obj
        return obj


def test_up_applies_the_guard_and_proves_every_live_rule() -> None:
    api = FakeApi()
    detail = podguard.install(api)  # type: ignore[arg-type]
    assert detail == f"{len(podguard.LIVE)} rules refused by a server-side dry-run in {podguard.CHECK_NAMESPACE}"
    assert [o["kind"] for o in api.applied] == ["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"]
    labels = api.namespaces[podguard.CHECK_NAMESPACE]["metadata"]["labels"]
    assert labels[podguard.ROLE_KEY] == podguard.CHECK_ROLE
    assert podguard.examine(api) == (  # type: ignore[arg-type]
        True,
        f"in {podguard.CHECK_NAMESPACE} a dry-run ordinary pod is admitted and the image sample refused",
    )


def test_up_fails_naming_a_rule_the_cluster_lets_through() -> None:
    with pytest.raises(EnvError, match="lets through pods that break: tolerations, grace"):
        podguard.install(FakeApi(admits=("tolerations", "grace")))  # type: ignore[arg-type]


def test_a_type_check_warning_fails_up_at_once() -> None:
    with pytest.raises(EnvError, match=re.escape("type check warns: spec.validations[0].expression: no such key")):
        podguard.install(FakeApi(warnings=("no such key",)))  # type: ignore[arg-type]


def test_a_guard_that_never_refuses_times_out_with_what_it_saw(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(podguard, "GUARD_S", 0.3)
    with pytest.raises(WaitTimeout, match="the image sample is still admitted"):
        podguard.install(FakeApi(admits=(podguard.CANARY,)))  # type: ignore[arg-type]


def test_doctor_names_a_missing_check_namespace() -> None:
    assert podguard.examine(FakeApi()) == (False, f"namespace {podguard.CHECK_NAMESPACE} is missing")  # type: ignore[arg-type]
