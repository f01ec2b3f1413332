"""Applying manifests: dry-run of everything first (nothing half-applied), labels, cleanup; probe pod start-up."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest
from _grader_fakes import facts

from grader.base import interrupt
from grader.base.errors import BadInput, EnvError
from grader.catalogue.labs import load_lab
from grader.grading import deploy
from grader.grading.deploy import ClaimTaken, apply_into, delete_namespace, ensure_namespace
from grader.grading.submission import judge_submission
from grader.intake.labpolicy import LabPolicy
from grader.intake.manifests import Doc, manifest_files
from grader.kube.client import KubeError, StatusDetails
from grader.probes.pod import ProbePods, warm_pod_name

DEMO = Path(__file__).parents[2] / "data" / "labs" / "demo"


class RecordingKube:
    context = "fake"

    def __init__(
        self,
        reject: KubeError | None = None,
        pod_waiting: str | None = None,
        *,
        allowed: bool | KubeError = True,
        quota_used: tuple[str, ...] = ("pods", "services"),
        services: tuple[dict[str, Any], ...] = (),
    ) -> None:
        self.reject = reject  # raised by the dry-run of the manifest holding the object it names (refused)
        self.pod_waiting = pod_waiting
        self.allowed = allowed  # what a SelfSubjectAccessReview answers, or the error its create raises
        self.quota_used = quota_used  # what the fence's quota has counted of its hard pods and services
        self.services = services  # every Service on the cluster
        self.applied: list[tuple[str, bool]] = []
        self.deleted: list[tuple[str, str]] = []
        self.grace: dict[str, int | None] = {}
        self.created: list[dict[str, Any]] = []
        self.users: list[str] = []

    def as_user(self, user: str) -> RecordingKube:
        self.users.append(user)
        return self

    def apply(self, manifest: str, namespace: str | None = None, *, dry_run: bool = False) -> list[dict[str, Any]]:
        self.applied.append((manifest, dry_run))
        items = json.loads(manifest)["items"]
        if self.reject and dry_run and any((i["kind"], i["metadata"]["name"]) == self.reject.refused for i in items):
            raise self.reject
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
        if kind == "resourcequota" and name == "servicelab":
            return {"status": {"hard": {"pods": "24", "services": "12"}, "used": dict.fromkeys(self.quota_used, "0")}}
        return None

    def list(self, kind: str, namespace: str | None = None, **_: Any) -> list[dict[str, Any]]:
        return list(self.services) if kind == "services" else []

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.created.append(obj)
        if obj["kind"] == "SelfSubjectAccessReview":
            if isinstance(self.allowed, KubeError):
                raise self.allowed
            return {"status": {"allowed": self.allowed}}
        return obj

    def delete(self, kind: str, name: str, namespace: str | None = None, *, wait: bool = False) -> None:
        self.deleted.append((kind, name))

    def delete_all(self, kind: str, namespace: str, *, grace_period_s: int | None = None, **_: Any) -> None:
        self.deleted.append((kind, f"{namespace}/*"))
        self.grace[kind] = grace_period_s


def refusal(
    status: int, reason: str, message: str, details: StatusDetails | None = None, refused: str = "web-np"
) -> KubeError:
    """A KubeError as Kube.apply raises it: the API's Status, and the object it was sending."""
    err = KubeError(f"Error from server ({reason}): {message}", status=status, reason=reason, details=details)
    err.refused = ("Service", refused)
    return err


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


NODEPORT_RANGE = (
    'Service "web-np" is invalid: spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range'
)


def test_rejected_dry_run_is_bad_input_and_nothing_is_applied() -> None:
    kube = RecordingKube(reject=refusal(422, "Invalid", NODEPORT_RANGE))
    with pytest.raises(BadInput) as info:
        apply_into(kube, load_lab(str(DEMO)), "ns1", facts(), "run9", files=_files())  # type: ignore[arg-type]
    assert all(dry for _, dry in kube.applied)
    assert "nodePort" in info.value.message
    assert info.value.file == f"{DEMO / 'solution' / 'services.yaml'}:11"  # the refused object's own document
    assert not isinstance(info.value, ClaimTaken)  # it asks for no nodePort: no other Service can hold it


def _with_node_port(port: int) -> list[Doc]:
    docs = judge_submission(load_lab(str(DEMO)), _files(), None)
    web_np = next(d for d in docs if d.name == "web-np")
    web_np.obj["spec"]["ports"][0]["nodePort"] = port
    return docs


def _service(namespace: str, name: str, node_port: int, cluster_ip: str = "10.96.0.20") -> dict[str, Any]:
    return {
        "metadata": {"namespace": namespace, "name": name},
        "spec": {"clusterIP": cluster_ip, "clusterIPs": [cluster_ip], "ports": [{"port": 80, "nodePort": node_port}]},
    }


ALLOCATED = (
    'Service "web-np" is invalid: spec.ports[0].nodePort: Invalid value: 30007: provided port is already allocated'
)


def test_a_node_port_another_service_holds_is_claim_taken_naming_the_holder() -> None:
    held = (_service("ns1", "web-np", 30007), _service("ns1", "web", 30100), _service("other-7f", "web", 30007))
    kube = RecordingKube(reject=refusal(422, "Invalid", ALLOCATED), services=held)
    with pytest.raises(ClaimTaken) as info:
        apply_into(kube, load_lab(str(DEMO)), "ns1", facts(), "run9", docs=_with_node_port(30007))  # type: ignore[arg-type]
    assert "Service other-7f/web holds it now" in (info.value.fix or "")  # not web-np itself, as stored in ns1
    assert "already allocated" in info.value.message


def test_a_refusal_whose_value_no_other_service_holds_is_bad_input_whatever_its_words() -> None:
    kube = RecordingKube(reject=refusal(422, "Invalid", ALLOCATED), services=(_service("other-7f", "web", 30100),))
    with pytest.raises(BadInput) as info:
        apply_into(kube, load_lab(str(DEMO)), "ns1", facts(), "run9", docs=_with_node_port(30007))  # type: ignore[arg-type]
    assert not isinstance(info.value, ClaimTaken)
    internal = refusal(422, "Invalid", 'Service "web-np" is invalid: metadata.name: "internal error" is no name')
    with pytest.raises(BadInput):  # words of an environment problem in a 422: still the manifests'
        apply_into(RecordingKube(reject=internal), load_lab(str(DEMO)), "ns1", facts(), "run9", files=_files())  # type: ignore[arg-type]


def test_cleanup_deletes_services_first_then_the_namespace() -> None:
    kube = RecordingKube()
    delete_namespace(kube, "ns1")  # type: ignore[arg-type]
    assert kube.deleted == [("services", "ns1/*"), ("namespace", "ns1"), ("pods", "ns1/*")]
    assert kube.grace["pods"] == 0  # the learner's pods stop now, whatever their grace period or SIGTERM handling


def test_missing_probe_image_is_env_error_naming_the_image() -> None:
    kube = RecordingKube(pod_waiting="ErrImagePull")
    pods = ProbePods(kube, "run9", image="busybox:missing", ready_timeout_s=5)  # type: ignore[arg-type]
    with pytest.raises(EnvError) as info:
        pods.start()
    assert "busybox:missing" in info.value.diagnosis
    assert "ErrImagePull" in info.value.diagnosis
    pod = warm_pod_name("busybox:missing")
    assert ("pod", pod) in kube.deleted  # a warm pod that cannot start is discarded, not reused
    assert pod != warm_pod_name("docker.io/library/busybox:1.37.0")  # the usual warm pod is left alone


class RacingKube(RecordingKube):
    """Another run makes each warm namespace and pod between this run's look and its create."""

    def __init__(self, refusal: KubeError) -> None:
        super().__init__()
        self.refusal = refusal
        self.looked: set[tuple[str, str, str | None]] = set()

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        if (kind, name, namespace) not in self.looked:
            self.looked.add((kind, name, namespace))
            return None
        return super().get(kind, name, namespace)

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        super().create(obj)
        raise self.refusal


def test_a_warm_pod_another_run_created_first_is_used_by_reason_not_by_text() -> None:
    taken = KubeError('Error from server (AlreadyExists): pods "p" exists', status=409, reason="AlreadyExists")
    kube = RacingKube(taken)
    pods = ProbePods(kube, "run9", ready_timeout_s=5)  # type: ignore[arg-type]
    pods.start()
    assert [o["kind"] for o in kube.created] == ["Namespace", "Pod", "Namespace", "Pod"]
    assert pods.created == []  # the other run made them: not this run's
    refused = KubeError('Error from server (Forbidden): the pod "p" already exists in a terminating namespace')
    with pytest.raises(EnvError, match="cannot create probe pods"):  # its words say "already exists": no matter
        ProbePods(RacingKube(refused), "run9", ready_timeout_s=5).start()  # type: ignore[arg-type]


LEARNER_DENIED = (
    'services "web-np" is forbidden: User "system:serviceaccount:ns1:servicelab-learner" cannot patch resource '
    '"services" in API group "" in the namespace "ns1"'
)
SERVICES = StatusDetails(name="web-np", kind="services")


@pytest.mark.parametrize(
    ("err", "kube_says"),
    [
        (
            refusal(
                500,
                "InternalError",
                'Internal error occurred: failed calling webhook "ipaddresspoolvalidationwebhook.metallb.io": '
                "connection refused",
            ),
            {},
        ),
        (refusal(503, "ServiceUnavailable", "the server is currently unable to handle the request"), {}),
        (refusal(500, "", "etcdserver: request timed out"), {}),  # a Status without a reason
        (refusal(504, "Timeout", "Timeout: request did not complete within requested timeout"), {}),
        (refusal(429, "TooManyRequests", "Too many requests, please try again later."), {}),
        (refusal(403, "Forbidden", LEARNER_DENIED, SERVICES), {"allowed": False}),  # the authorizer lags
        (  # the grader may not impersonate the learner account: it may not even ask as that user
            refusal(
                403, "Forbidden", "impersonation refused", StatusDetails("servicelab-learner", "", "serviceaccounts")
            ),
            {"allowed": KubeError("Error from server (Forbidden): ...", status=403, reason="Forbidden")},
        ),
        (  # the quota has not counted services yet
            refusal(403, "Forbidden", 'services "web-np" is forbidden: status unknown for quota', SERVICES),
            {"quota_used": ("pods",)},
        ),
    ],
)
def test_an_api_error_the_environment_caused_is_env_error_not_bad_input(
    err: KubeError, kube_says: dict[str, Any]
) -> None:
    kube = RecordingKube(reject=err, **kube_says)
    with pytest.raises(EnvError) as info:
        apply_into(kube, load_lab(str(DEMO)), "ns1", facts(), "run9", files=_files())  # type: ignore[arg-type]
    assert "not your mistake" in info.value.diagnosis


def test_a_forbidden_the_learner_may_write_with_a_counted_quota_is_the_manifests() -> None:
    exceeded = 'services "web-np" is forbidden: exceeded quota: servicelab, requested: services.nodeports=1'
    kube = RecordingKube(reject=refusal(403, "Forbidden", exceeded, SERVICES))
    with pytest.raises(BadInput, match="exceeded quota"):
        apply_into(kube, load_lab(str(DEMO)), "ns1", facts(), "run9", files=_files())  # type: ignore[arg-type]
    reviews = [o["spec"]["resourceAttributes"] for o in kube.created if o["kind"] == "SelfSubjectAccessReview"]
    assert reviews == [  # asked as the learner, for the resource the refusal names
        {"namespace": "ns1", "group": "", "resource": "services", "name": "web-np", "verb": verb}
        for verb in ("patch", "create")
    ]
    assert kube.users == ["system:serviceaccount:ns1:servicelab-learner"]


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
    assert ensure_namespace(kube, "ns1", "run9", must_be_new=True, facts=facts(), policy=policy)  # type: ignore[arg-type]
    reviews = [o["spec"]["resourceAttributes"] for o in kube.created if o["kind"] == "SelfSubjectAccessReview"]
    assert reviews[-2:] == [
        {"namespace": "ns1", "verb": "patch", "group": "", "resource": "services"},
        {"namespace": "ns1", "verb": "patch", "group": "", "resource": "configmaps"},
    ]
    assert kube.users == ["system:serviceaccount:ns1:servicelab-learner"]


def test_rights_never_granted_are_env_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deploy, "RIGHTS_S", 0.3)
    with pytest.raises(EnvError, match="RoleBinding"):
        ensure_namespace(LaggingAuthorizer(allowed_from=10**9), "ns1", "run9", must_be_new=True, facts=facts())  # type: ignore[arg-type]


class SignalledDuringCreate(LaggingAuthorizer):
    """SIGTERM arrives while the API server is making the namespace (the POST sent, its answer not yet read)."""

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        if obj["kind"] == "Namespace":
            signal.raise_signal(signal.SIGTERM)
        return super().create(obj)


def test_a_signal_during_the_namespace_create_is_raised_once_the_create_has_answered() -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    interrupt.install()
    kube = SignalledDuringCreate(allowed_from=1)
    try:
        with pytest.raises(interrupt.Interrupted):
            ensure_namespace(kube, "ns1", "run9", must_be_new=True, facts=facts())  # type: ignore[arg-type]
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
    # the run knows it made ns1 (its finally deletes it); nothing was applied into it after the signal
    assert [o["metadata"]["name"] for o in kube.created if o["kind"] == "Namespace"] == ["ns1"]
    assert kube.applied == []
