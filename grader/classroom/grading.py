"""The classroom's grading service: its rights, its address for the students' servers, its walls, and on kind its
container beside the cluster.

Where it runs: on the kind lab cluster, as the docker container `servicelab-classroom-grading` on the kind network,
next to the outside vantage points it probes from (`docker exec` into servicelab-outside and servicelab-internet,
through the mounted docker socket), exactly as `servicelab grade` does from this machine. It speaks to the
Kubernetes API as ServiceAccount `grading` of the hub's namespace, never with the instructor's rights. The students'
servers reach it at Service `grading` of the hub's namespace, a Service without a selector whose endpoints are
the containers' addresses on the kind network: one container, or with `grading: {replicas: N}` (and a PostgreSQL
gradebook they share) N of them, `servicelab-classroom-grading`, `-2`, ..., each with its own workers and queues.

Its rights (docs/CLASSROOM_SERVICE.md lists them), the least its probing needs:
- everywhere, read only: nodes, namespaces, the classes (GatewayClass, IngressClass), MetalLB's pools and
  advertisements, and the objects a grading reads or compares across namespaces (Services, pods, endpoints,
  EndpointSlices, events, Deployments, ReplicaSets, Ingresses, Gateways, HTTPRoutes, NetworkPolicies, quotas);
  create TokenReviews (who is calling);
- in each student namespace, also get Secrets and ConfigMaps (the gateway lab compares the served certificate
  with the learner's Secret; the pod-networking lab's answer is a ConfigMap);
- in the probe namespaces: run and replace the warm probe pods and exec into them;
- in Traefik's namespace: portforward to its pods (its API on the pod's loopback, TLS through the pod).
It creates, changes or deletes nothing in a student's namespace.
"""

from __future__ import annotations

import base64
import os

from grader.base.errors import EnvError
from grader.base.names import TRAEFIK_NAMESPACE
from grader.base.run import run
from grader.classroom import manifests as m
from grader.cluster import docker
from grader.cluster.metallb import ADVERTISEMENT_RESOURCE, POOL_RESOURCE
from grader.grading import walls
from grader.kube import api as kubeapi
from grader.kube.client import Kube, Obj
from grader.probes.pod import WARM_NAMESPACES

ACCOUNT = "grading"
SERVICE = "grading"
TOKEN_SECRET = "grading-token"
PORT = 8080  # the service's own port in its container
SERVICE_PORT = 80
CONTAINER = f"{m.PREFIX}grading"
GRADEBOOK_VOLUME = f"{m.PREFIX}gradebook"
GRADEBOOK = "/data/gradebook.sqlite"
SETTINGS_DIR = "/etc/servicelab-grading"  # in the container: kubeconfig, instructor token, the students' values
INSTRUCTOR_TOKEN = "grading_token"  # the hub Secret's key: the instructor's token for the class page and exports
READ_ROLE, NAMESPACE_ROLE = f"{m.PREFIX}grading-read", f"{m.PREFIX}grading-namespace"
PROBE_ROLE, TRAEFIK_ROLE = f"{m.PREFIX}grading-probes", f"{m.PREFIX}grading-traefik"
URL = m.GRADING_URL
READ = ["get", "list", "watch"]
READ_EVERYWHERE = [
    {"apiGroups": [""], "resources": ["nodes", "namespaces"], "verbs": READ},
    {
        "apiGroups": [""],
        "resources": ["services", "pods", "endpoints", "events", "resourcequotas"],
        "verbs": READ,
    },
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": READ},
    {"apiGroups": ["apps"], "resources": ["deployments", "replicasets"], "verbs": READ},
    {
        "apiGroups": ["networking.k8s.io"],
        "resources": ["ingresses", "ingressclasses", "networkpolicies"],
        "verbs": READ,
    },
    {
        "apiGroups": ["gateway.networking.k8s.io"],
        "resources": ["gateways", "httproutes", "gatewayclasses"],
        "verbs": READ,
    },
    {
        "apiGroups": ["metallb.io"],
        "resources": [POOL_RESOURCE.split(".")[0], ADVERTISEMENT_RESOURCE.split(".")[0]],
        "verbs": READ,
    },
    {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]},
]
IN_STUDENT_NAMESPACE = [{"apiGroups": [""], "resources": ["secrets", "configmaps"], "verbs": ["get"]}]
IN_PROBE_NAMESPACES = [
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "create", "delete"]},
    {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"]},
]
IN_TRAEFIK = [{"apiGroups": [""], "resources": ["pods/portforward"], "verbs": ["create", "get"]}]


def _account() -> list[Obj]:
    return [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": m.HUB_NAMESPACE}]


def _cluster_role(name: str, rules: list[Obj]) -> Obj:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": rules,
    }


def _binding(role: str, namespace: str | None) -> Obj:
    """A binding of ClusterRole `role` to the grading account: cluster-wide (namespace None) or in one namespace."""
    kind = "ClusterRoleBinding" if namespace is None else "RoleBinding"
    meta: Obj = {"name": role, **({"namespace": namespace} if namespace else {})}
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": _account(),
    }


# Namespaces the classroom does not own where it binds the grading account: `down` deletes these bindings there.
FOREIGN_NAMESPACES = (*WARM_NAMESPACES, TRAEFIK_NAMESPACE)


def cluster_objects() -> list[Obj]:
    """The grading account's ClusterRoles, its cluster-wide read binding, and its bindings in the probe namespaces
    and Traefik's (namespaces the classroom does not own)."""
    objects = [
        _cluster_role(READ_ROLE, READ_EVERYWHERE),
        _cluster_role(NAMESPACE_ROLE, IN_STUDENT_NAMESPACE),
        _cluster_role(PROBE_ROLE, IN_PROBE_NAMESPACES),
        _cluster_role(TRAEFIK_ROLE, IN_TRAEFIK),
        _binding(READ_ROLE, None),
        *(_binding(PROBE_ROLE, ns) for ns in WARM_NAMESPACES),
        _binding(TRAEFIK_ROLE, TRAEFIK_NAMESPACE),
    ]
    return [m.mark(obj) for obj in objects]


def hub_namespace_objects(container: bool = True) -> list[Obj]:
    """In the hub's namespace: the account, its long-lived token (read by `up` into the container's kubeconfig,
    deleted with the namespace by `down`), and for the container Service `grading` without a selector
    (endpoints_object gives it the container's address; grader.classroom.incluster makes its own)."""
    meta = {"namespace": m.HUB_NAMESPACE, "labels": m.labels()}
    token = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/service-account-token",
        "metadata": {"name": TOKEN_SECRET, **meta, "annotations": {"kubernetes.io/service-account.name": ACCOUNT}},
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": SERVICE, **meta},
        "spec": {"ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": PORT, "protocol": "TCP"}]},
    }
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": ACCOUNT, **meta}}
    return [m.mark(obj) for obj in (account, token, *([service] if container else []))]


def endpoints_object(addresses: list[str]) -> Obj:
    """Service `grading`'s endpoints: the containers' addresses on the kind network (kube-proxy spreads the calls)."""
    return m.mark(
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"{SERVICE}-container",
                "namespace": m.HUB_NAMESPACE,
                "labels": {
                    **m.labels(),
                    "kubernetes.io/service-name": SERVICE,
                    "endpointslice.kubernetes.io/managed-by": "servicelab.dev",
                },
            },
            "addressType": "IPv6" if ":" in addresses[0] else "IPv4",
            "endpoints": [{"addresses": [address], "conditions": {"ready": True}} for address in addresses],
            "ports": [{"name": "http", "port": PORT, "protocol": "TCP"}],
        }
    )


def hub_egress(service: list[Obj]) -> Obj:
    """In the hub's namespace: the hub pod (the hub's health check of its services, and its proxy, which routes
    /services/grading/ for the class page) may reach the service at PORT (Service `grading` after the DNAT).
    service: the NetworkPolicy peers that are the service (the container's address, or its pod)."""
    meta = {"namespace": m.HUB_NAMESPACE, "labels": m.labels()}
    policy = walls.network_policy(
        meta,
        "servicelab-classroom-grading-out",
        pods={"matchLabels": m.HUB_POD_LABELS},
        egress=[{"to": service, "ports": [{"protocol": "TCP", "port": PORT}]}],
    )
    return m.mark(policy)


def student_objects(student: str, service: list[Obj]) -> list[Obj]:
    """In a student's namespace: the grading account may read its Secrets; the server may reach the service (its
    NetworkPolicy peers: the container's address, or its pod)."""
    namespace = m.student_namespace(student)
    meta = {"namespace": namespace, "labels": m.labels()}
    out = walls.network_policy(
        meta,
        "servicelab-classroom-grading-out",
        pods={"matchLabels": m.SERVER_POD_LABELS},
        egress=[{"to": service, "ports": [{"protocol": "TCP", "port": PORT}]}],
    )
    return [m.mark(obj) for obj in (_binding(NAMESPACE_ROLE, namespace), out)]


# --- on kind: the container ---------------------------------------------------------------------------------------
def kubeconfig_text(kube: Kube, cluster: str) -> str:
    """The container's kubeconfig: the grading account's token, the API server by its name on the kind network.
    The cluster entry has kind's name for it (kind-<cluster>): the grader then knows the kind network, where the
    outside containers live, is the one it is on (grader.cluster.facts.discover)."""
    secret = kube.get("secret", TOKEN_SECRET, m.HUB_NAMESPACE) or {}
    data = secret.get("data") or {}
    if "token" not in data or "ca.crt" not in data:
        raise EnvError(f"secret {m.HUB_NAMESPACE}/{TOKEN_SECRET} has no token yet (the token controller fills it)")
    return kubeapi.kubeconfig_text(
        f"kind-{cluster}",
        {
            "server": f"https://{cluster}-control-plane:6443",  # docker's DNS on the kind network
            "certificate-authority-data": data["ca.crt"],
        },
        ACCOUNT,
        {"token": base64.b64decode(data["token"]).decode()},
    )


def docker_socket() -> str:
    return "/var/run/docker.sock"


def container_names(replicas: int) -> list[str]:
    """The grading containers of that many replicas: servicelab-classroom-grading, then -2, -3, ..."""
    return [CONTAINER, *(f"{CONTAINER}-{number}" for number in range(2, replicas + 1))]


def start_container(image: str, settings: dict[str, str], name: str = CONTAINER) -> str:
    """(Re)start a grading container; its address on the kind network. settings: the service's environment
    (SERVICELAB_*), handed to docker through its own environment so no token is on a command line or in a file
    on this machine (docker inspect shows them: whoever may use docker owns the machine anyway). The container's
    name is its instance name in the gradebook: a restart of it marks its own unfinished gradings interrupted."""
    docker.remove_container(name)
    run(["docker", "volume", "create", "--label", f"{m.CLASSROOM_KEY}={m.HUB_NAMESPACE}", GRADEBOOK_VOLUME])
    settings = {**settings, "SERVICELAB_INSTANCE": name}
    names = [option for key in sorted(settings) for option in ("-e", key)]  # -e NAME: the value from the env
    docker.run_container(
        name,
        image,
        ["python", "-m", "grader.classroom.service", "--port", str(PORT)],  # the gradebook: SERVICELAB_GRADEBOOK
        options=[
            "--label",
            f"{m.CLASSROOM_KEY}={m.HUB_NAMESPACE}",
            "--group-add",
            str(os.stat(docker_socket()).st_gid),  # the socket's group: its user may use docker
            "-v",
            f"{docker_socket()}:/var/run/docker.sock",
            "-v",
            f"{GRADEBOOK_VOLUME}:/data",
            *names,
        ],
        env=settings,
    )
    address = docker.container_ip(docker.container_state(name) or {})
    if address is None:
        raise EnvError(f"the grading container {name} has no address on the kind network: docker logs {name}")
    return address


def class_containers() -> list[str]:
    """Every grading container of the classroom on this machine (by its label), by name."""
    found = run(
        ["docker", "ps", "-a", "--filter", f"label={m.CLASSROOM_KEY}={m.HUB_NAMESPACE}", "--format", "{{.Names}}"],
        timeout=60,
        check=False,
    )
    return sorted(line.strip() for line in found.stdout.splitlines() if line.strip()) if found.code == 0 else []


def container_address(name: str = CONTAINER) -> str | None:
    state = docker.container_state(name)
    if state is None or not (state.get("State") or {}).get("Running"):
        return None
    return docker.container_ip(state)


def remove_containers(keep: tuple[str, ...] = ()) -> list[str]:
    """The classroom's grading containers (each carries its label) but those in keep (what `up` with fewer replicas
    leaves); what was removed."""
    removed = []
    for name in class_containers():
        if name not in keep:
            docker.remove_container(name)
            removed.append(f"container/{name}")
    return removed


def remove_containers_and_gradebook() -> list[str]:
    """Every grading container and the gradebook volume; what was removed."""
    removed = remove_containers()
    if docker.inspect("volume", GRADEBOOK_VOLUME) is not None:
        run(["docker", "volume", "rm", GRADEBOOK_VOLUME], check=False)
        removed.append(f"volume/{GRADEBOOK_VOLUME}")
    return removed
