"""The classroom's objects (grader.classroom.manifests), made without a cluster: what each namespace gets, the
hub's rights, the pod guard of student namespaces, and the hub's config as JupyterHub reads it."""

from __future__ import annotations

import asyncio
import json
import sys
import types
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from grader.base import images
from grader.classroom import hubservice
from grader.classroom import manifests as m
from grader.cluster import metallb, podguard
from grader.cluster.facts import ClusterFacts
from grader.grading import fence
from grader.intake.labpolicy import LabPolicy, ServiceRules
from grader.kube.api import Session
from grader.kube.client import OWNER_KEY, Obj, parse_manifest
from grader.parallel.claims import STATIC_IP_ANNOTATIONS

REPO = Path(__file__).resolve().parents[3]
SINGLEUSER = "servicelab.local/classroom-singleuser:6.1.1-abc"
ROOM = m.Classroom(
    students=("alice", "bob"),
    instructors=("teacher",),
    policy=LabPolicy(kinds=("Service", "Deployment")),
    hub_image="servicelab.local/classroom-hub:6.1.1-abc",
    singleuser_image=SINGLEUSER,
    cpu_request="100m",
    cpu_limit="500m",
    memory_request="256Mi",
    memory_limit="512Mi",
    proxy_type="NodePort",
    node_port=31880,
    hub_state="pvc",
    storage_class="",
    api_server=(("172.18.0.5",), 6443),
)
FACTS = ClusterFacts(context="kind-servicelab", is_kind=True, nodes=[], pod_cidrs=("10.244.0.0/16",))
SECRET = {m.STUDENT_PASSWORD: "students-pw", m.INSTRUCTOR_PASSWORD: "i" * 32, m.API_TOKEN: "t" * 64}


def _all(room: m.Classroom = ROOM) -> list[Obj]:
    students = [obj for s in room.students for obj in m.student_objects(room, s, FACTS)]
    return [*m.cluster_objects(room), *students, *m.hub_objects(room, SECRET)]


def _named(objects: list[Obj], kind: str, name: str, namespace: str | None = None) -> Obj:
    (found,) = [
        o
        for o in objects
        if o["kind"] == kind and o["metadata"]["name"] == name and o["metadata"].get("namespace") == namespace
    ]
    return found


def test_every_object_carries_the_classroom_marks_and_stays_in_its_namespaces() -> None:
    addressed = replace(ROOM, variables=ADDRESSED, class_pools=True)
    for obj in _all(addressed):
        meta = obj["metadata"]
        assert meta["labels"][m.CLASSROOM_KEY] == m.HUB_NAMESPACE, meta["name"]
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "servicelab"
        assert OWNER_KEY in meta["annotations"]
        namespace = meta.get("namespace")
        if namespace is None and obj["kind"] != "Namespace":
            assert meta["name"].startswith(m.PREFIX), obj["kind"]
        elif namespace is not None:
            assert namespace in (m.HUB_NAMESPACE, metallb.NAMESPACE) or namespace.startswith("servicelab-student-")
            assert namespace != metallb.NAMESPACE or meta["name"].startswith(m.PREFIX)  # the class's pools


def test_a_student_namespace_is_fenced_and_walled_like_a_grading_namespace() -> None:
    objects = m.student_objects(ROOM, "alice", FACTS)
    namespace = "servicelab-student-alice"
    ns = _named(objects, "Namespace", namespace)
    assert ns["metadata"]["labels"][podguard.ROLE_KEY] == m.STUDENT_ROLE
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
    expected_fence = {(o["kind"], o["metadata"]["name"]) for o in fence.fence(namespace, m.RUN_ID, ROOM.policy)}
    assert expected_fence <= kinds
    assert ("NetworkPolicy", "servicelab-deny-all") in kinds
    role = _named(objects, "Role", fence.LEARNER_ACCOUNT, namespace)
    assert {r["resources"][0] for r in role["rules"]} == {"services", "deployments"}  # the labs' kinds
    for obj in objects:  # nothing reaches outside the namespace
        if obj["kind"] in ("Role", "RoleBinding"):
            assert obj["metadata"]["namespace"] == namespace
        for subject in obj.get("subjects", []):
            assert (subject["namespace"], subject["name"]) in {
                (namespace, fence.LEARNER_ACCOUNT),
                (m.HUB_NAMESPACE, m.HUB_ACCOUNT),
            }


def test_the_server_may_talk_to_the_hub_and_the_api_and_is_reached_only_by_the_hub() -> None:
    objects = m.student_objects(ROOM, "alice", FACTS)
    namespace = "servicelab-student-alice"
    proxy_in = _named(objects, "NetworkPolicy", "servicelab-classroom-proxy-in", namespace)["spec"]
    assert proxy_in["podSelector"] == {"matchLabels": m.SERVER_POD_LABELS}
    ((peer,),) = [rule["from"] for rule in proxy_in["ingress"]]
    assert peer["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": m.HUB_NAMESPACE}}
    assert proxy_in["ingress"][0]["ports"] == [{"protocol": "TCP", "port": m.SERVER_PORT}]
    hub_out = _named(objects, "NetworkPolicy", "servicelab-classroom-hub-out", namespace)["spec"]
    assert hub_out["egress"][0]["ports"] == [{"protocol": "TCP", "port": m.HUB_PORT}]
    api_out = _named(objects, "NetworkPolicy", "servicelab-classroom-api-out", namespace)["spec"]
    assert api_out["egress"] == [
        {"to": [{"ipBlock": {"cidr": "172.18.0.5/32"}}], "ports": [{"protocol": "TCP", "port": 6443}]}
    ]


def test_the_hub_may_watch_pods_everywhere_but_create_them_only_in_student_namespaces() -> None:
    objects = _all()
    rules = {
        o["metadata"]["name"]: o["rules"] for o in objects if o["kind"] in ("ClusterRole", "Role") and "rules" in o
    }
    watch, spawn = rules[m.WATCH_ROLE], rules[m.SPAWN_ROLE]
    assert {(r["resources"][0], tuple(r["verbs"])) for r in watch} == {
        ("pods", ("get", "list", "watch")),
        ("events", ("list", "watch")),
    }
    assert spawn == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "delete"]}]
    for rule in [r for rs in rules.values() for r in rs]:
        assert not {"namespaces", "secrets", "*"} & set(rule["resources"])
        assert "*" not in rule["verbs"]
    (cluster_binding,) = [o for o in objects if o["kind"] == "ClusterRoleBinding"]
    assert cluster_binding["roleRef"]["name"] == m.WATCH_ROLE
    spawn_bindings = [o for o in objects if o["kind"] == "RoleBinding" and o["roleRef"]["name"] == m.SPAWN_ROLE]
    assert sorted(b["metadata"]["namespace"] for b in spawn_bindings) == [
        "servicelab-student-alice",
        "servicelab-student-bob",
    ]


def test_the_student_namespaces_get_the_pod_guard_under_a_name_of_their_own() -> None:
    policy, binding = m.cluster_objects(ROOM)[:2]
    assert policy["metadata"]["name"] == binding["spec"]["policyName"] == m.GUARD_POLICY
    (selector,) = binding["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"]
    assert selector == {"key": podguard.ROLE_KEY, "operator": "In", "values": [m.STUDENT_ROLE]}
    assert m.STUDENT_ROLE not in podguard.GUARDED_ROLES  # the grading guard would refuse the server's image
    validations = {v["message"].split(":", 1)[0]: v["expression"] for v in policy["spec"]["validations"]}
    assert SINGLEUSER in validations["image"]
    assert all(image in validations["image"] for image in images.LAB_IMAGES)
    assert f'"{fence.LEARNER_ACCOUNT}"' in validations["service-account"]
    # the same rules as the grading guard, apart from images and ServiceAccounts
    grading = parse_manifest(podguard.policy_manifest())[0]["spec"]["validations"]
    same = {v["message"].split(":", 1)[0]: v["expression"] for v in grading}
    for rule in ("image", "service-account"):
        assert validations.pop(rule) != same.pop(rule)
    assert validations == same


def _server_pod(**changes: Any) -> Obj:
    """The pod KubeSpawner 7.1.0 made for a student on the cluster (its fields the guard reads)."""
    container = {
        "name": "notebook",
        "image": SINGLEUSER,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"containerPort": 8888, "name": "notebook-port"}],
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "runAsUser": 1000, "runAsGroup": 100},
    }
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "jupyter-alice", "labels": {"component": "singleuser-server"}},
        "spec": {
            "automountServiceAccountToken": True,
            "serviceAccountName": fence.LEARNER_ACCOUNT,
            "containers": [container],
            "securityContext": {"fsGroup": 100},
        },
    }
    pod["spec"].update(changes)
    return pod


def test_the_guard_admits_the_students_server_and_refuses_what_it_refuses_in_grading() -> None:
    celpy = pytest.importorskip("celpy", reason="cel-python (a dev dependency) evaluates the policy's CEL")
    policy = m.cluster_objects(ROOM)[0]
    env = celpy.Environment()

    def broken(pod: Obj) -> list[str]:
        activation: dict[str, Any] = {
            "object": celpy.json_to_cel(pod),
            "request": celpy.json_to_cel({"operation": "CREATE"}),
        }
        variables: dict[Any, Any] = {}
        for variable in policy["spec"]["variables"]:
            activation["variables"] = celpy.celtypes.MapType(variables)
            program = env.program(env.compile(variable["expression"]))
            variables[celpy.celtypes.StringType(variable["name"])] = program.evaluate(activation)
        activation["variables"] = celpy.celtypes.MapType(variables)
        return [
            v["message"].split(":", 1)[0]
            for v in policy["spec"]["validations"]
            if not bool(env.program(env.compile(v["expression"])).evaluate(activation))
        ]

    assert broken(_server_pod()) == []
    assert broken(_server_pod(serviceAccountName="hub")) == ["service-account"]
    assert broken(_server_pod(hostNetwork=True)) == ["host-namespaces"]
    other = _server_pod()
    other["spec"]["containers"][0]["image"] = "docker.io/library/nginx:latest"
    assert broken(other) == ["image"]


def test_the_hub_runs_restricted_with_its_state_where_the_values_say() -> None:
    objects = m.hub_objects(ROOM, SECRET)
    ns = _named(objects, "Namespace", m.HUB_NAMESPACE)
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    deployment = _named(objects, "Deployment", m.DEPLOYMENT, m.HUB_NAMESPACE)
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert {"name": "data", "persistentVolumeClaim": {"claimName": m.STATE_CLAIM}} in pod["volumes"]
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    _named(objects, "PersistentVolumeClaim", m.STATE_CLAIM, m.HUB_NAMESPACE)

    ephemeral = m.hub_objects(replace(ROOM, hub_state="emptyDir"), SECRET)
    assert not [o for o in ephemeral if o["kind"] == "PersistentVolumeClaim"]
    pod = _named(ephemeral, "Deployment", m.DEPLOYMENT, m.HUB_NAMESPACE)["spec"]["template"]["spec"]
    assert {"name": "data", "emptyDir": {}} in pod["volumes"]


def test_the_proxy_is_a_node_port_or_a_load_balancer() -> None:
    node_port = _named(m.hub_objects(ROOM, SECRET), "Service", m.PROXY_SERVICE, m.HUB_NAMESPACE)["spec"]
    assert node_port["type"] == "NodePort"
    assert node_port["ports"] == [{"name": "http", "port": 80, "targetPort": m.PROXY_PORT, "nodePort": 31880}]
    balanced = m.hub_objects(replace(ROOM, proxy_type="LoadBalancer"), SECRET)
    spec = _named(balanced, "Service", m.PROXY_SERVICE, m.HUB_NAMESPACE)["spec"]
    assert spec["type"] == "LoadBalancer"
    assert "nodePort" not in spec["ports"][0]


def test_a_changed_config_rolls_the_hub_pod() -> None:
    def digest(room: m.Classroom) -> str:
        deployment = _named(m.hub_objects(room, SECRET), "Deployment", m.DEPLOYMENT, m.HUB_NAMESPACE)
        return str(deployment["spec"]["template"]["metadata"]["annotations"]["servicelab.dev/config-digest"])

    assert digest(ROOM) == digest(ROOM)
    assert digest(ROOM) != digest(replace(ROOM, students=("alice", "bob", "carol")))


def test_the_hub_config_is_what_jupyterhub_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    from traitlets.config import Config  # noqa: PLC0415 - JupyterHub's own config type

    fake = types.ModuleType("kubespawner")
    fake.KubeSpawner = type("KubeSpawner", (), {})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "kubespawner", fake)
    monkeypatch.setenv("CLASSROOM_STUDENT_PASSWORD", SECRET[m.STUDENT_PASSWORD])
    monkeypatch.setenv("CLASSROOM_INSTRUCTOR_PASSWORD", SECRET[m.INSTRUCTOR_PASSWORD])
    monkeypatch.setenv("CLASSROOM_API_TOKEN", SECRET[m.API_TOKEN])
    monkeypatch.setenv("CLASSROOM_GRADING_API_TOKEN", "g" * 64)
    config = Config()
    scope: dict[str, Any] = {"get_config": lambda: config}
    graded = replace(ROOM, grading=True)
    exec(compile(m.hub_config(graded)["jupyterhub_config.py"], "jupyterhub_config.py", "exec"), scope)
    spawner = config.KubeSpawner
    assert spawner.enable_user_namespaces is True
    assert spawner.user_namespace_template == "servicelab-student-{username}"
    assert spawner.image == SINGLEUSER
    assert spawner.image_pull_policy == "IfNotPresent"
    assert (spawner.cpu_guarantee, spawner.cpu_limit) == (0.1, 0.5)
    assert (spawner.mem_guarantee, spawner.mem_limit) == (256 * 2**20, 512 * 2**20)
    assert spawner.service_account == fence.LEARNER_ACCOUNT
    assert spawner.automount_service_account_token is True
    assert spawner.environment["KUBECONFIG"] == f"{m.KUBECONFIG_DIR}/kubeconfig"
    assert spawner.volumes == [{"name": "servicelab-kubeconfig", "configMap": {"name": m.KUBECONFIG_MAP}}]
    assert spawner.volume_mounts[0]["mountPath"] == m.KUBECONFIG_DIR
    assert spawner.environment["SERVICELAB_GRADING_URL"] == "http://grading.servicelab-classroom.svc.cluster.local"
    start = spawner.lifecycle_hooks["postStart"]["exec"]["command"]
    assert start[:2] == ["sh", "-c"]
    assert 'servicelab notebooks "$HOME/servicelab-notebooks"' in start[2]
    assert config.JupyterHub.authenticator_class == "shared-password"
    # the hub admits the users it has (the students `up` adds through its REST API), no fixed list
    assert "allowed_users" not in config.Authenticator
    assert config.Authenticator.allow_existing_users is True
    assert config.Authenticator.admin_users == {"teacher"}
    assert config.SharedPasswordAuthenticator.user_password == "students-pw"
    assert config.JupyterHub.services == [
        {"name": m.SERVICE_NAME, "api_token": "t" * 64},
        {**hubservice.service_entry(m.GRADING_URL), "api_token": "g" * 64},  # the class page behind the hub's login
    ]
    role, page = config.JupyterHub.load_roles
    assert role["scopes"] == ["admin:users", "admin:servers", "tokens"]
    assert page == hubservice.load_roles()[0]
    assert config.JupyterHub.hub_connect_url == "http://hub.servicelab-classroom.svc.cluster.local:8081"
    # the hub never makes a namespace: the spawner's namespace step is a no-op
    assert scope["ClassroomSpawner"].__bases__ == (fake.KubeSpawner,)  # type: ignore[attr-defined]


def test_the_hub_starts_no_server_for_a_user_without_a_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    async def start(self: object) -> str:
        return "started"

    fake = types.ModuleType("kubespawner")
    fake.KubeSpawner = type("KubeSpawner", (), {"start": start})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "kubespawner", fake)
    for name in ("CLASSROOM_STUDENT_PASSWORD", "CLASSROOM_INSTRUCTOR_PASSWORD", "CLASSROOM_API_TOKEN"):
        monkeypatch.setenv(name, "x")
    from traitlets.config import Config  # noqa: PLC0415 - JupyterHub's own config type

    scope: dict[str, Any] = {"get_config": Config}
    exec(compile(m.hub_config(ROOM)["jupyterhub_config.py"], "jupyterhub_config.py", "exec"), scope)
    spawner = scope["ClassroomSpawner"]()
    spawner.user = types.SimpleNamespace(name="alice")
    assert asyncio.run(spawner.start()) == "started"
    spawner.user = types.SimpleNamespace(name="zed")  # added on the hub's admin page, not to the values file
    with pytest.raises(Exception) as refused:  # noqa: PT011 - tornado's web.HTTPError, as the hub's config raises it
        asyncio.run(spawner.start())
    assert type(refused.value).__name__ == "HTTPError"
    assert refused.value.status_code == 403  # type: ignore[attr-defined]
    assert "zed has no namespace in this classroom" in str(refused.value.log_message)  # type: ignore[attr-defined]


def test_the_labs_policies_merge_into_one_namespace_policy() -> None:
    merged = m.merged_policy(
        [
            LabPolicy(kinds=("Service",), services=ServiceRules(types=("ClusterIP",), most=2, load_balancers=0)),
            LabPolicy(
                kinds=("Service", "Ingress"),
                egress=("partner",),
                services=ServiceRules(types=("ClusterIP", "LoadBalancer"), most=4, load_balancers=1),
            ),
        ]
    )
    assert merged.kinds == ("Service", "Ingress")
    assert merged.egress == ("partner",)
    assert merged.services == ServiceRules(types=("ClusterIP", "LoadBalancer"), most=4, load_balancers=1)


def test_the_server_gets_a_kubeconfig_of_its_own_token_in_its_own_namespace(tmp_path: Path) -> None:
    objects = m.student_objects(ROOM, "alice", FACTS)
    text = _named(objects, "ConfigMap", m.KUBECONFIG_MAP, "servicelab-student-alice")["data"]["kubeconfig"]
    account = tmp_path / "serviceaccount"  # where the kubelet mounts the token and CA, moved here to load it
    account.mkdir()
    (account / "token").write_text("eyJ-alices-token")
    (account / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    path = tmp_path / "kubeconfig"
    path.write_text(text.replace(m.SERVICE_ACCOUNT_DIR, str(account)))
    from kubernetes import client, config  # noqa: PLC0415 - as grader.kube.api loads it

    cfg = client.Configuration()
    config.load_kube_config(config_file=str(path), client_configuration=cfg, persist_config=False)
    assert cfg.host == "https://kubernetes.default.svc"
    assert cfg.get_api_key_with_prefix("BearerToken", alias="authorization") == "Bearer eyJ-alices-token"
    session = Session(None, str(path))
    assert session.client().configuration.host == "https://kubernetes.default.svc"
    assert session.namespace == "servicelab-student-alice"  # grader.kube's default namespace: the student's
    assert "ConfigMap" in {o["kind"] for o in objects}


VARIABLES = {"alice": {"NODE_PORT": "30412"}, "bob": {"NODE_PORT": "31050"}}


class AdmissionPolicy:
    """A ValidatingAdmissionPolicy's CEL, evaluated with cel-python as the API server would for one object: its
    variables in order, then its validations in order (the first that fails says the message)."""

    def __init__(self, policy: Obj) -> None:
        self.celpy = pytest.importorskip("celpy", reason="cel-python (a dev dependency) evaluates the policy's CEL")
        self.policy = policy
        env = self.celpy.Environment()
        self.compiled = [(v["name"], env.program(env.compile(v["expression"]))) for v in policy["spec"]["variables"]]
        self.checks = [
            (env.program(env.compile(c["expression"])), env.program(env.compile(c["messageExpression"])))
            for c in policy["spec"]["validations"]
        ]

    def evaluate(self, obj: Obj, namespace_meta: Obj) -> str | None:
        """None when admitted, else the policy's message; namespace_meta: the namespace's labels or annotations."""
        celpy = self.celpy
        activation: dict[str, Any] = {
            "object": celpy.json_to_cel(obj),
            "namespaceObject": celpy.json_to_cel({"metadata": {"name": "ns", **namespace_meta}}),
        }
        variables: dict[Any, Any] = {}
        for name, program in self.compiled:
            activation["variables"] = celpy.celtypes.MapType(variables)
            variables[celpy.celtypes.StringType(name)] = program.evaluate(activation)
        activation["variables"] = celpy.celtypes.MapType(variables)
        for check, message in self.checks:
            if not bool(check.evaluate(activation)):
                return str(message.evaluate(activation))
        return None


class PortWall(AdmissionPolicy):
    """The node-port wall, evaluated for one Service."""

    def __init__(self, variables: dict[str, dict[str, str]]) -> None:
        policy, self.binding = m.node_port_wall(variables)
        super().__init__(policy)

    def refusal(self, service: Obj, labels: dict[str, str]) -> str | None:
        """None when admitted, else the policy's message."""
        return self.evaluate(service, {"labels": labels})


def _svc(*node_ports: int | None, **spec: Any) -> Obj:
    ports = [{"name": f"p{i}", "port": 80 + i, **({"nodePort": p} if p else {})} for i, p in enumerate(node_ports)]
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": ports, **spec}}


def test_the_node_port_wall_keeps_each_student_off_the_others_ports() -> None:
    wall = PortWall(VARIABLES)
    alice = {m.NODE_PORT_KEY: "30412"}
    assert wall.refusal(_svc(30412), alice) is None  # her own
    assert wall.refusal(_svc(None), alice) is None  # none named (the API server may have picked one)
    assert wall.refusal(_svc(31999, 30412), alice) is None  # a port the cluster picked outside the class's
    assert wall.refusal({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": {}}, alice) is None
    said = wall.refusal(_svc(30412, 31050), alice)
    assert said is not None
    assert said.startswith("node-port: node port 31050 is another student's: yours is 30412; write nodePort: 30412")
    assert "bob" not in said  # no student learns who the others are
    health = _svc(None, type="LoadBalancer", externalTrafficPolicy="Local", healthCheckNodePort=31050)
    assert wall.refusal(health, alice) is not None
    unlabelled = wall.refusal(_svc(30412), {})
    assert unlabelled is not None
    assert unlabelled.endswith("this namespace has no node port of its own")
    assert PortWall({}).refusal(_svc(30412), {}) is None  # a class without ports refuses nothing


def test_the_node_port_wall_binds_the_student_namespaces_and_is_a_classroom_object() -> None:
    room = replace(ROOM, variables=VARIABLES)
    policy = _named(m.cluster_objects(room), "ValidatingAdmissionPolicy", m.PORT_WALL)
    binding = _named(m.cluster_objects(room), "ValidatingAdmissionPolicyBinding", m.PORT_WALL)
    assert m.PORT_WALL.startswith(m.PREFIX)
    for obj in (policy, binding):
        assert obj["metadata"]["labels"][m.CLASSROOM_KEY] == m.HUB_NAMESPACE
        assert OWNER_KEY in obj["metadata"]["annotations"]
    assert policy["spec"]["failurePolicy"] == "Fail"
    assert policy["spec"]["matchConstraints"]["resourceRules"][0]["resources"] == ["services"]
    assert binding["spec"] == {
        "policyName": m.PORT_WALL,
        "validationActions": ["Deny"],
        "matchResources": {"namespaceSelector": {"matchLabels": {podguard.ROLE_KEY: m.STUDENT_ROLE}}},
    }
    namespace = _named(m.student_objects(room, "alice", FACTS), "Namespace", "servicelab-student-alice")
    assert namespace["metadata"]["labels"][podguard.ROLE_KEY] == m.STUDENT_ROLE  # what the binding selects


def test_each_student_namespace_carries_its_node_port_and_the_students_variables() -> None:
    room = replace(ROOM, variables=VARIABLES)
    for student, own in VARIABLES.items():
        objects = m.student_objects(room, student, FACTS)
        namespace = f"servicelab-student-{student}"
        assert _named(objects, "Namespace", namespace)["metadata"]["labels"][m.NODE_PORT_KEY] == own["NODE_PORT"]
        data = _named(objects, "ConfigMap", m.KUBECONFIG_MAP, namespace)["data"]
        assert json.loads(data[m.VARIABLES_FILE]) == own
        assert "kubeconfig" in data
    bare = m.student_objects(ROOM, "alice", FACTS)  # no assignment: no label, an empty variables file
    assert m.NODE_PORT_KEY not in _named(bare, "Namespace", "servicelab-student-alice")["metadata"]["labels"]
    assert _named(bare, "ConfigMap", m.KUBECONFIG_MAP, "servicelab-student-alice")["data"][m.VARIABLES_FILE] == "{}"


def test_without_a_grading_service_the_hub_config_names_none(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("kubespawner")
    fake.KubeSpawner = type("KubeSpawner", (), {})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "kubespawner", fake)
    for key in ("STUDENT_PASSWORD", "INSTRUCTOR_PASSWORD", "API_TOKEN"):
        monkeypatch.setenv(f"CLASSROOM_{key}", "x" * 40)
    from traitlets.config import Config  # noqa: PLC0415 - JupyterHub's own config type

    config = Config()
    exec(compile(m.hub_config(ROOM)["jupyterhub_config.py"], "c.py", "exec"), {"get_config": lambda: config})
    assert "SERVICELAB_GRADING_URL" not in config.KubeSpawner.environment  # check() says so, no silent timeout
    assert [s["name"] for s in config.JupyterHub.services] == [m.SERVICE_NAME]


# --- the host wall ----------------------------------------------------------------------------------------------
ADA = {m.SHOP_HOST_KEY: "ada.shop.example"}


class HostWall(PortWall):
    """One of the host wall's policies (ingresses, routes, gateways), its CEL evaluated as the API server would."""

    def __init__(self, what: str) -> None:
        self.binding = _named(m.host_wall(), "ValidatingAdmissionPolicyBinding", f"{m.HOST_WALL}-{what}")
        AdmissionPolicy.__init__(self, _named(m.host_wall(), "ValidatingAdmissionPolicy", f"{m.HOST_WALL}-{what}"))


def _ingress(*hosts: str | None, default_backend: bool = False) -> Obj:
    backend = {"service": {"name": "store", "port": {"number": 80}}}
    rules = [{**({"host": h} if h else {}), "http": {"paths": [{"path": "/", "backend": backend}]}} for h in hosts]
    spec: Obj = {"rules": rules} if hosts else {}
    if default_backend:
        spec["defaultBackend"] = backend
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "shop"}, "spec": spec}


def test_the_host_wall_lets_an_ingress_name_the_namespaces_own_host_only() -> None:
    wall = HostWall("ingresses")
    assert wall.refusal(_ingress("ada.shop.example"), ADA) is None
    assert wall.refusal(_ingress("ada.shop.example", "ada.shop.example"), ADA) is None
    assert wall.refusal(_ingress(), ADA) is None  # routes nothing
    said = wall.refusal(_ingress("ada.shop.example", "bob.shop.example"), ADA)
    assert said == (
        "http-host: host bob.shop.example is not yours: yours is ada.shop.example; write host: ada.shop.example"
    )
    assert wall.refusal(_ingress("shop.example"), ADA) is not None  # the lab's default is nobody's in a classroom
    assert wall.refusal(_ingress("*.shop.example"), ADA) is not None  # a wildcard covers the others
    hostless = wall.refusal(_ingress(None), ADA)
    assert hostless == (
        "http-host: an Ingress rule without host (or a defaultBackend) takes every host, other students' too: "
        "name yours, host: ada.shop.example"
    )
    assert wall.refusal(_ingress(default_backend=True), ADA) == hostless
    assert wall.refusal(_ingress("ada.shop.example", default_backend=True), ADA) == hostless
    assert wall.refusal(_ingress("ada.shop.example"), {}) == "http-host: this namespace has no HTTP host of its own"


def test_the_host_wall_lets_routes_and_gateways_name_the_namespaces_own_host_only() -> None:
    routes, gateways = HostWall("routes"), HostWall("gateways")

    def route(*hostnames: str) -> Obj:
        spec = {"parentRefs": [{"name": "shop-gateway"}], **({"hostnames": list(hostnames)} if hostnames else {})}
        return {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": "r"},
            "spec": spec,
        }

    def gateway(*hostnames: str | None) -> Obj:
        listeners = [
            {"name": f"l{i}", "protocol": "HTTP", "port": 80, **({"hostname": h} if h else {})}
            for i, h in enumerate(hostnames)
        ]
        spec = {"gatewayClassName": "approuting-istio", "listeners": listeners}
        return {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": "g"},
            "spec": spec,
        }

    assert routes.refusal(route("ada.shop.example"), ADA) is None
    assert routes.refusal(route("ada.shop.example", "bob.shop.example"), ADA) == (
        "http-host: host bob.shop.example is not yours: yours is ada.shop.example; write hostnames: [ada.shop.example]"
    )
    assert routes.refusal(route(), ADA) == (
        "http-host: a route without hostnames takes every host, other students' too: name yours, "
        "hostnames: [ada.shop.example]"
    )
    assert gateways.refusal(gateway("ada.shop.example", "ada.shop.example"), ADA) is None
    assert gateways.refusal(gateway("ada.shop.example", None), ADA) == (
        "http-host: a Gateway listener without hostname takes every host, other students' too: name yours, "
        "hostname: ada.shop.example"
    )
    assert gateways.refusal(gateway("shop.example"), ADA) is not None
    resources = {
        what: HostWall(what).policy["spec"]["matchConstraints"]["resourceRules"][0]["resources"]
        for what in ("ingresses", "routes", "gateways")
    }
    assert resources == {"ingresses": ["ingresses"], "routes": ["httproutes", "grpcroutes"], "gateways": ["gateways"]}


def test_the_host_wall_binds_the_student_namespaces_and_each_carries_its_own_host() -> None:
    variables = {s: {**own, "SHOP_HOST": f"{s}.shop.example"} for s, own in VARIABLES.items()}
    room = replace(ROOM, variables=variables)
    made = m.cluster_objects(room)
    for what in ("ingresses", "routes", "gateways"):
        name = f"{m.HOST_WALL}-{what}"
        assert name.startswith(m.PREFIX)  # `classroom down` deletes it with the classroom's other objects
        policy = _named(made, "ValidatingAdmissionPolicy", name)
        binding = _named(made, "ValidatingAdmissionPolicyBinding", name)
        for obj in (policy, binding):
            assert obj["metadata"]["labels"][m.CLASSROOM_KEY] == m.HUB_NAMESPACE
        assert policy["spec"]["failurePolicy"] == "Fail"
        assert binding["spec"] == {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchLabels": {podguard.ROLE_KEY: m.STUDENT_ROLE}}},
        }
    for student, own in variables.items():
        objects = m.student_objects(room, student, FACTS)
        labels = _named(objects, "Namespace", f"servicelab-student-{student}")["metadata"]["labels"]
        assert labels[m.SHOP_HOST_KEY] == own["SHOP_HOST"] == f"{student}.shop.example"
        data = _named(objects, "ConfigMap", m.KUBECONFIG_MAP, f"servicelab-student-{student}")["data"]
        assert json.loads(data[m.VARIABLES_FILE])["SHOP_HOST"] == own["SHOP_HOST"]
    bare = m.student_objects(ROOM, "alice", FACTS)
    assert m.SHOP_HOST_KEY not in _named(bare, "Namespace", "servicelab-student-alice")["metadata"]["labels"]


# --- static IPs ---------------------------------------------------------------------------------------------------
ADDRESSED = {
    "alice": {"NODE_PORT": "30412", "STATIC_IP": "172.18.254.7", "INTERNAL_STATIC_IP": "172.18.253.9"},
    "bob": {"NODE_PORT": "31050", "STATIC_IP": "172.18.254.120", "INTERNAL_STATIC_IP": "172.18.253.3"},
}
IPV4, IPV6 = (
    "service.beta.kubernetes.io/azure-load-balancer-ipv4",
    "service.beta.kubernetes.io/azure-load-balancer-ipv6",
)


class AddressWall(AdmissionPolicy):
    """The static-IP wall's CEL, evaluated with cel-python; its two validations in order, as the API server does."""

    def __init__(self) -> None:
        policy, self.binding = m.address_wall()
        super().__init__(policy)

    def refused(self, service: Obj, annotations: dict[str, str]) -> str | None:
        return self.evaluate(service, {"annotations": annotations})


def _lb(annotations: dict[str, str] | None = None, **spec: Any) -> Obj:
    meta: Obj = {"name": "s", **({"annotations": annotations} if annotations else {})}
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": {"type": "LoadBalancer", **spec}}


def _own(student: str) -> dict[str, str]:
    room = replace(ROOM, variables=ADDRESSED, class_pools=True)
    namespace = _named(m.student_objects(room, student, FACTS), "Namespace", f"servicelab-student-{student}")
    return dict(namespace["metadata"]["annotations"])


def test_the_address_wall_lets_a_student_ask_for_their_own_addresses_only() -> None:
    wall, alice = AddressWall(), _own("alice")
    for own in ("172.18.254.7", "172.18.253.9"):
        for key in (IPV4, "metallb.io/loadBalancerIPs", "metallb.universe.tf/loadBalancerIPs"):
            assert wall.refused(_lb({key: own}), alice) is None, key
        assert wall.refused(_lb(loadBalancerIP=own), alice) is None
    internal = {"service.beta.kubernetes.io/azure-load-balancer-internal": "true", IPV4: "172.18.253.9"}
    translated = {**internal, "metallb.io/address-pool": metallb.CLASS_INTERNAL_STATIC_POOL}  # by fixtures/aks
    assert wall.refused(_lb(translated), alice) is None
    assert wall.refused(_lb(), alice) is None  # asks for nothing: the public pool hands one out
    assert wall.refused(_lb({"metallb.io/address-pool": "internal"}), alice) is None  # an internal LB, no address
    assert wall.refused(_lb({IPV4: ""}), alice) is None
    yours = "yours are STATIC_IP 172.18.254.7 and INTERNAL_STATIC_IP 172.18.253.9"
    for service, asked in (
        (_lb({IPV4: "172.18.254.120"}), "172.18.254.120"),  # bob's
        (_lb({IPV6: "2001:db8::1"}), "2001:db8::1"),
        (_lb({"metallb.io/loadBalancerIPs": "172.18.255.210"}), "172.18.255.210"),  # the cluster's own STATIC_IP
        (_lb({"metallb.universe.tf/loadBalancerIPs": "172.18.253.3"}), "172.18.253.3"),
        (_lb(loadBalancerIP="172.18.254.120"), "172.18.254.120"),
        (_lb({IPV4: "172.18.254.7"}, loadBalancerIP="172.18.253.3"), "172.18.253.3"),  # one of two is not hers
        (_lb(externalIPs=["172.18.0.3"]), "172.18.0.3"),
        (_lb({IPV4: "172.18.254.7,172.18.254.120"}), "172.18.254.7,172.18.254.120"),
    ):
        said = wall.refused(service, alice)
        assert said == f"static-ip: {asked} is not your address to ask for: {yours}", service
        assert "bob" not in said
    for pool in m.STATIC_POOLS:  # an address-pool annotation draws from an autoAssign: false pool too
        said = wall.refused(_lb({"metallb.io/address-pool": pool}), alice)
        assert said == f"static-ip: pool {pool} hands out static IPs: ask for your own by address, not by pool; {yours}"
        assert wall.refused(_lb({"metallb.universe.tf/address-pool": pool}), alice) is not None
    nothing = wall.refused(_lb({IPV4: "172.18.254.7"}), {})
    assert (
        nothing == "static-ip: 172.18.254.7 is not your address to ask for: this namespace has no static IP of its own"
    )


def test_the_address_wall_binds_the_student_namespaces_and_holds_no_address() -> None:
    room = replace(ROOM, variables=ADDRESSED, class_pools=True)
    policy = _named(m.cluster_objects(room), "ValidatingAdmissionPolicy", m.ADDRESS_WALL)
    binding = _named(m.cluster_objects(room), "ValidatingAdmissionPolicyBinding", m.ADDRESS_WALL)
    assert m.ADDRESS_WALL.startswith(m.PREFIX)
    assert m.ADDRESS_WALL != m.PORT_WALL
    for obj in (policy, binding):
        assert obj["metadata"]["labels"][m.CLASSROOM_KEY] == m.HUB_NAMESPACE
    assert policy["spec"]["failurePolicy"] == "Fail"
    assert binding["spec"]["matchResources"] == {
        "namespaceSelector": {"matchLabels": {podguard.ROLE_KEY: m.STUDENT_ROLE}}
    }
    assert "172.18" not in json.dumps(policy)  # the addresses are the namespaces': a class that grows changes no policy
    assert policy == m.address_wall()[0] | {"metadata": policy["metadata"]}
    assert set(m.ASKING_ANNOTATIONS) == set(STATIC_IP_ANNOTATIONS)  # every address a grading claims, the wall reads


def test_each_student_namespace_carries_its_own_addresses_and_the_class_pools_hold_them() -> None:
    room = replace(ROOM, variables=ADDRESSED, class_pools=True)
    assert _own("alice") == {
        OWNER_KEY: _own("alice")[OWNER_KEY],
        "servicelab.dev/static-ip": "172.18.254.7",
        "servicelab.dev/internal-static-ip": "172.18.253.9",
        m.INTERNAL_POOL_KEY: metallb.CLASS_INTERNAL_STATIC_POOL,
    }
    objects = m.cluster_objects(room)
    static = _named(objects, "IPAddressPool", metallb.CLASS_STATIC_POOL, metallb.NAMESPACE)
    internal = _named(objects, "IPAddressPool", metallb.CLASS_INTERNAL_STATIC_POOL, metallb.NAMESPACE)
    assert static["spec"] == {"addresses": ["172.18.254.7/32", "172.18.254.120/32"], "autoAssign": False}
    assert internal["spec"] == {"addresses": ["172.18.253.3/32", "172.18.253.9/32"], "autoAssign": False}
    advertisement = _named(objects, "L2Advertisement", m.CLASS_ADVERTISEMENT, metallb.NAMESPACE)
    assert advertisement["spec"] == {"ipAddressPools": [metallb.CLASS_STATIC_POOL, metallb.CLASS_INTERNAL_STATIC_POOL]}
    for obj in (static, internal, advertisement):
        assert obj["metadata"]["labels"][m.CLASSROOM_KEY] == m.HUB_NAMESPACE  # what `down` deletes
        assert obj["metadata"]["name"].startswith(m.PREFIX)
    assert metallb.CLASS_STATIC_POOL in metallb.PUBLIC_POOLS  # the internet reaches a student's STATIC_IP
    assert metallb.CLASS_INTERNAL_STATIC_POOL not in metallb.PUBLIC_POOLS
    # off kind (AKS): the instructor's addresses on the namespaces, no pools and no pool annotation
    aks = replace(room, class_pools=False)
    assert not [o for o in m.cluster_objects(aks) if o["kind"] in ("IPAddressPool", "L2Advertisement")]
    annotations = _named(m.student_objects(aks, "bob", FACTS), "Namespace", "servicelab-student-bob")["metadata"]
    assert annotations["annotations"]["servicelab.dev/static-ip"] == "172.18.254.120"
    assert m.INTERNAL_POOL_KEY not in annotations["annotations"]
    assert not [o for o in m.cluster_objects(ROOM) if o["kind"] == "IPAddressPool"]  # no static IPs, no pools


def test_the_aks_translation_sends_a_students_own_internal_address_to_the_class_pool() -> None:
    text = (REPO / "fixtures" / "aks" / "annotations.yaml").read_text()
    for key in (m.ADDRESS_KEYS["INTERNAL_STATIC_IP"], m.INTERNAL_POOL_KEY):
        assert f"'{key}'" in text
