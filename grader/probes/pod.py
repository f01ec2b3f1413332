"""In-cluster vantage points: busybox probe pods in grader-owned namespaces.

The pods live in namespaces the grader creates, so a learner's Service can never select them. One pair
(probe + other-namespace probe) serves a whole grading run, or a whole check-solutions batch.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from dataclasses import dataclass, field

from grader.base import images
from grader.base.errors import EnvError
from grader.base.names import PARTNER_HOST
from grader.base.wait import PROBE_POD_READY_S, Terminal, WaitTimeout, wait_for
from grader.kube.client import MANAGED_LABELS, Kube, KubeError, KubeUnreachable, Obj, managed_labels
from grader.probes.base import ProbePolicy, Vantage
from grader.probes.shell import Op, Outcome, build_script, new_nonce, parse_output

POD_NAME = "probe"
_IMAGE_STUCK = ("ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName", "ErrImagePull")
_FATAL_WAITING = ("CreateContainerConfigError", "CreateContainerError", "CrashLoopBackOff", "RunContainerError")


class PodVantage(Vantage):
    def __init__(
        self, name: str, kube: Kube, namespace: str, pod: str = POD_NAME, policy: ProbePolicy | None = None
    ) -> None:
        super().__init__(name, policy)
        self.kube = kube
        self.namespace = namespace
        self.pod = pod
        self.known_good = f"http://{PARTNER_HOST}/hostname"

    def _run_ops(self, ops: list[Op], per_try_s: float, timeout_s: float) -> list[Outcome]:
        nonce = new_nonce()
        script = build_script(ops, per_try_s, nonce)
        try:
            result = self.kube.exec(self.pod, self.namespace, ["sh", "-c", script], timeout=timeout_s)
        except KubeUnreachable as err:
            raise EnvError(f"{self.name}: {err}") from err
        outcomes = parse_output(result.stdout, len(ops), nonce)
        if outcomes is None or any(o.rc == -1 for o in outcomes):
            detail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise EnvError(
                f"{self.name}: exec into pod {self.namespace}/{self.pod} failed "
                f"(exit {result.code}): {' / '.join(detail) or 'no output'}"
            )
        return outcomes

    def bare_exec_true(self) -> float:
        """Seconds for one `kubectl exec ... -- true` (the benchmark's unit)."""
        start = time.monotonic()
        self.kube.exec(self.pod, self.namespace, ["true"], timeout=self.policy.exec_slack_s)
        return time.monotonic() - start


def pod_manifest(image: str, run_id: str) -> Obj:
    container_security = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "runAsUser": 65534,
        "runAsGroup": 65534,
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": POD_NAME, "labels": {**managed_labels(run_id), "app.kubernetes.io/name": "probe"}},
        "spec": {
            "terminationGracePeriodSeconds": 0,
            "automountServiceAccountToken": False,
            # PID 1 is then the pause container, which reaps: busybox `timeout` leaves one zombie per probe op,
            # which `sleep` never reaps, until the pod's memory (kernel memory) runs out and execs are killed
            "shareProcessNamespace": True,
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "probe",
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["sleep", "86400"],
                    "securityContext": container_security,
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
                    "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # the busybox image has no /tmp
                }
            ],
            "volumes": [{"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}}],
        },
    }


WARM_NAMESPACES = ("servicelab-probe", "servicelab-probe-b")
WARM_ROLE = "probe-warm"  # lives as long as the cluster: never swept, `servicelab down` takes it


WARM_REVISION = "2"  # part of the name: a warm pod made from an older manifest is never reused


def warm_pod_name(image: str) -> str:
    """One warm pod per probe image, so a run asking for another image never disturbs the usual one."""
    return f"{POD_NAME}-{hashlib.sha256(f'{image} r{WARM_REVISION}'.encode()).hexdigest()[:10]}"


@dataclass
class ProbePods:
    """The two warm probe pods (one per probe namespace): created on first use, reused by every run.

    They live in namespaces of their own, so no learner's Service can select them; concurrent runs exec
    into the same pods (each script carries its own nonce).
    """

    kube: Kube
    run_id: str
    image: str = images.BUSYBOX
    ready_timeout_s: float = PROBE_POD_READY_S
    policy: ProbePolicy = field(default_factory=ProbePolicy)
    created: list[str] = field(default_factory=list)  # namespaces where this run created the pod

    def start(self) -> tuple[PodVantage, PodVantage]:
        pod = warm_pod_name(self.image)
        try:
            for ns in WARM_NAMESPACES:
                self._ensure(ns, pod)
            for ns in WARM_NAMESPACES:
                self._wait_ready(ns, pod)
        except KubeUnreachable as err:
            raise EnvError(f"cluster unreachable while starting probe pods: {err}") from err
        except KubeError as err:
            raise EnvError(f"cannot create probe pods: {err}") from err
        return (
            PodVantage("probe pod", self.kube, WARM_NAMESPACES[0], pod=pod, policy=self.policy),
            PodVantage("other-namespace pod", self.kube, WARM_NAMESPACES[1], pod=pod, policy=self.policy),
        )

    def _ensure(self, ns: str, pod: str) -> None:
        if self.kube.get("namespace", ns) is None:
            _create_unless_there(
                self.kube,
                {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {
                        "name": ns,
                        "labels": {
                            **MANAGED_LABELS,
                            "servicelab.dev/role": WARM_ROLE,
                            "pod-security.kubernetes.io/enforce": "restricted",
                        },
                    },
                },
            )
        current = self.kube.get("pod", pod, ns)
        if current is not None and (
            current.get("metadata", {}).get("deletionTimestamp")
            or current.get("status", {}).get("phase") in ("Failed", "Succeeded")
        ):
            self.kube.delete("pod", pod, ns, wait=True)
            current = None
        if current is None:
            manifest = pod_manifest(self.image, self.run_id)
            manifest["metadata"].update(name=pod, namespace=ns)
            manifest["metadata"]["labels"] = {**MANAGED_LABELS, "app.kubernetes.io/name": "probe"}
            if _create_unless_there(self.kube, manifest):
                self.created.append(ns)

    def _wait_ready(self, ns: str, pod: str) -> None:
        def ready() -> tuple[bool | None, str]:
            current = self.kube.get("pod", pod, ns)
            if current is None:
                return None, "not created yet"
            ready, state, fatal = _pod_state(current)
            return (True if ready else None), (Terminal(state) if fatal else state)

        try:
            wait_for(
                ready, what=f"probe pod {ns}/{pod}", timeout_s=self.ready_timeout_s, interval_s=0.2, max_interval_s=2.0
            )
        except WaitTimeout as err:
            if not err.terminal:
                raise EnvError(
                    f"probe pod {ns}/{pod} not ready after {self.ready_timeout_s:.0f}s; last state: {err.last_state}"
                ) from err
            self._discard(pod)
            raise EnvError(
                f"probe pod {ns}/{pod} cannot start: {err.last_state}. Is the image {self.image} "
                "available to the cluster? (on kind: 'servicelab images' loads it)"
            ) from err

    def _discard(self, pod: str) -> None:
        """A warm pod that cannot start is no use to the next run either."""
        for ns in WARM_NAMESPACES:
            with contextlib.suppress(KubeError, KubeUnreachable):
                self.kube.delete("pod", pod, ns)

    def stop(self) -> None:
        """Nothing to do: warm pods outlive the run."""
        self.created.clear()


def _create_unless_there(kube: Kube, obj: Obj) -> bool:
    """Create obj; False when a concurrent run created it first."""
    try:
        kube.create(obj)
    except KubeError as err:
        if err.reason == "AlreadyExists":
            return False
        raise
    return True


def _pod_state(pod: Obj) -> tuple[bool, str, bool]:
    status = pod.get("status", {})
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions", []))
    for cs in status.get("containerStatuses", []):
        waiting = cs.get("state", {}).get("waiting")
        if waiting:
            reason = waiting.get("reason", "")
            text = f"{reason}: {waiting.get('message', '')}".strip(": ")
            return False, text, reason in _IMAGE_STUCK or reason in _FATAL_WAITING
    phase = status.get("phase", "Pending")
    unsched = [
        c.get("message", "")
        for c in status.get("conditions", [])
        if c.get("type") == "PodScheduled" and c.get("status") == "False"
    ]
    return ready, f"phase {phase}" + (f", unschedulable: {unsched[0]}" if unsched else ""), False
