"""The grading service inside the cluster: a Deployment in the hub's namespace, for clusters other than kind (AKS)
and for kind when the values file asks for it (`grading: {runs: in-cluster}`).

It is the same image and the same service as the container beside kind (grader.classroom.grading), with the same
account, rights and Service `grading`; what differs:
- it talks to the API server as its pod's ServiceAccount (`--in-cluster`): its kubeconfig names no kind cluster,
  so it grades as on any cluster that is not the kind lab cluster (grader.cluster.facts): there is no client
  outside the cluster (no docker socket in a pod), and a check that needs one is n/a, never full marks;
- Service `grading` selects its pod; the students' servers and the hub pod reach the pod by NetworkPolicy
  (namespace and pod selectors, not the container's address);
- its gradebook is on a PVC when the hub's state is (`hub_state`), else an emptyDir (lost with the pod); or the
  PostgreSQL database the values file names (`grading: {gradebook: postgresql://...}`); either way the pod reads
  it from Secret `grading-gradebook` (a URL may hold a password: not in the Deployment, not on a command line);
- the students' values are a ConfigMap mounted as the variables file (read again when it changes).
The pod is as Pod Security's `restricted` profile asks (the hub's namespace enforces it).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
from urllib.parse import urlsplit

from grader.classroom import grading, hubservice
from grader.classroom import manifests as m
from grader.cluster import podguard
from grader.grading import walls
from grader.kube.client import Obj

DEPLOYMENT = "grading"
POD_LABELS = {"app.kubernetes.io/name": "servicelab-classroom", "app.kubernetes.io/component": "grading"}
VARIABLES_MAP = "grading-variables"
GRADEBOOK_CLAIM = "grading-gradebook"
GRADEBOOK_SECRET, GRADEBOOK_KEY = "grading-gradebook", "url"
UID = 1000  # the image's user `grading`
DATA, SETTINGS = "/data", "/etc/servicelab-grading"
READY_S = 180.0
POSTGRES_PORT = 5432


def peers() -> list[Obj]:
    """The grading pod as a NetworkPolicy peer, from any namespace."""
    return [
        {"namespaceSelector": {"matchLabels": {walls.NAME_KEY: m.HUB_NAMESPACE}}, "podSelector": _selector()},
    ]


def objects(room: m.Classroom, image: str, gradebook: str = "", replicas: int = 1) -> list[Obj]:
    """Everything of the in-cluster service in the hub's namespace but what grading.hub_namespace_objects makes
    (the account and its token): its values, gradebook claim and Secret, Deployment, Service and walls. gradebook:
    a PostgreSQL URL (values.py checked it), or "" for the SQLite file on the pod's volume."""
    meta = {"namespace": m.HUB_NAMESPACE, "labels": m.labels()}
    variables = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": VARIABLES_MAP, **meta},
        "data": {"variables.json": json.dumps(room.variables, indent=1, sort_keys=True)},
    }
    # always made, so a later `up` without a URL replaces one that held a password
    book = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": GRADEBOOK_SECRET, **meta},
        "type": "Opaque",
        "stringData": {GRADEBOOK_KEY: gradebook or f"{DATA}/gradebook.sqlite"},
    }
    made: list[Obj] = [variables, book]
    if room.hub_state == "pvc" and not gradebook:  # the SQLite file's; a database needs none
        made.append(m.volume_claim(GRADEBOOK_CLAIM, meta, room.storage_class))
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": grading.SERVICE, **meta},
        "spec": {
            "selector": POD_LABELS,
            "ports": [{"name": "http", "port": grading.SERVICE_PORT, "targetPort": grading.PORT, "protocol": "TCP"}],
        },
    }
    made += [
        deployment(room, image, meta, gradebook, replicas),
        service,
        *_walls(room, meta),
        *_gradebook_wall(gradebook, meta),
    ]
    return [m.mark(obj) for obj in made]


def deployment(room: m.Classroom, image: str, meta: Obj, gradebook: str = "", replicas: int = 1) -> Obj:
    """The service's pods: one with its SQLite gradebook (Recreate: one file on a ReadWriteOnce volume), or
    `replicas` sharing the PostgreSQL gradebook (rolling: a new pod takes calls before an old one goes; each is an
    instance of the gradebook by its pod's name, so one's restart interrupts only its own gradings)."""
    secret = {  # the hub Secret's keys the service reads from its environment
        "SERVICELAB_INSTRUCTOR_TOKEN": grading.INSTRUCTOR_TOKEN,
        "JUPYTERHUB_API_TOKEN": hubservice.API_TOKEN,
        "SERVICELAB_SESSION_SECRET": hubservice.SESSION_SECRET,
    }
    env: list[Obj] = [
        {"name": name, "valueFrom": {"secretKeyRef": {"name": m.SECRET, "key": key}}} for name, key in secret.items()
    ]
    ref = {"secretKeyRef": {"name": GRADEBOOK_SECRET, "key": GRADEBOOK_KEY}}
    env.append({"name": "SERVICELAB_GRADEBOOK", "valueFrom": ref})  # no --gradebook: the flag would win
    # the class page's login: the hub's API by its Service (the browser goes to the origin it came from)
    env.append(
        {
            "name": "SERVICELAB_HUB_API_URL",
            "value": f"http://{m.HUB_SERVICE}.{m.HUB_NAMESPACE}.svc:{m.HUB_PORT}/hub/api",
        }
    )
    on_claim = room.hub_state == "pvc" and not gradebook
    data: Obj = {"persistentVolumeClaim": {"claimName": GRADEBOOK_CLAIM}} if on_claim else {"emptyDir": {}}
    container = {
        "name": "grading",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": [
            "python",
            "-m",
            "grader.classroom.service",
            "--in-cluster",
            "--port",
            str(grading.PORT),
            "--variables-file",
            f"{SETTINGS}/variables.json",
        ],
        "env": env,
        "ports": [{"name": "http", "containerPort": grading.PORT}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": grading.PORT}, "periodSeconds": 2},
        # the class bench's peak with 4 workers: 266 MiB
        "resources": {"requests": {"cpu": "200m", "memory": "384Mi"}, "limits": {"cpu": "2", "memory": "1Gi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "data", "mountPath": DATA}, {"name": "settings", "mountPath": SETTINGS}],
    }
    return m.pod_deployment(
        DEPLOYMENT,
        meta,
        POD_LABELS,
        account=grading.ACCOUNT,
        uid=UID,
        container=container,
        volumes=[{"name": "data", **data}, {"name": "settings", "configMap": {"name": VARIABLES_MAP}}],
        pod={"automountServiceAccountToken": True},  # --in-cluster: the pod's own token
        replicas=replicas if gradebook else 1,
    )


def _walls(room: m.Classroom, meta: Obj) -> list[Obj]:
    """In the hub's namespace (deny-all there): the students' servers and the hub pod (its proxy routes the class
    page) in on the service's port; out to DNS, the API server (TokenReviews, probing through exec) and the hub's
    API (the class page's login)."""
    pod = _selector()
    servers = {
        "namespaceSelector": {"matchLabels": {podguard.ROLE_KEY: m.STUDENT_ROLE, m.CLASSROOM_KEY: m.HUB_NAMESPACE}},
        "podSelector": {"matchLabels": m.SERVER_POD_LABELS},
    }
    hub = {"podSelector": {"matchLabels": m.HUB_POD_LABELS}}
    addresses, port = room.api_server
    tcp = "TCP"
    return [
        walls.network_policy(
            meta,
            "servicelab-classroom-grading-in",
            pods=pod,
            ingress=[{"from": [servers, hub], "ports": [{"protocol": tcp, "port": grading.PORT}]}],
        ),
        walls.network_policy(meta, "servicelab-classroom-grading-dns", pods=pod, egress=[walls.to_dns()]),
        walls.network_policy(
            meta,
            "servicelab-classroom-grading-api-out",
            pods=pod,
            egress=[{"to": m.hosts(addresses), "ports": [{"protocol": tcp, "port": port}]}],
        ),
        walls.network_policy(
            meta,
            "servicelab-classroom-grading-hub-out",
            pods=pod,
            egress=[{"to": [hub], "ports": [{"protocol": tcp, "port": m.HUB_PORT}]}],
        ),
    ]


def _gradebook_wall(gradebook: str, meta: Obj) -> list[Obj]:
    """Out to a PostgreSQL gradebook on its port: to its address when the URL names one, else (a DNS name, which a
    NetworkPolicy cannot name) to any address on that port only."""
    if not gradebook:
        return []
    parts = urlsplit(gradebook)
    port = parts.port or POSTGRES_PORT  # values.py checked the URL: a number or none
    rule: Obj = {"ports": [{"protocol": "TCP", "port": port}]}
    with contextlib.suppress(ValueError):  # a name: any address
        rule["to"] = m.hosts((str(ipaddress.ip_address(parts.hostname or "")),))
    return [walls.network_policy(meta, "servicelab-classroom-grading-gradebook-out", pods=_selector(), egress=[rule])]


def _selector() -> Obj:
    return {"matchLabels": POD_LABELS}
