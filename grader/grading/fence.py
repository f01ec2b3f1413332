"""The fence around a grading namespace: what a learner's objects can do once they are in the cluster.

The static policy (grader.intake.policy) refuses what it can see; this is the second line, enforced by the API
server: Pod Security `baseline`, a ResourceQuota and LimitRange sized for a lab, and a ServiceAccount
whose Role reaches only this namespace and only the kinds the lab's answer is made of. The learner's
objects are applied as that ServiceAccount (impersonated); the grader's own reads keep its credentials.
"""

from __future__ import annotations

from grader.intake.labpolicy import LabPolicy
from grader.kube.client import Obj, managed_labels, owner_annotation

LEARNER_ACCOUNT = "servicelab-learner"
QUOTA_NAME = "servicelab"
POD_SECURITY = {"pod-security.kubernetes.io/enforce": "baseline", "pod-security.kubernetes.io/warn": "baseline"}
# kind -> (API group, resource) for the Role
RESOURCES = {
    "Service": ("", "services"),
    "ConfigMap": ("", "configmaps"),
    "Pod": ("", "pods"),
    "Deployment": ("apps", "deployments"),
    "Ingress": ("networking.k8s.io", "ingresses"),
    "HTTPRoute": ("gateway.networking.k8s.io", "httproutes"),
}
QUOTA = {
    "pods": "24",
    "services": "12",
    "services.loadbalancers": "4",
    "services.nodeports": "8",
    "configmaps": "12",
    "count/deployments.apps": "8",
    "count/ingresses.networking.k8s.io": "6",
}  # counts only: a CPU/memory quota refuses pods created before the LimitRange reaches admission's cache
CONTAINER_DEFAULTS = {
    "default": {"cpu": "200m", "memory": "128Mi"},
    "defaultRequest": {"cpu": "10m", "memory": "32Mi"},
    "max": {"cpu": "1", "memory": "512Mi"},
}


def learner_user(namespace: str) -> str:
    return f"system:serviceaccount:{namespace}:{LEARNER_ACCOUNT}"


def namespace_object(name: str, run_id: str, role: str) -> Obj:
    labels = {**managed_labels(run_id), "servicelab.dev/role": role, **POD_SECURITY}
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": labels, "annotations": owner_annotation()},
    }


def fence(namespace: str, run_id: str, policy: LabPolicy) -> list[Obj]:
    """Quota, limits, the learner's ServiceAccount and its namespace-only Role, labelled as the grader's."""
    meta = {"namespace": namespace, "labels": managed_labels(run_id)}
    rules = [
        {
            "apiGroups": [RESOURCES[k][0]],
            "resources": [RESOURCES[k][1]],
            "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
        }
        for k in policy.kinds
        if k in RESOURCES
    ]
    return [
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": QUOTA_NAME, **meta},
            "spec": {"hard": QUOTA},
        },
        {
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": {"name": "servicelab", **meta},
            "spec": {"limits": [{"type": "Container", **CONTAINER_DEFAULTS}]},
        },
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": LEARNER_ACCOUNT, **meta},
            "automountServiceAccountToken": False,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": LEARNER_ACCOUNT, **meta},
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": LEARNER_ACCOUNT, **meta},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": LEARNER_ACCOUNT},
            "subjects": [{"kind": "ServiceAccount", "name": LEARNER_ACCOUNT, "namespace": namespace}],
        },
    ]
