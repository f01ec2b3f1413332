"""The fence around a grading namespace: what a learner's objects can do once they are in the cluster.

The static policy (grader.intake.policy) refuses what it can see; this is the second line, enforced by the API
server: Pod Security `baseline`, a ResourceQuota and LimitRange sized for a lab, and a ServiceAccount
whose Role reaches only this namespace and only the kinds the lab's answer is made of. The learner's
objects are applied as that ServiceAccount (impersonated); the grader's own reads keep its credentials.
The namespace's role label also puts every pod in it under the cluster-wide pod guard (grader.cluster.podguard,
installed by `servicelab up`).
"""

from __future__ import annotations

from grader.cluster import podguard
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
    "Secret": ("", "secrets"),  # a starter's (the gateway lab's certificate), in a classroom's student namespace
    "Deployment": ("apps", "deployments"),
    "Ingress": ("networking.k8s.io", "ingresses"),
    "HTTPRoute": ("gateway.networking.k8s.io", "httproutes"),
    "Gateway": ("gateway.networking.k8s.io", "gateways"),
}
QUOTA = {
    "pods": "24",
    "services": "12",
    "services.loadbalancers": "4",
    "services.nodeports": "8",
    "configmaps": "12",
    "count/deployments.apps": "8",
    "count/ingresses.networking.k8s.io": "6",
    # each Gateway is a proxy (AKS) or a set of routers on the shared Traefik (kind)
    "count/gateways.gateway.networking.k8s.io": "2",
    "count/httproutes.gateway.networking.k8s.io": "6",
    # node disk is shared by every namespace: 24 one-container pods at the default limit (256Mi) fit in 6Gi
    "requests.ephemeral-storage": "2Gi",
    "limits.ephemeral-storage": "8Gi",
}
# CPU and memory stay per container and per pod (LIMITS), bounded per namespace by the pod count. A quota on a
# resource refuses a pod that does not name it; LimitRanger names ephemeral-storage for every container from
# LIMITS, and reads a new namespace's LimitRanges from the API when its cache has none, so a pod made after the
# fence always carries it.
CONTAINER_DEFAULTS = {
    "default": podguard.CONTAINER_DEFAULT_LIMITS,
    "defaultRequest": podguard.CONTAINER_DEFAULT_REQUESTS,
    "max": podguard.CONTAINER_MAX,
}
LIMITS = [
    {"type": "Container", **CONTAINER_DEFAULTS},
    {"type": "Pod", "max": podguard.POD_MAX},  # the containers' sum: the per-container maximum times any count
]


def learner_user(namespace: str) -> str:
    return f"system:serviceaccount:{namespace}:{LEARNER_ACCOUNT}"


def namespace_object(name: str, run_id: str, role: str) -> Obj:
    labels = {**managed_labels(run_id), podguard.ROLE_KEY: role, **POD_SECURITY}
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
            # The cluster's count of LoadBalancers backs the static rule (grader.intake.policy) with the lab's own.
            "spec": {"hard": {**QUOTA, "services.loadbalancers": str(policy.services.load_balancers)}},
        },
        {
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": {"name": "servicelab", **meta},
            "spec": {"limits": LIMITS},
        },
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": LEARNER_ACCOUNT, **meta},
            "automountServiceAccountToken": False,
        },
        *role_for_account(LEARNER_ACCOUNT, rules, LEARNER_ACCOUNT, meta),
    ]


def role_for_account(name: str, rules: list[Obj], account: str, meta: Obj) -> list[Obj]:
    """A Role `name` with rules and its RoleBinding to ServiceAccount `account`, both in meta's namespace."""
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": name, **meta},
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": name, **meta},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": meta["namespace"]}],
        },
    ]
