"""The cluster's guard on pods in grading namespaces, and the limits it shares with the static judge.

grader.intake.podpolicy refuses a learner's pod or pod template before any cluster contact; the API server
enforces the same rules with a ValidatingAdmissionPolicy (fixtures/pods/guard.yaml) on every pod created in a
namespace whose role label is one of GUARDED_ROLES, so a pod the judge never saw (one a ReplicaSet makes from
a template, one made by hand) meets them too. The numbers both hold to are here, below both of them; the
namespace fence (grader.grading.fence) sizes its LimitRange from them.

`servicelab up` applies the policy and proves it as a learner would meet it: server-side dry-runs, in a
namespace of its own that the binding selects, of an ordinary pod (admitted) and of one pod per rule (each
refused). The API server's type check of every expression must have found nothing.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from grader.base import images
from grader.base.errors import EnvError
from grader.base.wait import wait_for
from grader.cluster.sources import fixture
from grader.kube.client import Kube, KubeError, KubeUnreachable, Obj, managed_labels

POLICY = "servicelab-learner-pods"
FIXTURE = "pods/guard.yaml"
ROLE_KEY = "servicelab.dev/role"  # the namespace label the binding selects on
CHECK_ROLE = "policy-check"
GUARDED_ROLES = ("grading", "workspace", CHECK_ROLE)  # grader.grading.deploy: GRADING, WORKSPACE
CHECK_NAMESPACE = "servicelab-policy-check"  # lives as long as the cluster, like the probe namespaces

MAX_CONTAINERS = 3
MAX_INIT_CONTAINERS = 2
MAX_GRACE_S = 30  # the API's default: a pod that ignores SIGTERM is killed after at most this, and so is its namespace
RESOURCES = ("cpu", "memory", "ephemeral-storage")
# LimitRange values (grader.grading.fence); the static judge fills absent limits with the defaults to sum a pod
CONTAINER_DEFAULT_LIMITS = {"cpu": "200m", "memory": "128Mi", "ephemeral-storage": "256Mi"}
CONTAINER_DEFAULT_REQUESTS = {"cpu": "10m", "memory": "32Mi", "ephemeral-storage": "16Mi"}
CONTAINER_MAX = {"cpu": "1", "memory": "512Mi", "ephemeral-storage": "1Gi"}
POD_MAX = {"cpu": "2", "memory": "1Gi", "ephemeral-storage": "2Gi"}
# the tolerations the DefaultTolerationSeconds admission plugin gives every pod: the only ones a pod may carry
DEFAULT_TOLERATIONS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
SECURITY_PROFILE = "RuntimeDefault"  # seccomp and AppArmor: the runtime's own; never Unconfined, nor a node's file

GUARD_S = 60.0


def policy_manifest(
    name: str = POLICY,
    roles: tuple[str, ...] = GUARDED_ROLES,
    pod_images: tuple[str, ...] = images.LAB_IMAGES,
    service_accounts: tuple[str, ...] = ("default",),
) -> str:
    """fixtures/pods/guard.yaml with its limits filled in from the constants above. The defaults make the guard
    of grading namespaces; a classroom makes the same rules under another name for its student namespaces, where
    the student's server runs another image as another ServiceAccount (grader.classroom.manifests)."""
    return fixture(
        FIXTURE,
        POLICY=name,
        ROLE_KEY=ROLE_KEY,
        ROLES=json.dumps(list(roles)),
        SERVICE_ACCOUNTS=json.dumps(list(service_accounts)),
        LAB_IMAGES=json.dumps(list(pod_images)),
        MAX_CONTAINERS=str(MAX_CONTAINERS),
        MAX_INIT_CONTAINERS=str(MAX_INIT_CONTAINERS),
        MAX_GRACE_S=str(MAX_GRACE_S),
        RESOURCES=json.dumps(list(RESOURCES)),
        DEFAULT_TOLERATIONS=json.dumps(list(DEFAULT_TOLERATIONS)),
        SECURITY_PROFILE=SECURITY_PROFILE,
    )


def ordinary_pod(name: str = "servicelab-guard-ordinary") -> Obj:
    """A pod like the labs' own: admitted in a guarded namespace."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": managed_labels()},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "automountServiceAccountToken": False,
            "containers": [
                {
                    "name": "app",
                    "image": images.BUSYBOX,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["sleep", "3600"],
                    "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 2},
                }
            ],
        },
    }


def _pod(rule: str, *, spec: Obj | None = None, container: Obj | None = None, meta: Obj | None = None) -> Obj:
    pod = ordinary_pod(f"servicelab-guard-{rule}")
    pod["spec"].update(copy.deepcopy(spec or {}))
    pod["spec"]["containers"][0].update(copy.deepcopy(container or {}))
    pod["metadata"].update(copy.deepcopy(meta or {}))
    return pod


def _containers(count: int) -> list[Obj]:
    return [{"name": f"c{i}", "image": images.BUSYBOX, "command": ["sleep", "3600"]} for i in range(count)]


_SLEEP = ["sleep", "1"]
# rule -> a pod the policy refuses for that rule alone; the API's own validation and the mutating admission
# plugins pass each of them, so a refusal `up` sees is the policy's (LIVE)
SAMPLES: dict[str, Obj] = {
    "priority": _pod("priority", spec={"priorityClassName": "system-node-critical"}),
    "node-name": _pod("node-name", spec={"nodeName": "servicelab-control-plane"}),
    "tolerations": _pod(
        "tolerations",
        spec={"tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}]},
    ),
    "node-selection": _pod("node-selection", spec={"nodeSelector": {"node-role.kubernetes.io/control-plane": ""}}),
    "affinity": _pod(
        "affinity",
        spec={
            "affinity": {
                "podAntiAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": [
                        {"labelSelector": {}, "namespaceSelector": {}, "topologyKey": "kubernetes.io/hostname"}
                    ]
                }
            }
        },
    ),
    "scheduling": _pod("scheduling", spec={"schedulingGates": [{"name": "example.com/hold"}]}),
    "spread": _pod(
        "spread",
        spec={
            "topologySpreadConstraints": [
                {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule"}
            ]
        },
    ),
    "scheduler": _pod("scheduler", spec={"schedulerName": "other-scheduler"}),
    "runtime-class": _pod("runtime-class", spec={"runtimeClassName": "runc"}),
    "service-account": _pod("service-account", spec={"serviceAccountName": "kube-proxy"}),
    "containers": _pod("containers", spec={"containers": _containers(MAX_CONTAINERS + 1)}),
    "init-containers": _pod("init-containers", spec={"initContainers": _containers(MAX_INIT_CONTAINERS + 1)}),
    "ephemeral-containers": _pod(
        "ephemeral-containers", spec={"ephemeralContainers": [{"name": "debug", "image": images.BUSYBOX}]}
    ),
    "grace": _pod("grace", spec={"terminationGracePeriodSeconds": 3600}),
    "probe-grace": _pod(
        "probe-grace",
        container={"livenessProbe": {"exec": {"command": _SLEEP}, "terminationGracePeriodSeconds": 3600}},
    ),
    "finalizers": _pod("finalizers", meta={"finalizers": ["example.com/keep"]}),
    "host-namespaces": _pod("host-namespaces", spec={"hostNetwork": True}),
    "host-port": _pod("host-port", container={"ports": [{"containerPort": 8080, "hostPort": 8080}]}),
    "volumes": _pod("volumes", spec={"volumes": [{"name": "root", "hostPath": {"path": "/"}}]}),
    "pod-security": _pod("pod-security", spec={"securityContext": {"seccompProfile": {"type": "Unconfined"}}}),
    "sysctls": _pod("sysctls", spec={"securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "65536"}]}}),
    "privileged": _pod("privileged", container={"securityContext": {"privileged": True}}),
    "capabilities": _pod("capabilities", container={"securityContext": {"capabilities": {"add": ["NET_ADMIN"]}}}),
    "escalation": _pod("escalation", container={"securityContext": {"allowPrivilegeEscalation": True}}),
    "proc-mount": _pod(
        "proc-mount", spec={"hostUsers": False}, container={"securityContext": {"procMount": "Unmasked"}}
    ),
    "profiles": _pod("profiles", container={"securityContext": {"appArmorProfile": {"type": "Unconfined"}}}),
    "selinux": _pod("selinux", container={"securityContext": {"seLinuxOptions": {"type": "spc_t"}}}),
    "handler-host": _pod(
        "handler-host",
        container={"readinessProbe": {"httpGet": {"host": "10.96.0.1", "path": "/", "port": 443}}},
    ),
    "lifecycle-host": _pod(
        "lifecycle-host",
        container={"lifecycle": {"preStop": {"httpGet": {"host": "10.96.0.1", "path": "/", "port": 443}}}},
    ),
    "resources": _pod("resources", container={"resources": {"limits": {"example.com/dongle": "1"}}}),
    "pod-resources": _pod("pod-resources", spec={"resources": {"limits": {"cpu": "64"}}}),
    "mounts": _pod(
        "mounts",
        spec={"volumes": [{"name": "scratch", "emptyDir": {}}]},
        container={"volumeMounts": [{"name": "scratch", "mountPath": "/s", "mountPropagation": "HostToContainer"}]},
    ),
    "image": _pod("image", container={"image": "docker.io/library/nginx:latest"}),
    "annotations": _pod(
        "annotations", meta={"annotations": {"container.apparmor.security.beta.kubernetes.io/app": "unconfined"}}
    ),
}
# Left out of the live proof: the API server's own checks come first there (a missing RuntimeClass or
# ServiceAccount, ephemeral containers at creation, user namespaces, pod-level resources behind a gate).
LIVE = tuple(
    r
    for r in SAMPLES
    if r not in {"runtime-class", "service-account", "ephemeral-containers", "proc-mount", "pod-resources"}
)
CANARY = "image"  # no other admission step refuses a foreign image in a dry-run


def install(kube: Kube) -> str:
    """Apply the policy and its binding; EnvError unless an ordinary pod passes and every LIVE sample is refused."""
    try:
        kube.apply(policy_manifest())
        _ensure_check_namespace(kube)
        wait_for(lambda: active(kube), what=f"ValidatingAdmissionPolicy {POLICY} active", timeout_s=GUARD_S)
        let_through = [rule for rule in LIVE if rule != CANARY and not _refused(kube, SAMPLES[rule])]
    except KubeUnreachable as err:
        raise EnvError(err.diagnosis) from err
    if let_through:
        raise EnvError(f"{POLICY} lets through pods that break: {', '.join(let_through)} (see {FIXTURE})")
    return f"{len(LIVE)} rules refused by a server-side dry-run in {CHECK_NAMESPACE}"


def active(kube: Kube) -> tuple[bool | None, str]:
    """True once the API server has type-checked the policy without a warning, an ordinary pod passes and the
    canary is refused; EnvError at once for a type-check warning (a broken expression refuses every pod)."""
    policy = kube.get("validatingadmissionpolicy", POLICY)
    if policy is None:
        return None, "policy not stored"
    status = policy.get("status") or {}
    if status.get("observedGeneration") != policy["metadata"].get("generation"):
        return None, "the API server has not type-checked this generation yet"
    warnings = (status.get("typeChecking") or {}).get("expressionWarnings") or []
    if warnings:
        shown = "; ".join(f"{w.get('fieldRef')}: {w.get('warning')}" for w in warnings)
        raise EnvError(f"{POLICY}: the API server's type check warns: {shown}")
    try:
        kube.apply(json.dumps(ordinary_pod()), CHECK_NAMESPACE, dry_run=True)
    except KubeError as err:  # e.g. the namespace's default ServiceAccount is not made yet
        return None, f"an ordinary pod is refused: {str(err)[:200]}"
    if not _refused(kube, SAMPLES[CANARY]):
        return None, f"the {CANARY} sample is still admitted"
    return True, "active"


def examine(kube: Kube) -> tuple[bool, str]:
    """For `servicelab doctor`: whether the guard is in force as `up` left it."""
    if kube.get("namespace", CHECK_NAMESPACE) is None:
        return False, f"namespace {CHECK_NAMESPACE} is missing"
    try:
        ok, state = active(kube)
    except EnvError as err:
        return False, str(err)
    if not ok:
        return False, state
    return True, f"in {CHECK_NAMESPACE} a dry-run ordinary pod is admitted and the {CANARY} sample refused"


def _refused(kube: Kube, pod: Obj) -> bool:
    """Whether the policy refuses this pod: Forbidden (its reason) in a namespace where nothing else forbids."""
    try:
        kube.apply(json.dumps(pod), CHECK_NAMESPACE, dry_run=True)
    except KubeError as err:
        if err.status == 403 and err.reason == "Forbidden":
            return True
        raise
    return False


def _ensure_check_namespace(kube: Kube) -> None:
    if kube.get("namespace", CHECK_NAMESPACE) is None:
        labels: dict[str, Any] = {**managed_labels(), ROLE_KEY: CHECK_ROLE}
        kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": CHECK_NAMESPACE, "labels": labels}})
