"""The classroom's grading service: its rights, its address for the students, its container's kubeconfig, and what
`classroom down` removes of it."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from _classroom_fakes import MARKED, FakeKube, _obj

from grader.base.errors import EnvError
from grader.classroom import deploy, grading
from grader.classroom import manifests as m
from grader.probes.pod import WARM_NAMESPACES

WRITES = {"create", "update", "patch", "delete", "deletecollection", "*"}


def _by_kind(objects: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        found.setdefault(obj["kind"], []).append(obj)
    return found


def test_every_object_carries_the_classroom_label_so_down_finds_it() -> None:
    objects = [*grading.cluster_objects(), *grading.hub_namespace_objects(), grading.endpoints_object(["172.18.0.9"])]
    objects += grading.student_objects("alice", m.hosts(("172.18.0.9",)))
    for obj in objects:
        assert obj["metadata"]["labels"][m.CLASSROOM_KEY] == m.HUB_NAMESPACE, obj["metadata"]["name"]


def test_the_account_writes_only_probe_pods_and_reads_secrets_and_configmaps_only_in_student_namespaces() -> None:
    objects = _by_kind(grading.cluster_objects() + grading.student_objects("alice", m.hosts(("172.18.0.9",))))
    roles = {role["metadata"]["name"]: role["rules"] for role in objects["ClusterRole"]}
    everywhere = roles[grading.READ_ROLE]
    writes = [(rule["resources"], verb) for rule in everywhere for verb in rule["verbs"] if verb in WRITES]
    assert writes == [(["tokenreviews"], "create")]  # who is calling; nothing else written cluster-wide
    assert not any("secrets" in rule["resources"] or "configmaps" in rule["resources"] for rule in everywhere)
    assert roles[grading.NAMESPACE_ROLE] == [
        {"apiGroups": [""], "resources": ["secrets", "configmaps"], "verbs": ["get"]}
    ]
    bindings = {(b["metadata"].get("namespace"), b["roleRef"]["name"]) for b in objects["RoleBinding"]}
    assert bindings == {
        *((ns, grading.PROBE_ROLE) for ns in WARM_NAMESPACES),
        ("traefik", grading.TRAEFIK_ROLE),
        ("servicelab-student-alice", grading.NAMESPACE_ROLE),
    }
    for binding in objects["RoleBinding"] + objects["ClusterRoleBinding"]:
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "grading", "namespace": m.HUB_NAMESPACE}]


def test_students_servers_reach_the_container_through_a_service_without_selector() -> None:
    hub = _by_kind(grading.hub_namespace_objects())
    assert "selector" not in hub["Service"][0]["spec"]
    assert hub["Secret"][0]["type"] == "kubernetes.io/service-account-token"
    endpoints = grading.endpoints_object(["172.18.0.9"])
    assert endpoints["metadata"]["labels"]["kubernetes.io/service-name"] == grading.SERVICE
    assert endpoints["endpoints"][0]["addresses"] == ["172.18.0.9"]
    assert endpoints["ports"][0]["port"] == grading.PORT
    (policy,) = _by_kind(grading.student_objects("alice", m.hosts(("172.18.0.9",))))["NetworkPolicy"]
    assert policy["spec"]["podSelector"] == {"matchLabels": m.SERVER_POD_LABELS}
    assert policy["spec"]["egress"] == [
        {"to": [{"ipBlock": {"cidr": "172.18.0.9/32"}}], "ports": [{"protocol": "TCP", "port": grading.PORT}]}
    ]


def test_the_containers_kubeconfig_names_the_kind_cluster_and_carries_the_accounts_token() -> None:
    secret = {
        "metadata": {"name": grading.TOKEN_SECRET},
        "data": {"token": base64.b64encode(b"t0ken").decode(), "ca.crt": "Q0E="},
    }
    config = json.loads(grading.kubeconfig_text(FakeKube({"secrets": [secret]}), "servicelab"))  # type: ignore[arg-type]
    assert config["current-context"] == "kind-servicelab"  # facts.discover: kind, so the outside vantages count
    assert config["clusters"][0]["cluster"] == {
        "server": "https://servicelab-control-plane:6443",
        "certificate-authority-data": "Q0E=",
    }
    assert config["users"][0]["user"] == {"token": "t0ken"}
    with pytest.raises(EnvError, match="no token yet"):
        grading.kubeconfig_text(FakeKube({"secrets": [{"metadata": {"name": grading.TOKEN_SECRET}}]}), "x")  # type: ignore[arg-type]


def test_down_on_kind_removes_the_bindings_in_foreign_namespaces_and_the_container(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kube = FakeKube(
        {
            "nodes": [_obj("servicelab-worker", spec={"providerID": "kind://docker/servicelab/servicelab-worker"})],
            "rolebindings.rbac.authorization.k8s.io": [
                _obj(grading.PROBE_ROLE, MARKED),
                _obj("someone-elses", {}),
            ],
        }
    )
    monkeypatch.setattr(grading, "remove_containers_and_gradebook", lambda: [f"container/{grading.CONTAINER}"])
    deleted = deploy.down(kube, say=lambda _: None, timeout_s=5)  # type: ignore[arg-type]
    assert f"container/{grading.CONTAINER}" in deleted
    assert any(entry.startswith("rolebinding/") and entry.endswith(grading.PROBE_ROLE) for entry in deleted)
    assert [o["metadata"]["name"] for o in kube.objects["rolebindings.rbac.authorization.k8s.io"]] == ["someone-elses"]


Started = dict[str, tuple[list[str], list[str], dict[str, str]]]  # container name -> its args, options, environment


@pytest.fixture
def docker_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Started:
    """docker as start_container calls it: what each `docker run` got; a container's address is addr-of-NAME."""
    started: Started = {}
    socket = tmp_path / "docker.sock"
    socket.touch()
    monkeypatch.setattr(grading, "docker_socket", lambda: str(socket))
    monkeypatch.setattr(grading, "run", lambda argv, **_: None)
    monkeypatch.setattr(grading.docker, "remove_container", lambda name: None)
    monkeypatch.setattr(grading.docker, "container_state", lambda name: {"name": name})
    monkeypatch.setattr(grading.docker, "container_ip", lambda state: f"addr-of-{state['name']}")

    def run_container(name: str, image: str, args: list[str], *, options: list[str], env: dict[str, str]) -> None:
        started[name] = (args, options, dict(env))

    monkeypatch.setattr(grading.docker, "run_container", run_container)
    return started


def test_the_gradebook_url_reaches_the_container_by_its_environment_only(docker_run: Started) -> None:
    """A PostgreSQL URL holds a password: docker gets it from its own environment (-e NAME), not on its command line."""
    url = "postgresql://grader:s3cret@db.example/class"
    assert grading.start_container("grading:1", {"SERVICELAB_GRADEBOOK": url}) == f"addr-of-{grading.CONTAINER}"
    [(args, options, env)] = docker_run.values()
    assert "s3cret" not in " ".join(args + options)
    assert "--gradebook" not in args  # a flag would win over the environment's URL
    assert options[options.index("SERVICELAB_GRADEBOOK") - 1] == "-e"
    assert env["SERVICELAB_GRADEBOOK"] == url


def test_replicas_beside_kind_are_containers_named_in_turn_each_an_endpoint_and_a_gradebook_instance(
    docker_run: Started,
) -> None:
    names = grading.container_names(3)
    assert names == [grading.CONTAINER, f"{grading.CONTAINER}-2", f"{grading.CONTAINER}-3"]
    slice_ = grading.endpoints_object(["172.18.0.9", "172.18.0.10"])
    assert [e["addresses"] for e in slice_["endpoints"]] == [["172.18.0.9"], ["172.18.0.10"]]
    assert grading.start_container("grading:1", {"SERVICELAB_GRADEBOOK": "x"}, names[1]) == f"addr-of-{names[1]}"
    assert docker_run[names[1]][2]["SERVICELAB_INSTANCE"] == names[1]  # a restart: its gradings interrupted


def test_up_with_fewer_replicas_removes_the_containers_it_no_longer_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    running = [grading.CONTAINER, f"{grading.CONTAINER}-2", f"{grading.CONTAINER}-3"]
    removed: list[str] = []
    monkeypatch.setattr(grading, "class_containers", lambda: list(running))
    monkeypatch.setattr(grading.docker, "remove_container", removed.append)
    assert grading.remove_containers(keep=(grading.CONTAINER,)) == [f"container/{n}" for n in running[1:]]
    assert removed == running[1:]
