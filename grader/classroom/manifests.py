"""The objects of a classroom (`servicelab classroom up`), as pure functions of the values: no cluster contact.

- Namespace servicelab-classroom: the hub (one Deployment: JupyterHub, which runs configurable-http-proxy as its
  child process), its config (a ConfigMap we write), its passwords and API token (a Secret), its sqlite state
  (a PVC, or an emptyDir when the values say so), Service `hub` (the hub's API, for the students' servers) and
  Service `proxy-public` (what the class opens: NodePort on kind, LoadBalancer elsewhere). Pod Security
  `restricted`, and walls of its own: in, the proxy from anywhere and the hub's API from student servers; out,
  DNS, the API server and the student servers.
- One namespace per student, made here before any pod (so the walls stand before the server starts) and named
  as KubeSpawner's user_namespace_template names it: the fence and walls of a grading namespace
  (grader.grading.fence, grader.grading.walls) for the labs of the class, plus what the student's server needs:
  the hub's proxy may reach it, it may reach the hub's API and the Kubernetes API. The server runs as the fence's
  ServiceAccount, whose Role reaches that namespace only.
- Cluster-wide, all named servicelab-classroom-*: the pod guard's rules for student namespaces (the lab images
  and the server's image), the node-port wall (each student's Services keep off the node ports the classroom
  gave the others: grader.classroom.assignment), the host wall (each student's Ingresses, HTTPRoutes, GRPCRoutes and
  Gateways name the student's own HTTP host only), the static-IP wall (each student's Services ask for their own
  addresses only), and the hub's rights: list and watch pods and events everywhere (KubeSpawner's one reflector
  over user namespaces needs it), create and delete pods only where a student RoleBinding grants it.
- On kind, in metallb-system: the class's two pools of the students' static IPs and their L2Advertisement.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from grader.base import images
from grader.classroom import hubservice
from grader.classroom.assignment import INTERNAL_STATIC_IP, NODE_PORT, SHOP_HOST, STATIC_IP, port_owners
from grader.cluster import metallb, podguard
from grader.cluster.facts import ClusterFacts
from grader.grading import fence, walls
from grader.intake.labpolicy import LabPolicy, ServiceRules
from grader.kube.api import kubeconfig_text
from grader.kube.client import Obj, managed_labels, owner_annotation, parse_manifest
from grader.parallel.claims import STATIC_IP_ANNOTATIONS

HUB_NAMESPACE = "servicelab-classroom"
PREFIX = "servicelab-classroom-"  # every cluster-scoped object of a classroom
CLASSROOM_KEY = "servicelab.dev/classroom"  # on every object of a classroom: what `down` deletes
RUN_ID = "classroom"
HUB_ROLE, STUDENT_ROLE = "classroom-hub", "classroom-student"  # the namespaces' podguard.ROLE_KEY
HUB_ACCOUNT = "hub"
HUB_SERVICE, PROXY_SERVICE = "hub", "proxy-public"
SECRET, CONFIG_MAP, STATE_CLAIM = "hub-secret", "hub-config", "hub-state"
DEPLOYMENT = "hub"
HUB_PORT, PROXY_PORT, SERVER_PORT = 8081, 8000, 8888  # the hub's API, the proxy's public port, a student server's
HUB_POD_LABELS = {"app.kubernetes.io/name": "servicelab-classroom", "app.kubernetes.io/component": "hub"}
SERVER_POD_LABELS = {"component": "singleuser-server"}  # what KubeSpawner labels a user's server pod with
GUARD_POLICY = f"{PREFIX}pods"
PORT_WALL = f"{PREFIX}node-ports"  # the ValidatingAdmissionPolicy (and binding) that keeps students on their own
NODE_PORT_KEY = "servicelab.dev/node-port"  # a student namespace's label: the student's own node port
HOST_WALL = f"{PREFIX}hosts"  # the host wall's ValidatingAdmissionPolicies (and bindings): <HOST_WALL>-<what>
SHOP_HOST_KEY = "servicelab.dev/shop-host"  # a student namespace's label: the student's own HTTP host
ADDRESS_WALL = f"{PREFIX}static-ips"  # the ValidatingAdmissionPolicy (and binding): each student asks for their own
# A student namespace's annotations: the student's own static IPs (annotations: an IPv6 address is no label value)
ADDRESS_KEYS = {STATIC_IP: "servicelab.dev/static-ip", INTERNAL_STATIC_IP: "servicelab.dev/internal-static-ip"}
# ... and the pool of their internal one, which the AKS translation (fixtures/aks) names for an internal Service
INTERNAL_POOL_KEY = "servicelab.dev/internal-static-pool"
CLASS_POOLS = {STATIC_IP: metallb.CLASS_STATIC_POOL, INTERNAL_STATIC_IP: metallb.CLASS_INTERNAL_STATIC_POOL}
CLASS_ADVERTISEMENT = f"{PREFIX}static-ips"  # the L2Advertisement of the class's pools (in metallb-system)
ASKING_ANNOTATIONS = STATIC_IP_ANNOTATIONS  # how a Service asks for an address by value: what a grading claims
POOL_ANNOTATIONS = (metallb.POOL_ANNOTATION, "metallb.universe.tf/address-pool")
# Pools that hand out a static IP to whoever names them (autoAssign false, but an address-pool annotation draws
# from them): the lab cluster's two and the class's two.
STATIC_POOLS = (metallb.STATIC_POOL, metallb.INTERNAL_STATIC_POOL, *CLASS_POOLS.values())
VARIABLES_FILE = "variables.json"  # the student's variables, beside the kubeconfig in KUBECONFIG_MAP
WATCH_ROLE, SPAWN_ROLE = f"{PREFIX}hub-watch", f"{PREFIX}hub-spawn"
DATA = "/srv/jupyterhub/data"
CONFIG_DIR = "/etc/jupyterhub"
HUB_UID, SERVER_UID, SERVER_GID = 1000, 1000, 100  # tools/offline-images/classroom.py: jupyterhub, jovyan:users
# The Secret's keys, passed to the hub as environment variables
STUDENT_PASSWORD, INSTRUCTOR_PASSWORD, API_TOKEN = "student_password", "instructor_password", "api_token"
SERVICE_NAME = "servicelab-classroom"  # the hub service whose token drives the hub's REST API
RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/warn": "restricted"}
# What a student server reads in its own namespace beyond the labs' kinds (the notebook shows what it made).
STUDENT_READS = [
    {"apiGroups": [""], "resources": ["pods", "events", "endpoints", "pods/log"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]},
]
STUDENT_READER = "servicelab-student-reads"
# grader.kube reads kubeconfigs only: each student namespace holds one (no secret in it: it names the token file
# the kubelet mounts), the server mounts it and KUBECONFIG points there, so the notebook's apply() acts as the
# student in the student's namespace.
KUBECONFIG_MAP, KUBECONFIG_DIR = "servicelab-kubeconfig", "/etc/servicelab"
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
NOTEBOOKS_DIR = "servicelab-notebooks"  # in the student's home: the learner copies, written when the server starts
GRADING_URL = f"http://grading.{HUB_NAMESPACE}.svc.cluster.local"  # Service `grading` (grader.classroom.grading)


@dataclass(frozen=True)
class Classroom:
    """Everything the manifests depend on: the checked values plus what `up` found out."""

    students: tuple[str, ...]
    instructors: tuple[str, ...]
    policy: LabPolicy  # the labs' policies merged
    hub_image: str
    singleuser_image: str
    cpu_request: str
    cpu_limit: str
    memory_request: str
    memory_limit: str
    proxy_type: str
    node_port: int
    hub_state: str  # pvc | emptyDir
    storage_class: str
    api_server: tuple[tuple[str, ...], int]  # the Kubernetes API's endpoint addresses and port (after the DNAT)
    # each student's own values (grader.classroom.assignment.variables_of): {"alice": {"NODE_PORT": "30412"}}
    variables: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    grading: bool = False  # the class's grading service runs (on kind: beside the cluster, grader.classroom.grading)
    class_pools: bool = False  # the students' static IPs come from MetalLB pools of the class's own (on kind)


def student_namespace(student: str) -> str:
    return f"servicelab-student-{student}"


NAMESPACE_TEMPLATE = student_namespace("{username}")


def merged_policy(policies: list[LabPolicy]) -> LabPolicy:
    """One policy that lets a student namespace hold the answer of every lab of the class."""
    kinds = tuple(dict.fromkeys(kind for policy in policies for kind in policy.kinds))
    egress = tuple(dict.fromkeys(name for policy in policies for name in policy.egress))
    types = tuple(dict.fromkeys(t for policy in policies for t in policy.services.types))
    services = ServiceRules(
        types=types or ServiceRules().types,
        most=max((p.services.most for p in policies), default=ServiceRules().most),
        load_balancers=max((p.services.load_balancers for p in policies), default=0),
    )
    return LabPolicy(kinds=kinds or LabPolicy().kinds, egress=egress, services=services)


def labels(role: str | None = None) -> dict[str, str]:
    return {**managed_labels(RUN_ID), CLASSROOM_KEY: HUB_NAMESPACE, **({podguard.ROLE_KEY: role} if role else {})}


def mark(obj: Obj) -> Obj:
    """obj with the classroom's labels (kept: its own) and the owner annotation."""
    meta = obj.setdefault("metadata", {})
    meta["labels"] = {**labels(), **(meta.get("labels") or {}), CLASSROOM_KEY: HUB_NAMESPACE}
    meta["annotations"] = {**owner_annotation(), **(meta.get("annotations") or {})}
    return obj


# --- cluster-wide ---------------------------------------------------------------------------------------------
def cluster_objects(room: Classroom) -> list[Obj]:
    """The pod guard of the student namespaces, and the hub's ClusterRoles (the watch one bound cluster-wide)."""
    guard = parse_manifest(
        podguard.policy_manifest(
            name=GUARD_POLICY,
            roles=(STUDENT_ROLE,),
            pod_images=(*images.LAB_IMAGES, room.singleuser_image),
            service_accounts=("default", fence.LEARNER_ACCOUNT),
        )
    )
    watch = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": WATCH_ROLE},
        "rules": [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": [""], "resources": ["events"], "verbs": ["list", "watch"]},
        ],
    }
    spawn = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": SPAWN_ROLE},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "delete"]}],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": WATCH_ROLE},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": WATCH_ROLE},
        "subjects": [{"kind": "ServiceAccount", "name": HUB_ACCOUNT, "namespace": HUB_NAMESPACE}],
    }
    return [
        mark(obj)
        for obj in (
            *guard,
            *node_port_wall(room.variables),
            *host_wall(),
            *address_wall(),
            *address_pools(room),
            watch,
            spawn,
            binding,
        )
    ]


def address_pools(room: Classroom) -> list[Obj]:
    """On kind, the class's own MetalLB pools: each holds exactly the students' addresses of one variable
    (STATIC_IP, INTERNAL_STATIC_IP), never auto-assigned, announced by an L2Advertisement of the class's own
    (without one MetalLB assigns an address but answers no ARP for it). None when the class has no static IPs."""
    if not room.class_pools:
        return []
    pools: list[Obj] = []
    for var, name in CLASS_POOLS.items():
        addresses = sorted({own[var] for own in room.variables.values() if own.get(var)}, key=ipaddress.ip_address)
        if addresses:
            pools.append(
                {
                    "apiVersion": "metallb.io/v1beta1",
                    "kind": "IPAddressPool",
                    "metadata": {"name": name, "namespace": metallb.NAMESPACE},
                    "spec": {
                        "addresses": [f"{a}/{32 if ':' not in a else 128}" for a in addresses],
                        "autoAssign": False,
                    },
                }
            )
    if not pools:
        return []
    advertisement = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "L2Advertisement",
        "metadata": {"name": CLASS_ADVERTISEMENT, "namespace": metallb.NAMESPACE},
        "spec": {"ipAddressPools": [pool["metadata"]["name"] for pool in pools]},
    }
    return [*pools, advertisement]


def address_wall(*, name: str = ADDRESS_WALL, role: str = STUDENT_ROLE) -> list[Obj]:
    """A ValidatingAdmissionPolicy and its binding: in a student namespace, a Service may ask for an address by value
    (spec.loadBalancerIP, spec.externalIPs, the Azure and MetalLB annotations) only if it is one of the namespace's
    own (its annotations ADDRESS_KEYS), and may name a static pool (address-pool) only while asking for its own.
    Unlike node ports, nothing fills these in before admission, so every other address is refused: another
    student's, the lab cluster's shared STATIC_IP, any. The addresses sit on the namespaces, not in the policy, so
    a class that grows changes no policy."""
    annotations = "namespaceObject.metadata.annotations"
    own = [
        f"(has({annotations}) && '{key}' in {annotations} ? {annotations}['{key}'] : '')"
        for key in ADDRESS_KEYS.values()
    ]
    given = "has(object.metadata.annotations) && '{key}' in object.metadata.annotations"
    asked = " + ".join(
        [
            "(has(object.spec.loadBalancerIP) ? [object.spec.loadBalancerIP] : [])",
            "(has(object.spec.externalIPs) ? object.spec.externalIPs : [])",
            *(f"({given.format(key=key)} ? [object.metadata.annotations['{key}']] : [])" for key in ASKING_ANNOTATIONS),
        ]
    )
    pools = " + ".join(
        f"({given.format(key=key)} ? [object.metadata.annotations['{key}']] : [])" for key in POOL_ANNOTATIONS
    )
    static_pools = "[" + ", ".join(f"'{pool}'" for pool in STATIC_POOLS) + "]"
    yours = (
        "(variables.static != '' || variables.internal != ''"
        " ? 'yours are STATIC_IP ' + (variables.static != '' ? variables.static : '(none)')"
        " + ' and INTERNAL_STATIC_IP ' + (variables.internal != '' ? variables.internal : '(none)')"
        " : 'this namespace has no static IP of its own')"
    )
    return _service_wall(
        name,
        role,
        variables=[
            {"name": "static", "expression": own[0]},
            {"name": "internal", "expression": own[1]},
            {"name": "asked", "expression": f"({asked}).filter(a, a != '')"},
            {
                "name": "others",
                "expression": "variables.asked.filter(a, a != variables.static && a != variables.internal)",
            },
            {"name": "pools", "expression": f"({pools}).filter(p, p in {static_pools})"},
        ],
        validations=[
            {
                "expression": "size(variables.others) == 0",
                "reason": "Forbidden",
                "message": "static-ip: an address that is not this namespace's own",
                "messageExpression": (
                    "'static-ip: ' + variables.others[0] + ' is not your address to ask for: ' + " + yours
                ),
            },
            {
                "expression": "size(variables.pools) == 0 || size(variables.asked) > 0",
                "reason": "Forbidden",
                "message": "static-ip: a static pool hands out its addresses only by value",
                "messageExpression": (
                    "'static-ip: pool ' + variables.pools[0] + ' hands out static IPs: ask for your own by "
                    "address, not by pool; ' + " + yours
                ),
            },
        ],
    )


def node_port_wall(
    variables: Mapping[str, Mapping[str, str]], *, name: str = PORT_WALL, role: str = STUDENT_ROLE
) -> list[Obj]:
    """A ValidatingAdmissionPolicy and its binding: in a student namespace, no Service may hold a node port the
    classroom gave another student (its nodePorts and healthCheckNodePort; the namespace's own is its label
    NODE_PORT_KEY). It refuses the ports assigned to others, not every port but the own: the API server allocates a
    left-out nodePort (LoadBalancer and NodePort Services of other labs) before admission, so the policy cannot
    tell a named port from an allocated one, and refusing all of those would refuse every such Service. A random
    allocation that lands on another student's port is refused too; applying again draws another."""
    owners = port_owners(variables)
    assigned = "{" + ", ".join(f"{port}: true" for port in sorted(owners)) + "}"
    own = _namespace_label(NODE_PORT_KEY)
    named = (
        "(has(object.spec.ports) ? object.spec.ports.filter(p, has(p.nodePort)).map(p, p.nodePort) : [])"
        " + (has(object.spec.healthCheckNodePort) ? [object.spec.healthCheckNodePort] : [])"
    )
    return _service_wall(
        name,
        role,
        variables=[
            {"name": "own", "expression": own},
            {"name": "assigned", "expression": assigned},
            {
                "name": "others",
                "expression": f"({named}).filter(p, p in variables.assigned && string(p) != variables.own)",
            },
        ],
        validations=[
            {
                "expression": "size(variables.others) == 0",
                "reason": "Forbidden",
                "message": "node-port: a node port the classroom gave another student is not yours to use",
                "messageExpression": (
                    "'node-port: node port ' + string(variables.others[0]) + \" is another student's: \""
                    " + (variables.own != '' ? 'yours is ' + variables.own + '; write nodePort: ' + variables.own"
                    " + ' (or leave nodePort out and apply again, if the cluster picked it)'"
                    " : 'this namespace has no node port of its own')"
                ),
            }
        ],
    )


# What each kind routes: CEL for the list of hosts an object claims on the shared HTTP entry ('' for a host left out,
# which takes every host), one ValidatingAdmissionPolicy per kind so each expression is type-checked against the one
# schema it reads.
_ROUTED_HOSTS: dict[str, tuple[Obj, str, str, tuple[str, str]]] = {
    "ingresses": (
        {"apiGroups": ["networking.k8s.io"], "apiVersions": ["*"], "resources": ["ingresses"]},
        "(has(object.spec.rules) ? object.spec.rules.map(r, has(r.host) ? r.host : '') : [])"
        " + (has(object.spec.defaultBackend) ? [''] : [])",
        "an Ingress rule without host (or a defaultBackend)",
        ("host: ", ""),
    ),
    "routes": (
        {"apiGroups": ["gateway.networking.k8s.io"], "apiVersions": ["*"], "resources": ["httproutes", "grpcroutes"]},
        "has(object.spec.hostnames) && size(object.spec.hostnames) > 0 ? object.spec.hostnames : ['']",
        "a route without hostnames",
        ("hostnames: [", "]"),
    ),
    "gateways": (
        {"apiGroups": ["gateway.networking.k8s.io"], "apiVersions": ["*"], "resources": ["gateways"]},
        "has(object.spec.listeners) ? object.spec.listeners.map(l, has(l.hostname) ? l.hostname : '') : ['']",
        "a Gateway listener without hostname",
        ("hostname: ", ""),
    ),
}


def host_wall(*, name: str = HOST_WALL, role: str = STUDENT_ROLE) -> list[Obj]:
    """ValidatingAdmissionPolicies and their bindings: in a student namespace, an Ingress (its rules' hosts, a
    defaultBackend), an HTTPRoute or GRPCRoute (its hostnames) or a Gateway (its listeners' hostnames) may name the
    namespace's own HTTP host only (its label SHOP_HOST_KEY, which `classroom up` sets from the assignment; students
    cannot change a Namespace). A host left out takes every host, other students' too: refused as well. A namespace
    without a host of its own routes nothing."""
    own = _namespace_label(SHOP_HOST_KEY)
    objects: list[Obj] = []
    for what, (rule, hosts, hostless, (before, after)) in _ROUTED_HOSTS.items():
        policy_name = f"{name}-{what}"
        write = f"'{before}' + variables.own + '{after}'"
        told = (
            "variables.own == '' ? 'http-host: this namespace has no HTTP host of its own'"
            f" : variables.others[0] == '' ? 'http-host: {hostless} takes every host, other students\\' too:"
            f" name yours, ' + {write}"
            " : 'http-host: host ' + variables.others[0] + \" is not yours: yours is \" + variables.own"
            f" + '; write ' + {write}"
        )
        objects += _admission_wall(
            policy_name,
            role,
            rule,
            variables=[
                {"name": "own", "expression": own},
                {"name": "hosts", "expression": hosts},
                {
                    "name": "others",
                    "expression": "variables.hosts.filter(h, variables.own == '' || h != variables.own)",
                },
            ],
            validations=[
                {
                    "expression": "size(variables.others) == 0",
                    "reason": "Forbidden",
                    "message": "http-host: a student namespace routes its own HTTP host only",
                    "messageExpression": told,
                }
            ],
        )
    return objects


SERVICES = {"apiGroups": [""], "apiVersions": ["v1"], "resources": ["services"]}


def _service_wall(name: str, role: str, *, variables: list[Obj], validations: list[Obj]) -> list[Obj]:
    return _admission_wall(name, role, SERVICES, variables=variables, validations=validations)


def _admission_wall(name: str, role: str, rule: Obj, *, variables: list[Obj], validations: list[Obj]) -> list[Obj]:
    """A ValidatingAdmissionPolicy `name` over creating and changing what `rule` names (its CEL variables and
    validations), and its binding, which denies in the namespaces of podguard role `role`."""
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{**rule, "operations": ["CREATE", "UPDATE"]}]},
            "variables": variables,
            "validations": validations,
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchLabels": {podguard.ROLE_KEY: role}}},
        },
    }
    return [policy, binding]


def _namespace_label(key: str) -> str:
    """CEL: the namespace's label `key`, '' when it has none."""
    return (
        f"has(namespaceObject.metadata.labels) && '{key}' in namespaceObject.metadata.labels"
        f" ? namespaceObject.metadata.labels['{key}'] : ''"
    )


# --- a student's namespace --------------------------------------------------------------------------------------
def student_objects(room: Classroom, student: str, facts: ClusterFacts) -> list[Obj]:
    """The namespace, walled like a grading namespace, with the server's extra ways in and out."""
    namespace = student_namespace(student)
    meta = {"namespace": namespace, "labels": labels()}
    hub_may_spawn = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": SPAWN_ROLE, **meta},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": SPAWN_ROLE},
        "subjects": [{"kind": "ServiceAccount", "name": HUB_ACCOUNT, "namespace": HUB_NAMESPACE}],
    }
    reads = fence.role_for_account(STUDENT_READER, STUDENT_READS, fence.LEARNER_ACCOUNT, meta)
    server = {"matchLabels": SERVER_POD_LABELS}
    hub_pods = {"namespaceSelector": {"matchLabels": {walls.NAME_KEY: HUB_NAMESPACE}}, "podSelector": _hub_selector()}
    addresses, port = room.api_server
    server_walls = [
        walls.network_policy(
            meta, "servicelab-classroom-proxy-in", pods=server, ingress=[_rule("from", [hub_pods], SERVER_PORT)]
        ),
        walls.network_policy(
            meta, "servicelab-classroom-hub-out", pods=server, egress=[_rule("to", [hub_pods], HUB_PORT)]
        ),
        walls.network_policy(
            meta, "servicelab-classroom-api-out", pods=server, egress=[_rule("to", hosts(addresses), port)]
        ),
    ]
    own = dict(room.variables.get(student, {}))
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": KUBECONFIG_MAP, **meta},
        # the notebook reads both from KUBECONFIG_DIR: who it acts as, and the student's own values
        "data": {
            "kubeconfig": student_kubeconfig(namespace),
            VARIABLES_FILE: json.dumps(own, indent=1, sort_keys=True),
        },
    }
    namespace_obj = fence.namespace_object(namespace, RUN_ID, STUDENT_ROLE)
    namespace_obj["metadata"]["labels"][CLASSROOM_KEY] = HUB_NAMESPACE
    if NODE_PORT in own:  # what the node-port wall lets this namespace's Services hold
        namespace_obj["metadata"]["labels"][NODE_PORT_KEY] = own[NODE_PORT]
    if SHOP_HOST in own:  # the one host the host wall lets this namespace's routes name
        namespace_obj["metadata"]["labels"][SHOP_HOST_KEY] = own[SHOP_HOST]
    namespace_obj["metadata"].setdefault("annotations", {}).update(address_annotations(room, own))
    objects = [
        namespace_obj,
        *fence.fence(namespace, RUN_ID, room.policy),
        *reads,
        kubeconfig,
        hub_may_spawn,
        *walls.walls(namespace, RUN_ID, room.policy, facts),
        *server_walls,
    ]
    return [mark(obj) for obj in objects]


def address_annotations(room: Classroom, own: Mapping[str, str]) -> dict[str, str]:
    """A student namespace's own static IPs (what the address wall lets its Services ask for) and, with class pools,
    the pool of the internal one (so an internal Service asking for it is sent there: fixtures/aks)."""
    found = {key: own[var] for var, key in ADDRESS_KEYS.items() if own.get(var)}
    if room.class_pools and own.get(INTERNAL_STATIC_IP):
        found[INTERNAL_POOL_KEY] = metallb.CLASS_INTERNAL_STATIC_POOL
    return found


def student_kubeconfig(namespace: str) -> str:
    """The server pod's kubeconfig: the API's in-cluster name, the pod's own token and CA, the student's namespace."""
    return kubeconfig_text(
        "classroom",
        {"server": "https://kubernetes.default.svc", "certificate-authority": f"{SERVICE_ACCOUNT_DIR}/ca.crt"},
        "student",
        {"tokenFile": f"{SERVICE_ACCOUNT_DIR}/token"},
        namespace,
    )


# --- the hub ----------------------------------------------------------------------------------------------------
def hub_objects(room: Classroom, secret_values: dict[str, str]) -> list[Obj]:
    """The hub's namespace and everything in it; secret_values: the Secret's keys (passwords, API token)."""
    meta = {"namespace": HUB_NAMESPACE, "labels": labels()}
    config = hub_config(room)
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": HUB_NAMESPACE, "labels": {**labels(HUB_ROLE), **RESTRICTED}},
    }
    objects: list[Obj] = [
        namespace,
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": HUB_ACCOUNT, **meta}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": SECRET, **meta}, "stringData": secret_values},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": CONFIG_MAP, **meta}, "data": config},
    ]
    if room.hub_state == "pvc":
        objects.append(volume_claim(STATE_CLAIM, meta, room.storage_class))
    objects += [
        hub_deployment(room, meta, _digest(config)),
        _service(meta, HUB_SERVICE, "ClusterIP", [{"name": "hub", "port": HUB_PORT, "targetPort": HUB_PORT}]),
        _service(
            meta,
            PROXY_SERVICE,
            room.proxy_type,
            [
                {
                    "name": "http",
                    "port": 80,
                    "targetPort": PROXY_PORT,
                    **({"nodePort": room.node_port} if room.proxy_type == "NodePort" else {}),
                }
            ],
        ),
        *hub_walls(room, meta),
    ]
    return [mark(obj) for obj in objects]


def hub_walls(room: Classroom, meta: Obj) -> list[Obj]:
    """Deny all, then: the proxy from anywhere (NodePort and LoadBalancer traffic arrives from nodes and outside);
    the hub's API from student servers; out to DNS, the API server (KubeSpawner) and the student servers."""
    hub = _hub_selector()
    servers = {
        "namespaceSelector": {"matchLabels": {podguard.ROLE_KEY: STUDENT_ROLE, CLASSROOM_KEY: HUB_NAMESPACE}},
        "podSelector": {"matchLabels": SERVER_POD_LABELS},
    }
    itself = {"podSelector": hub}  # the proxy reaches the hub through Service `hub` (hub_connect_url): its own pod
    addresses, port = room.api_server
    return [
        walls.network_policy(meta, "servicelab-deny-all", pods={}, ingress=[], egress=[]),
        walls.network_policy(
            meta,
            "servicelab-classroom-proxy-in",
            pods=hub,
            ingress=[{"ports": [{"protocol": "TCP", "port": PROXY_PORT}]}],
        ),
        walls.network_policy(
            meta, "servicelab-classroom-hub-in", pods=hub, ingress=[_rule("from", [servers, itself], HUB_PORT)]
        ),
        walls.network_policy(meta, "servicelab-cluster-dns", pods=hub, egress=[walls.to_dns()]),
        walls.network_policy(
            meta, "servicelab-classroom-api-out", pods=hub, egress=[_rule("to", hosts(addresses), port)]
        ),
        walls.network_policy(
            meta, "servicelab-classroom-servers-out", pods=hub, egress=[_rule("to", [servers], SERVER_PORT)]
        ),
        walls.network_policy(meta, "servicelab-classroom-hub-out", pods=hub, egress=[_rule("to", [itself], HUB_PORT)]),
    ]


def hub_deployment(room: Classroom, meta: Obj, config_digest: str) -> Obj:
    volumes: list[Obj] = [{"name": "config", "configMap": {"name": CONFIG_MAP}}]
    if room.hub_state == "pvc":
        volumes.append({"name": "data", "persistentVolumeClaim": {"claimName": STATE_CLAIM}})
    else:
        volumes.append({"name": "data", "emptyDir": {}})
    env = [
        {
            "name": f"CLASSROOM_{key.upper().replace('-', '_')}",
            "valueFrom": {"secretKeyRef": {"name": SECRET, "key": key}},
        }
        for key in (STUDENT_PASSWORD, INSTRUCTOR_PASSWORD, API_TOKEN, hubservice.API_TOKEN)
    ]
    container = {
        "name": "hub",
        "image": room.hub_image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["jupyterhub", "--config", f"{CONFIG_DIR}/jupyterhub_config.py"],
        "workingDir": DATA,
        "env": env,
        "ports": [
            {"name": "proxy", "containerPort": PROXY_PORT},
            {"name": "hub", "containerPort": HUB_PORT},
        ],
        "readinessProbe": {"httpGet": {"path": "/hub/health", "port": HUB_PORT}, "periodSeconds": 2},
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "config", "mountPath": CONFIG_DIR}, {"name": "data", "mountPath": DATA}],
    }
    # one sqlite file on a ReadWriteOnce volume: never two hubs at once (Recreate)
    return pod_deployment(
        DEPLOYMENT,
        meta,
        HUB_POD_LABELS,
        account=HUB_ACCOUNT,
        uid=HUB_UID,
        container=container,
        volumes=volumes,
        annotations={"servicelab.dev/config-digest": config_digest},  # a new config: a new hub pod
    )


def volume_claim(name: str, meta: Obj, storage_class: str) -> Obj:
    """A 1 GiB ReadWriteOnce PersistentVolumeClaim of storage_class ('' = the cluster's default)."""
    claim: Obj = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    if storage_class:
        claim["storageClassName"] = storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, **meta}, "spec": claim}


def pod_deployment(
    name: str,
    meta: Obj,
    pod_labels: dict[str, str],
    *,
    account: str,
    uid: int,
    container: Obj,
    volumes: list[Obj],
    annotations: dict[str, str] | None = None,
    pod: Obj | None = None,
    replicas: int = 1,
) -> Obj:
    """A Deployment whose pods meet Pod Security's restricted profile as user and group uid; pod: more of the pod's
    spec. One replica is replaced by Recreate (its state is one file on a ReadWriteOnce volume: never two pods at
    once); more than one roll (their state is elsewhere)."""
    template_meta: Obj = {"labels": {**pod_labels, **labels()}}
    if annotations:
        template_meta["annotations"] = annotations
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, **meta},
        "spec": {
            "replicas": replicas,
            "strategy": {"type": "Recreate" if replicas == 1 else "RollingUpdate"},
            "selector": {"matchLabels": pod_labels},
            "template": {
                "metadata": template_meta,
                "spec": {
                    "serviceAccountName": account,
                    **(pod or {}),
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": uid,
                        "runAsGroup": uid,
                        "fsGroup": uid,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }


def hub_config(room: Classroom) -> dict[str, str]:
    """The ConfigMap's one file, jupyterhub_config.py: every value written in as a Python literal."""
    roster = {"students": list(room.students), "instructors": list(room.instructors)}
    settings = {
        "hub_connect_url": f"http://{HUB_SERVICE}.{HUB_NAMESPACE}.svc.cluster.local:{HUB_PORT}",
        "namespace_template": NAMESPACE_TEMPLATE,
        "image": room.singleuser_image,
        "cpu": [_cpu(room.cpu_request), _cpu(room.cpu_limit)],
        "memory": [_bytes(room.memory_request), _bytes(room.memory_limit)],
        "service_account": fence.LEARNER_ACCOUNT,
        "service": SERVICE_NAME,
        "kubeconfig_map": KUBECONFIG_MAP,
        "kubeconfig_dir": KUBECONFIG_DIR,
        "grading_url": GRADING_URL if room.grading else "",
        "grading_service": hubservice.service_entry(GRADING_URL) if room.grading else None,
        "grading_roles": hubservice.load_roles() if room.grading else [],
    }
    text = _CONFIG.format(
        roster=json.dumps(roster, sort_keys=True),
        settings=json.dumps(settings, sort_keys=True),
        data=DATA,
        hub_port=HUB_PORT,
        proxy_port=PROXY_PORT,
        server_uid=SERVER_UID,
        server_gid=SERVER_GID,
        notebooks=NOTEBOOKS_DIR,
    )
    return {"jupyterhub_config.py": text}


_CONFIG = '''\
# Written by `servicelab classroom up` (grader/classroom/manifests.py); edit the values file, not this.
import json
import os

from kubespawner import KubeSpawner
from tornado import web

ROSTER = json.loads({roster!r})
SETTINGS = json.loads({settings!r})


class ClassroomSpawner(KubeSpawner):
    """KubeSpawner whose user namespaces already exist: `servicelab classroom up` makes and walls one per student
    before any server starts, so the hub needs (and has) no right to create namespaces."""

    async def _ensure_namespace(self):
        return None

    async def start(self):
        if self.user.name not in ROSTER["students"]:  # a hub user added on the admin page alone has no walls
            raise web.HTTPError(
                403,
                f"{{self.user.name}} has no namespace in this classroom: add them to the values file's students "
                "and run `servicelab classroom up` again",
            )
        return await super().start()


c = get_config()  # noqa: F821 - JupyterHub's config loader provides it
c.JupyterHub.bind_url = "http://:{proxy_port}"
c.JupyterHub.hub_bind_url = "http://0.0.0.0:{hub_port}"
c.JupyterHub.hub_connect_url = SETTINGS["hub_connect_url"]
c.JupyterHub.db_url = "sqlite:///{data}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{data}/jupyterhub_cookie_secret"
c.JupyterHub.cleanup_servers = False  # a restarted hub finds its students' servers still running
c.ConfigurableHTTPProxy.pid_file = "{data}/jupyterhub-proxy.pid"

c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = os.environ["CLASSROOM_STUDENT_PASSWORD"]
c.SharedPasswordAuthenticator.admin_password = os.environ["CLASSROOM_INSTRUCTOR_PASSWORD"]
# the hub admits the users it has: the students `classroom up` adds through the REST API (grader.classroom.hubusers)
c.Authenticator.allow_existing_users = True
c.Authenticator.admin_users = set(ROSTER["instructors"])

c.JupyterHub.services = [{{"name": SETTINGS["service"], "api_token": os.environ["CLASSROOM_API_TOKEN"]}}]
c.JupyterHub.load_roles = [
    {{
        "name": "servicelab-classroom",
        "description": "servicelab's classroom service: lists the class, starts and stops its servers, makes tokens",
        "scopes": ["admin:users", "admin:servers", "tokens"],
        "services": [SETTINGS["service"]],
    }},
    *SETTINGS["grading_roles"],  # who may log in to the grading service's pages through the hub
]
if SETTINGS["grading_service"]:  # the class page behind the hub's login (grader.classroom.service.huboauth)
    c.JupyterHub.services.append(
        {{**SETTINGS["grading_service"], "api_token": os.environ["CLASSROOM_GRADING_API_TOKEN"]}}
    )

c.JupyterHub.spawner_class = ClassroomSpawner
c.KubeSpawner.enable_user_namespaces = True
c.KubeSpawner.user_namespace_template = SETTINGS["namespace_template"]
c.KubeSpawner.image = SETTINGS["image"]
c.KubeSpawner.image_pull_policy = "IfNotPresent"
c.KubeSpawner.cpu_guarantee, c.KubeSpawner.cpu_limit = SETTINGS["cpu"]
c.KubeSpawner.mem_guarantee, c.KubeSpawner.mem_limit = SETTINGS["memory"]
c.KubeSpawner.uid = {server_uid}
c.KubeSpawner.gid = {server_gid}
c.KubeSpawner.service_account = SETTINGS["service_account"]
c.KubeSpawner.automount_service_account_token = True  # the student's own token: rights in their namespace only
c.KubeSpawner.environment = {{
    "SERVICELAB_NAMESPACE": SETTINGS["namespace_template"],
    "KUBECONFIG": SETTINGS["kubeconfig_dir"] + "/kubeconfig",  # the student's own, made by `classroom up`
    **({{"SERVICELAB_GRADING_URL": SETTINGS["grading_url"]}} if SETTINGS["grading_url"] else {{}}),  # for check()
}}
c.KubeSpawner.volumes = [{{"name": "servicelab-kubeconfig", "configMap": {{"name": SETTINGS["kubeconfig_map"]}}}}]
c.KubeSpawner.volume_mounts = [
    {{"name": "servicelab-kubeconfig", "mountPath": SETTINGS["kubeconfig_dir"], "readOnly": True}}
]
# the learner copies of the notebooks in the student's home (an answered copy is kept: a restart loses no work)
c.KubeSpawner.lifecycle_hooks = {{
    "postStart": {{"exec": {{"command": ["sh", "-c", 'servicelab notebooks "$HOME/{notebooks}" >/dev/null']}}}}
}}
c.KubeSpawner.start_timeout = 300
c.KubeSpawner.http_timeout = 120
'''


def _cpu(text: str) -> float:
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


def _bytes(text: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    for unit, factor in units.items():
        if text.endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(float(text))


def _digest(data: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _hub_selector() -> Obj:
    return {"matchLabels": HUB_POD_LABELS}


def hosts(addresses: tuple[str, ...]) -> list[Obj]:
    return [{"ipBlock": {"cidr": f"{ip}/{32 if ':' not in ip else 128}"}} for ip in addresses]


def _rule(direction: str, peers: list[Obj], port: int) -> Obj:
    return {direction: peers, "ports": [{"protocol": "TCP", "port": port}]}


def _service(meta: Obj, name: str, kind: str, ports: list[Obj]) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, **meta},
        "spec": {"type": kind, "selector": HUB_POD_LABELS, "ports": ports},
    }
