"""Applying manifests: dry-run of everything first (nothing half-applied), labels, cleanup; probe pod start-up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _grader_fakes import facts

from grader.base.errors import BadInput, EnvError
from grader.catalogue.labs import load_lab
from grader.grading import deploy
from grader.grading.deploy import apply_into, delete_namespace, ensure_namespace
from grader.intake.labpolicy import LabPolicy
from grader.intake.manifests import manifest_files
from grader.kube.client import KubeError
from grader.probes.pod import ProbePods, warm_pod_name

DEMO = Path(__file__).parent.parent / "data" / "labs" / "demo"


class RecordingKube:
    context = "fake"

    def __init__(self, reject: str | None = None, pod_waiting: str | None = None) -> None:
        self.reject = reject
        self.pod_waiting = pod_waiting
        self.applied: list[tuple[str, bool]] = []
        self.deleted: list[tuple[str, str]] = []
        self.created: list[dict[str, Any]] = []
        self.users: list[str] = []

    def as_user(self, user: str) -> RecordingKube:
        self.users.append(user)
        return self

    def apply(self, manifest: str, namespace: str | None = None, *, dry_run: bool = False) -> list[dict[str, Any]]:
        self.applied.append((manifest, dry_run))
        if self.reject and dry_run and self.reject.split('"')[1] in manifest:  # the object the message names
            raise KubeError(self.reject)
        return [{"kind": "Service", "metadata": {"name": "web", "namespace": namespace}}]

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        if kind == "namespace":
            return {"metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "servicelab"}}}
        if kind == "pod":
            waiting = {"reason": self.pod_waiting, "message": "pull access denied"} if self.pod_waiting else None
            return {
                "status": {
                    "containerStatuses": [{"state": {"waiting": waiting} if waiting else {}}],
                    "conditions": [{"type": "Ready", "status": "False" if waiting else "True"}],
                }
            }
        return None

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.created.append(obj)
        return obj

    def delete(self, kind: str, name: str, namespace: str | None = None, *, wait: bool = False) -> None:
        self.deleted.append((kind, name))

    def delete_all(self, kind: str, namespace: str, **_: Any) -> None:
        self.deleted.append((kind, f"{namespace}/*"))


def _files() -> list[tuple[Path, str]]:
    return [(f, str(f)) for f in manifest_files(DEMO / "solution")]


def test_dry_run_of_everything_first_then_apply_with_labels() -> None:
    kube = RecordingKube()
    docs = apply_into(kube, load_lab(str(DEMO)), "ns1", facts(), "run9", files=_files())  # type: ignore[arg-type]
    assert [dry for _, dry in kube.applied] == [True, True, False, False]  # starter, learner: dry-runs first
    starter, learner = (json.loads(kube.applied[i][0])["items"] for i in (0, 1))
    assert all(item["metadata"]["labels"]["servicelab.dev/run"] == "run9" for item in starter + learner)
    assert {item["kind"] for item in starter} == {"Deployment"}  # the lab's own, with the grader's rights
    assert kube.users == ["system:serviceaccount:ns1:servicelab-learner"]  # the learner's, as its account
    assert {d.ref for d in docs} >= {"Deployment/web", "Service/web", "Service/web-np", "Service/partner"}


def test_rejected_dry_run_is_bad_input_and_nothing_is_applied() -> None:
    kube = RecordingKube(reject='The Service "web-np" is invalid: spec.ports[0].nodePort: Invalid value: 80')
    with pytest.raises(BadInput) as info:
        apply_into(kube, load_lab(str(DEMO)), "ns1", facts(), "run9", files=_files())  # type: ignore[arg-type]
    assert all(dry for _, dry in kube.applied)
    assert "nodePort" in info.value.message
    assert info.value.file
    assert "services.yaml" in info.value.file


def test_cleanup_deletes_services_first_then_the_namespace() -> None:
    kube = RecordingKube()
    delete_namespace(kube, "ns1")  # type: ignore[arg-type]
    assert kube.deleted == [("services", "ns1/*"), ("namespace", "ns1")]


def test_missing_probe_image_is_env_error_naming_the_image() -> None:
    kube = RecordingKube(pod_waiting="ErrImagePull")
    pods = ProbePods(kube, "run9", image="busybox:missing", ready_timeout_s=5)  # type: ignore[arg-type]
    with pytest.raises(EnvError) as info:
        pods.start()
    assert "busybox:missing" in info.value.diagnosis
    assert "ErrImagePull" in info.value.diagnosis
    pod = warm_pod_name("busybox:missing")
    assert ("pod", pod) in kube.deleted  # a warm pod that cannot start is discarded, not reused
    assert pod != warm_pod_name("docker.io/library/busybox:1.36.1")  # the usual warm pod is left alone


@pytest.mark.parametrize(
    "message",
    [
        'Internal error occurred: failed calling webhook "ipaddresspoolvalidationwebhook.metallb.io": '
        "connection refused",
        "Error from server (ServiceUnavailable): the server is currently unable to handle the request",
        "etcdserver: request timed out",
        'Error from server (Forbidden): services "web-np" is forbidden: User '
        '"system:serviceaccount:ns1:servicelab-learner" cannot patch resource "services" in API group ""',
    ],
)
def test_an_api_error_the_environment_caused_is_env_error_not_bad_input(message: str) -> None:
    kube = RecordingKube(reject=f'Service "web-np": {message}')
    with pytest.raises(EnvError) as info:
        apply_into(kube, load_lab(str(DEMO)), "ns1", facts(), "run9", files=_files())  # type: ignore[arg-type]
    assert "not your mistake" in info.value.diagnosis


class LaggingAuthorizer(RecordingKube):
    """The learner's RoleBinding is stored, but the authorizer allows it only from the third review on."""

    def __init__(self, allowed_from: int) -> None:
        super().__init__()
        self.allowed_from = allowed_from

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        super().create(obj)
        if obj["kind"] != "SelfSubjectAccessReview":
            return obj
        reviews = [o for o in self.created if o["kind"] == "SelfSubjectAccessReview"]
        return {"status": {"allowed": len(reviews) >= self.allowed_from}}

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        if kind == "namespace":
            return None
        if kind == "resourcequota":
            return {"status": {"used": {}}}
        return super().get(kind, name, namespace)


def test_a_new_namespace_waits_until_the_learner_may_patch_the_labs_kinds() -> None:
    kube = LaggingAuthorizer(allowed_from=3)
    policy = LabPolicy(kinds=("Service", "ConfigMap"))
    assert ensure_namespace(kube, "ns1", "run9", must_be_new=True, policy=policy)  # type: ignore[arg-type]
    reviews = [o["spec"]["resourceAttributes"] for o in kube.created if o["kind"] == "SelfSubjectAccessReview"]
    assert reviews[-2:] == [
        {"namespace": "ns1", "verb": "patch", "group": "", "resource": "services"},
        {"namespace": "ns1", "verb": "patch", "group": "", "resource": "configmaps"},
    ]
    assert kube.users == ["system:serviceaccount:ns1:servicelab-learner"]


def test_rights_never_granted_are_env_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deploy, "RIGHTS_S", 0.3)
    with pytest.raises(EnvError, match="RoleBinding"):
        ensure_namespace(LaggingAuthorizer(allowed_from=10**9), "ns1", "run9", must_be_new=True)  # type: ignore[arg-type]
