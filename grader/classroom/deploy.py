"""`servicelab classroom up|status|down`: put a classroom (grader.classroom.manifests) on a cluster and take it off.

`up` checks everything it can before it applies anything (the values, the labs, the images), so bad input
changes nothing; a failure after the first apply deletes what it made unless --retain. Every object carries
the classroom label and the owner annotation (grader.kube.labels): `down` deletes exactly the objects with that
label, and waits, with a deadline, until they and the hub's volume are gone.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial

from grader.base.errors import BadInput, EnvError
from grader.base.wait import wait_for
from grader.catalogue.labs import load_lab
from grader.classroom import assignment, grading, hubservice, hubusers, incluster
from grader.classroom import manifests as m
from grader.classroom.service.database import redacted
from grader.classroom.values import Values
from grader.cluster import docker, metallb, podguard, versions
from grader.cluster.facts import ClusterFacts, discover, kind_cluster_of
from grader.cluster.kindcli import Kind
from grader.cluster.net import class_bands
from grader.cluster.readiness import api_errors_are_state, internal_ip, rollout_ready
from grader.cluster.tools import classroom_images, find_kind
from grader.cluster.up import node_has_image
from grader.grading.submission import starter_docs
from grader.intake.labpolicy import LabPolicy
from grader.kube.client import Kube, Obj, UnknownKind
from grader.probes.pod import ProbePods

HUB_READY_S = 300.0
DOWN_S = 300.0
SELECTOR = f"{m.CLASSROOM_KEY}={m.HUB_NAMESPACE}"
# What `up` makes outside the namespaces, deleted by `down` (by the classroom label, never by name alone).
CLUSTER_KINDS = (
    "validatingadmissionpolicybindings",
    "validatingadmissionpolicies",
    "clusterrolebindings",
    "clusterroles",
)
# ... and in MetalLB's namespace, on kind: the class's own pools of static IPs and their L2Advertisement
METALLB_KINDS = (metallb.ADVERTISEMENT_RESOURCE, metallb.POOL_RESOURCE)
Say = Callable[[str], None]
CONTAINER, IN_CLUSTER = "container", "in-cluster"  # where the grading service runs (values' grading.runs)


@dataclass(frozen=True)
class Plan:
    """Everything `up` applies, in order, made before the first apply."""

    room: m.Classroom
    facts: ClusterFacts
    kind_cluster: str | None  # the kind cluster to load images into; None on another cluster
    objects: list[Obj]
    grading_image: str = ""  # the grading service's image
    secrets: dict[str, str] = field(default_factory=dict)  # the hub Secret's values: passwords and tokens
    grading_runs: str = ""  # CONTAINER (beside kind) or IN_CLUSTER (a Deployment)


def plan(kube: Kube, values: Values, values_file: str) -> Plan:
    """Check the values against the cluster and make every object; BadInput or EnvError before any change."""
    facts = discover(kube)
    kind_cluster = kind_cluster_of(kube.list("nodes")) if facts.is_kind else None
    hub_image, singleuser_image = _images(values, values_file, kind_cluster is not None)
    runs = grading_runs(values, values_file, kind_cluster is not None)
    grading_image = _grading_image(values, values_file, kind_cluster is not None)
    addresses = class_addresses(kube, values, values_file, facts.is_kind)
    room = m.Classroom(
        students=values.students,
        instructors=values.instructors,
        policy=class_policy(values.labs),
        hub_image=hub_image,
        singleuser_image=singleuser_image,
        cpu_request=values.resources.cpu_request,
        cpu_limit=values.resources.cpu_limit,
        memory_request=values.resources.memory_request,
        memory_limit=values.resources.memory_limit,
        proxy_type=values.proxy_type,
        node_port=values.node_port,
        hub_state=hub_state(kube, values, values_file),
        storage_class=values.storage_class,
        api_server=api_server(kube),
        variables=assignment.variables_of(values, held_node_ports(kube), addresses=addresses),
        grading=True,
        class_pools=facts.is_kind and bool(addresses),
    )
    secret_values = _secret_values(kube, values)
    objects = [
        *m.cluster_objects(room),
        *(obj for student in values.students for obj in m.student_objects(room, student, facts)),
        *m.hub_objects(room, secret_values),
        *grading.hub_namespace_objects(container=runs == CONTAINER),
        *grading.cluster_objects(),
    ]
    if runs == IN_CLUSTER:  # its pod, and the ways to it (the container's come once it has an address)
        pod = incluster.peers()
        objects += [
            *incluster.objects(room, grading_image, values.gradebook, values.grading_replicas),
            grading.hub_egress(pod),
        ]
        objects += [obj for student in values.students for obj in grading.student_objects(student, pod)]
    # the hub's namespace before anything in it; the student namespaces come with their own objects
    objects.sort(key=lambda obj: obj["kind"] != "Namespace" or obj["metadata"]["name"] != m.HUB_NAMESPACE)
    return Plan(room, facts, kind_cluster, objects, grading_image, secret_values, runs)


def up(kube: Kube, values: Values, values_file: str, *, retain: bool = False, say: Say = print) -> str:
    """Deploy the classroom; returns the address the class opens."""
    made = plan(kube, values, values_file)
    if made.kind_cluster is not None:
        pods = (made.room.hub_image, made.room.singleuser_image)
        _load_images(made.kind_cluster, (*pods, made.grading_image) if made.grading_runs == IN_CLUSTER else pods, say)
    try:
        for obj in made.objects:
            kube.apply(json.dumps(obj))
        say(f"applied {len(made.objects)} objects: hub in {m.HUB_NAMESPACE}, {len(values.students)} student namespaces")
        wait_for(lambda: _guard_checked(kube), what=f"ValidatingAdmissionPolicy {m.GUARD_POLICY}", timeout_s=60)
        wait_for(
            lambda: _guard_checked(kube, m.ADDRESS_WALL),
            what=f"ValidatingAdmissionPolicy {m.ADDRESS_WALL}",
            timeout_s=60,
        )
        address = wait_for(lambda: proxy_address(kube), what="the proxy's address", timeout_s=120)
        if made.grading_runs == CONTAINER:
            start_grading(kube, made, values, address, say)
        else:
            start_in_cluster(kube, say)
        wait_for(
            lambda: rollout_ready(kube, m.HUB_NAMESPACE, "deployment", m.DEPLOYMENT),
            what="the hub ready",
            timeout_s=HUB_READY_S,
        )
        if made.kind_cluster is not None or made.room.proxy_type == "LoadBalancer":  # reachable from here
            address = wait_for(lambda: answering(kube), what=f"the hub answering at {address}", timeout_s=120)
            added = hubusers.add_students(address, made.secrets[m.API_TOKEN], values.students)
            say(f"hub users: {len(values.students)} students, {len(added)} added through the hub's REST API")
        else:
            say(
                "hub users: not added (the hub's node port does not answer from here): add the students on the "
                "hub's admin page, or run `servicelab classroom up` where the hub answers"
            )
    except BaseException:
        if not retain:
            say("up failed: deleting what it made (--retain keeps it)")
            down(kube, say=say)
        raise
    state = "a PVC" if made.room.hub_state == "pvc" else "an emptyDir (lost when the hub pod goes)"
    say(f"hub ready: {address} (its state on {state})")
    return address


def held_node_ports(kube: Kube) -> set[int]:
    """The node ports Services hold outside the class's student namespaces (Traefik's, a lab's, another tool's): a
    student's own Service holds their port, which stays theirs."""
    return {
        int(port["nodePort"])
        for service in kube.list("services", all_namespaces=True)
        if not service["metadata"].get("namespace", "").startswith(m.student_namespace(""))
        for port in (service.get("spec") or {}).get("ports") or []
        if port.get("nodePort")
    }


def class_addresses(kube: Kube, values: Values, values_file: str, is_kind: bool) -> dict[str, dict[str, str]]:
    """Each student's static IPs for the labs of the class that ask for one by value ({} when none does): on kind
    from the class's own bands of the kind network (grader.cluster.net.class_bands), skipping every node's and
    container's address; elsewhere the values file's static_ips, which must give every student each one."""
    wanted = assignment.address_variables(load_lab(lab).variables for lab in values.labs)
    if not wanted:
        return {}
    if is_kind:
        if values.static_ips:
            raise BadInput(
                "static_ips is given, but this is the kind lab cluster",
                file=values_file,
                rule="on kind the classroom carves each student's static IPs from the kind network itself",
                fix="remove static_ips (it is for clusters whose load balancer has addresses of its own: AKS)",
            )
        subnet = docker.kind_ipv4_subnet()
        if subnet is None:
            raise EnvError(
                f"cannot read the kind docker network's IPv4 subnet (docker network inspect {docker.KIND_NETWORK})"
            )
        try:
            bands = class_bands(subnet)
        except ValueError as err:
            raise EnvError(str(err)) from None
        taken = docker.kind_network_addresses() | {internal_ip(node) for node in kube.list("nodes")}
        # an address another pool holds already: MetalLB's webhook would refuse the class's pool over it
        others = [p for p in kube.list(metallb.POOL_RESOURCE, metallb.NAMESPACE) if not _classroom_object(p)]
        taken |= metallb.in_pools(others, [*bands.static, *bands.internal])
        chosen = {assignment.STATIC_IP: bands.static, assignment.INTERNAL_STATIC_IP: bands.internal}
        try:
            return assignment.static_addresses(values.students, {var: chosen[var] for var in wanted}, taken)
        except BadInput as err:
            raise BadInput(err.message, file=values_file, rule=err.rule, fix=err.fix) from None
    labs = [lab for lab in values.labs if set(load_lab(lab).variables) & set(wanted)]
    for student in values.students:
        lacking = [var for var in wanted if var not in values.static_ips.get(student, {})]
        if lacking:
            example = ", ".join(f"{var}: <address>" for var in wanted)
            raise BadInput(
                f"student {student} has no {' or '.join(lacking)} in static_ips, which the labs "
                f"{', '.join(labs)} ask for by value",
                file=values_file,
                rule="off kind the classroom cannot make static IPs: each student's are Azure static IPs the "
                "instructor makes and lists (README 'Teach a class on AKS')",
                fix=f"add static_ips: {{{student}: {{{example}}}}} for each student, or leave {', '.join(labs)} out",
            )
    return {student: {var: values.static_ips[student][var] for var in wanted} for student in values.students}


def _classroom_object(obj: Obj) -> bool:
    return bool((obj["metadata"].get("labels") or {}).get(m.CLASSROOM_KEY) == m.HUB_NAMESPACE)


def class_policy(labs: tuple[str, ...]) -> LabPolicy:
    """The labs' policies merged, and the kinds of their starters: in a classroom the student's own apply() writes
    the starter (a Deployment, a Pod, a Secret) with the student's rights, as it does on a learner's own cluster."""
    specs = [load_lab(lab) for lab in labs]
    merged = m.merged_policy([spec.policy for spec in specs])
    starters = (doc.kind for spec in specs for doc in starter_docs(spec))
    return replace(merged, kinds=tuple(dict.fromkeys((*merged.kinds, *starters))))


def start_grading(kube: Kube, made: Plan, values: Values, hub: str, say: Say) -> list[str]:
    """The grading service beside the kind cluster (grader.classroom.grading): the warm probe pods it execs into
    made with this (the instructor's) kubeconfig, its containers (grading.replicas of them, sharing the PostgreSQL
    gradebook when more than one) started with its own account's token, then the students' servers pointed at
    them. hub: the proxy's address (the containers reach the hub's API there). Returns their addresses on the kind
    network."""
    ProbePods(kube, m.RUN_ID).start()  # its account may run probe pods, not make their namespaces
    cluster = made.kind_cluster or ""
    config = wait_for(
        lambda: _grading_kubeconfig(kube, cluster),
        what=f"the token of {m.HUB_NAMESPACE}/{grading.ACCOUNT}",
        timeout_s=60,
    )
    secret = made.secrets
    settings = {
        "SERVICELAB_KUBECONFIG_TEXT": config,
        "SERVICELAB_INSTRUCTOR_TOKEN": secret[grading.INSTRUCTOR_TOKEN],
        "SERVICELAB_VARIABLES_JSON": json.dumps(made.room.variables),
        # its volume's SQLite file, or the instructor's PostgreSQL URL (a password: in the env, never argv)
        "SERVICELAB_GRADEBOOK": values.gradebook or grading.GRADEBOOK,
        # the class page behind the hub's login: the container reaches the hub through its proxy's node port
        **hubservice.container_settings(hub, secret[hubservice.API_TOKEN], secret[hubservice.SESSION_SECRET]),
    }
    names = grading.container_names(values.grading_replicas)
    grading.remove_containers(keep=tuple(names))  # an earlier `up` with more replicas
    started = {name: grading.start_container(made.grading_image, settings, name) for name in names}
    addresses = list(started.values())
    containers = m.hosts(tuple(addresses))
    reach = [obj for student in values.students for obj in grading.student_objects(student, containers)]
    for obj in (grading.endpoints_object(addresses), grading.hub_egress(containers), *reach):
        kube.apply(json.dumps(obj))
    wait_for(partial(_grading_answers, started), what="the grading containers answering", timeout_s=120)
    book = redacted(values.gradebook) or f"{grading.GRADEBOOK} on volume {grading.GRADEBOOK_VOLUME}"
    where = ", ".join(f"{name} at {address}" for name, address in started.items())
    say(f"grading service: {where}, for the class {grading.URL}; gradebook {book}")
    return addresses


def start_in_cluster(kube: Kube, say: Say) -> None:
    """The grading service as a Deployment (grader.classroom.incluster): the warm probe pods it execs into made
    with this (the instructor's) kubeconfig, then its pod ready."""
    ProbePods(kube, m.RUN_ID).start()
    wait_for(
        lambda: rollout_ready(kube, m.HUB_NAMESPACE, "deployment", incluster.DEPLOYMENT),
        what=f"the grading service (deployment {m.HUB_NAMESPACE}/{incluster.DEPLOYMENT}) ready",
        timeout_s=incluster.READY_S,
    )
    say(f"grading service: deployment {m.HUB_NAMESPACE}/{incluster.DEPLOYMENT}, for the class {grading.URL}")


@api_errors_are_state
def _grading_kubeconfig(kube: Kube, cluster: str) -> tuple[str | None, str]:
    try:
        return grading.kubeconfig_text(kube, cluster), "filled"
    except EnvError as err:
        return None, err.diagnosis


def _grading_answers(started: dict[str, str]) -> tuple[bool | None, str]:
    """Each grading container's /healthz (name -> address), asked from this machine (on the kind network's host)."""
    import requests  # noqa: PLC0415 - ~0.03 s, only here

    silent = []
    for name, address in started.items():
        try:
            answer = requests.get(f"http://{address}:{grading.PORT}/healthz", timeout=5)
        except requests.RequestException as err:
            state = docker.container_state(name) or {}
            silent.append(f"{name}: {type(err).__name__}; container {(state.get('State') or {}).get('Status', 'gone')}")
            continue
        if answer.status_code != 200:
            silent.append(f"{name}: HTTP {answer.status_code}")
    return (None if silent else True), "; ".join(silent) or "every one answers"


def api_server(kube: Kube) -> tuple[tuple[str, ...], int]:
    """The addresses and port the Kubernetes API's Service sends to: what a NetworkPolicy sees after the DNAT."""
    slices = kube.list("endpointslices.discovery.k8s.io", "default", selector="kubernetes.io/service-name=kubernetes")
    addresses = tuple(sorted({a for s in slices for e in s.get("endpoints") or [] for a in e.get("addresses") or []}))
    ports = {p.get("port") for s in slices for p in s.get("ports") or [] if p.get("name") == "https"}
    if not addresses or len(ports) != 1:
        raise EnvError(f"cannot tell the Kubernetes API's endpoints (default/kubernetes): {addresses} {ports}")
    return addresses, int(ports.pop())


# The in-tree host-path provisioner (kube-controller-manager --enable-hostpath-provisioner, what the offline kind
# node image's `standard` class uses) makes a PV directory on one node, root-owned; the hub (uid 1000) cannot write
# into it, and a hub moved to another node would find another, empty, directory.
NOT_FOR_THE_HUB = frozenset({"kubernetes.io/host-path"})


def hub_state(kube: Kube, values: Values, values_file: str) -> str:
    """pvc or emptyDir: the values' choice, `auto` resolved; BadInput for a pvc no StorageClass can serve."""
    if values.hub_state == "emptyDir":
        return "emptyDir"
    classes = kube.list("storageclasses.storage.k8s.io")
    default = "storageclass.kubernetes.io/is-default-class"
    chosen = [
        sc
        for sc in classes
        if (sc["metadata"]["name"] == values.storage_class)
        or (not values.storage_class and (sc["metadata"].get("annotations") or {}).get(default) == "true")
    ]
    usable = bool(chosen) and chosen[0].get("provisioner") not in NOT_FOR_THE_HUB
    if values.hub_state == "auto":
        return "pvc" if usable else "emptyDir"
    if not usable:
        what = f"StorageClass '{values.storage_class}'" if values.storage_class else "a default StorageClass"
        found = f" (provisioner {chosen[0].get('provisioner')})" if chosen else ""
        raise BadInput(
            f"hub_state: pvc needs {what} whose volumes the hub (uid {m.HUB_UID}) can write; none here{found}",
            file=values_file,
            rule="the in-tree host-path provisioner gives root-owned directories on one node",
            fix="hub_state: auto (or emptyDir), or name a StorageClass of a CSI driver or local-path in storage_class",
        )
    return "pvc"


def _images(values: Values, values_file: str, on_kind: bool) -> tuple[str, str]:
    if values.hub_image and values.singleuser_image:
        return values.hub_image, values.singleuser_image
    built = classroom_images() if on_kind else {}
    hub = values.hub_image or built.get(versions.CLASSROOM_HUB_IMAGE, "")
    singleuser = values.singleuser_image or built.get(versions.CLASSROOM_SINGLEUSER_IMAGE, "")
    if hub and singleuser:
        return hub, singleuser
    where = "on kind, build them: python3 tools/offline-images/build.py --classroom" if on_kind else ""
    raise BadInput(
        "no image for the " + ("hub" if not hub else "students' servers"),
        file=values_file,
        rule="images.hub and images.singleuser name the images; on kind the offline build's are the default",
        fix=where or "name both images (in a registry the cluster pulls from) under images:",
    )


def grading_runs(values: Values, values_file: str, on_kind: bool) -> str:
    """Where the grading service runs: the values' grading.runs, auto being the container on kind, else a pod."""
    runs = values.grading_runs if values.grading_runs != "auto" else (CONTAINER if on_kind else IN_CLUSTER)
    if runs == CONTAINER and not on_kind:
        raise BadInput(
            "grading.runs: container is for the kind lab cluster",
            file=values_file,
            rule="the container runs beside the kind cluster, on its docker network",
            fix="grading: {runs: in-cluster} (or auto) on this cluster",
        )
    return runs


def _grading_image(values: Values, values_file: str, on_kind: bool) -> str:
    image = values.grading_image or (classroom_images().get(versions.CLASSROOM_GRADING_IMAGE, "") if on_kind else "")
    if not image:
        raise BadInput(
            "no image for the grading service",
            file=values_file,
            rule="images.grading names it; on kind the offline build's image is the default",
            fix="build it: python3 tools/offline-images/build.py --classroom"
            if on_kind
            else "name it (in a registry the cluster pulls from) under images: grading",
        )
    return image


def _secret_values(kube: Kube, values: Values) -> dict[str, str]:
    """The passwords and API token: the values' own, else those of an earlier `up`, else new ones."""
    earlier = kube.get("secret", m.SECRET, m.HUB_NAMESPACE) or {}
    kept = {key: base64.b64decode(text).decode() for key, text in (earlier.get("data") or {}).items()}
    return {
        m.STUDENT_PASSWORD: values.student_password or kept.get(m.STUDENT_PASSWORD) or secrets.token_urlsafe(12),
        m.INSTRUCTOR_PASSWORD: values.instructor_password
        or kept.get(m.INSTRUCTOR_PASSWORD)
        or secrets.token_urlsafe(32),
        m.API_TOKEN: kept.get(m.API_TOKEN) or secrets.token_hex(32),
        grading.INSTRUCTOR_TOKEN: kept.get(grading.INSTRUCTOR_TOKEN) or secrets.token_hex(32),
        hubservice.API_TOKEN: kept.get(hubservice.API_TOKEN) or secrets.token_hex(32),
        hubservice.SESSION_SECRET: kept.get(hubservice.SESSION_SECRET) or secrets.token_hex(32),
    }


def _load_images(cluster: str, images: tuple[str, ...], say: Say) -> None:
    kind = Kind(find_kind(allow_download=False), cluster)
    nodes = kind.node_containers()
    for image in images:
        missing = [node for node in nodes if not node_has_image(node, image)]
        if missing:
            say(f"loading {image} into {', '.join(missing)}")
            kind.load_image(image)


@api_errors_are_state
def _guard_checked(kube: Kube, name: str = m.GUARD_POLICY) -> tuple[bool | None, str]:
    policy = kube.get("validatingadmissionpolicy", name)
    if policy is None:
        return None, "not stored"
    status = policy.get("status") or {}
    if status.get("observedGeneration") != policy["metadata"].get("generation"):
        return None, "not type-checked yet"
    warnings = (status.get("typeChecking") or {}).get("expressionWarnings") or []
    if warnings:
        raise EnvError(f"{name}: the API server's type check warns: {warnings}")
    return True, "type-checked"


@api_errors_are_state
def proxy_address(kube: Kube) -> tuple[str | None, str]:
    """The URL the class opens: a worker's address and the node port, or the load balancer's address."""
    addresses = proxy_addresses(kube)
    return (addresses[0] if addresses else None), f"proxy addresses: {addresses or 'none yet'}"


def proxy_addresses(kube: Kube) -> list[str]:
    """Every URL of the proxy: each node's (workers first) with the node port, or the load balancer's."""
    service = kube.get("service", m.PROXY_SERVICE, m.HUB_NAMESPACE)
    if service is None:
        return []
    spec = service.get("spec") or {}
    if spec.get("type") == "LoadBalancer":
        ingress = (service.get("status") or {}).get("loadBalancer", {}).get("ingress") or []
        return [f"http://{i.get('ip') or i.get('hostname')}/" for i in ingress if i.get("ip") or i.get("hostname")]
    port = (spec.get("ports") or [{}])[0].get("nodePort")
    nodes = sorted(kube.list("nodes"), key=lambda n: "node-role.kubernetes.io/control-plane" in n["metadata"]["labels"])
    return [f"http://{ip}:{port}/" for ip in map(internal_ip, nodes) if ip and port]


def answering(kube: Kube) -> tuple[str | None, str]:
    """The first of the proxy's addresses where the hub's API answers (kube-proxy opens a new node port on each
    node within its sync period; a node that restarted may not open it at all: grader.cluster.nodeports)."""
    import requests  # noqa: PLC0415 - ~0.03 s, only here

    seen = []
    for url in proxy_addresses(kube):
        try:
            answer = requests.get(f"{url}hub/api/", timeout=5)
        except requests.RequestException as err:
            seen.append(f"{url}: {type(err).__name__}")
            continue
        if answer.status_code == 200:
            return url, f"{url} answers"
        seen.append(f"{url}: HTTP {answer.status_code}")
    return None, "; ".join(seen) or "no address yet"


# --- status ------------------------------------------------------------------------------------------------------
@dataclass
class StudentState:
    name: str
    namespace: str
    server: str  # "running", "starting (Pending)", "none"


@dataclass
class Status:
    hub_ready: bool
    hub_state: str
    address: str
    students: list[StudentState] = field(default_factory=list)
    grading: str = ""  # the grading service: where it runs, or why not

    def render(self) -> str:
        lines = [
            f"hub:   {'ready' if self.hub_ready else 'NOT READY'} ({self.hub_state})",
            f"proxy: {self.address or 'no address'}",
            f"grading: {self.grading or 'not deployed'}",
            f"login: kubectl -n {m.HUB_NAMESPACE} get secret {m.SECRET} -o jsonpath='{{.data}}'"
            f" (base64: {m.STUDENT_PASSWORD}, {m.INSTRUCTOR_PASSWORD}, {m.API_TOKEN}, {grading.INSTRUCTOR_TOKEN})",
        ]
        lines += [f"student {s.name:<20} {s.namespace:<40} server {s.server}" for s in self.students]
        return "\n".join(lines)


def status(kube: Kube) -> Status | None:
    """None when there is no classroom on this cluster."""
    if kube.get("namespace", m.HUB_NAMESPACE) is None:
        return None
    ready, state = rollout_ready(kube, m.HUB_NAMESPACE, "deployment", m.DEPLOYMENT)
    address, _ = answering(kube)  # where the hub answers from here, else where it should
    found = Status(bool(ready), state, address or proxy_address(kube)[0] or "")
    if kube.get("deployment", incluster.DEPLOYMENT, m.HUB_NAMESPACE) is not None:
        ready, state = rollout_ready(kube, m.HUB_NAMESPACE, "deployment", incluster.DEPLOYMENT)
        found.grading = f"deployment {m.HUB_NAMESPACE}/{incluster.DEPLOYMENT}: " + ("ready" if ready else state)
    elif kind_cluster_of(kube.list("nodes")) is not None:
        found.grading = ", ".join(
            f"container {name} at {at}" if (at := grading.container_address(name)) else f"container {name} NOT RUNNING"
            for name in grading.class_containers() or [grading.CONTAINER]
        )
    role = f"{podguard.ROLE_KEY}={m.STUDENT_ROLE}"
    for ns in sorted(kube.list("namespaces", selector=f"{SELECTOR},{role}"), key=lambda n: n["metadata"]["name"]):
        name = ns["metadata"]["name"]
        selector = ",".join(f"{k}={v}" for k, v in m.SERVER_POD_LABELS.items())
        pods = kube.list("pods", name, selector=selector)
        found.students.append(StudentState(name.removeprefix(m.student_namespace("")), name, _server_state(pods)))
    return found


def _server_state(pods: list[Obj]) -> str:
    if not pods:
        return "none"
    pod = pods[0]
    phase = (pod.get("status") or {}).get("phase", "?")
    conditions = (pod.get("status") or {}).get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    return f"running ({pod['metadata']['name']})" if phase == "Running" and ready else f"starting ({phase})"


# --- down --------------------------------------------------------------------------------------------------------
def down(kube: Kube, *, say: Say = print, timeout_s: float = DOWN_S) -> list[str]:
    """Delete every object with the classroom label, then wait until they and the hub's volume are gone."""
    deleted: list[str] = []
    claims = _claimed_volumes(kube)
    for ns in kube.list("namespaces", selector=SELECTOR):
        kube.delete("namespace", ns["metadata"]["name"])
        deleted.append(f"namespace/{ns['metadata']['name']}")
    for kind in CLUSTER_KINDS:
        for obj in kube.list(kind, selector=SELECTOR):
            kube.delete(kind, obj["metadata"]["name"])
            deleted.append(f"{kind}/{obj['metadata']['name']}")
    for kind, name in class_pool_objects(kube):
        kube.delete(kind, name, metallb.NAMESPACE)
        deleted.append(f"{kind}/{metallb.NAMESPACE}/{name}")
    for namespace in grading.FOREIGN_NAMESPACES:  # the grading account's bindings where the classroom owns nothing
        for obj in kube.list("rolebindings.rbac.authorization.k8s.io", namespace, selector=SELECTOR):
            kube.delete("rolebindings.rbac.authorization.k8s.io", obj["metadata"]["name"], namespace)
            deleted.append(f"rolebinding/{namespace}/{obj['metadata']['name']}")
    if kind_cluster_of(kube.list("nodes")) is not None:
        deleted += grading.remove_containers_and_gradebook()
    if deleted:
        say(f"deleting {len(deleted)} objects: {', '.join(deleted)}")
    wait_for(lambda: _gone(kube, claims), what="the classroom gone", timeout_s=timeout_s, max_interval_s=5)
    return deleted


def class_pool_objects(kube: Kube) -> list[tuple[str, str]]:
    """(resource, name) of the classroom's objects in MetalLB's namespace; none where MetalLB is not (AKS)."""
    found = []
    for kind in METALLB_KINDS:
        try:
            found += [(kind, obj["metadata"]["name"]) for obj in kube.list(kind, metallb.NAMESPACE, selector=SELECTOR)]
        except UnknownKind:
            continue
    return found


def _claimed_volumes(kube: Kube) -> set[str]:
    """The PersistentVolumes bound to the classroom's claims (the provisioner deletes them after the claims)."""
    namespaces = {ns["metadata"]["name"] for ns in kube.list("namespaces", selector=SELECTOR)}
    return {
        pv["metadata"]["name"]
        for pv in kube.list("persistentvolumes")
        if ((pv.get("spec") or {}).get("claimRef") or {}).get("namespace") in namespaces
    }


@api_errors_are_state
def _gone(kube: Kube, volumes: set[str]) -> tuple[bool | None, str]:
    left = [f"namespace/{ns['metadata']['name']}" for ns in kube.list("namespaces", selector=SELECTOR)]
    left += [f"{kind}/{o['metadata']['name']}" for kind in CLUSTER_KINDS for o in kube.list(kind, selector=SELECTOR)]
    left += [f"persistentvolume/{pv}" for pv in sorted(volumes) if kube.get("persistentvolume", pv) is not None]
    left += [f"{kind}/{metallb.NAMESPACE}/{name}" for kind, name in class_pool_objects(kube)]
    left += [
        f"rolebinding/{ns}/{o['metadata']['name']}"
        for ns in grading.FOREIGN_NAMESPACES
        for o in kube.list("rolebindings.rbac.authorization.k8s.io", ns, selector=SELECTOR)
    ]
    return (True if not left else None), f"left: {', '.join(left)}" if left else "nothing left"
