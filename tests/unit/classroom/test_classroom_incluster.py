"""The grading service as a Deployment in the hub's namespace (grader.classroom.incluster) and where `classroom up`
runs it (grader.classroom.deploy.grading_runs), made without a cluster."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from grader.base.errors import BadInput
from grader.classroom import deploy, grading, incluster
from grader.classroom import manifests as m
from grader.classroom.values import Values, load
from grader.intake.labpolicy import LabPolicy
from grader.kube.client import Obj

IMAGE = "registry.example/servicelab/classroom-grading:1"
ROOM = m.Classroom(
    students=("alice", "bob"),
    instructors=("teacher",),
    policy=LabPolicy(kinds=("Service",)),
    hub_image="hub:1",
    singleuser_image="singleuser:1",
    cpu_request="100m",
    cpu_limit="500m",
    memory_request="256Mi",
    memory_limit="512Mi",
    proxy_type="LoadBalancer",
    node_port=31880,
    hub_state="pvc",
    storage_class="managed-csi",
    api_server=(("10.0.0.1",), 443),
    variables={"alice": {"NODE_PORT": "30412"}, "bob": {"NODE_PORT": "31050"}},
    grading=True,
)


def _of(objects: list[Obj], kind: str) -> list[Obj]:
    return [o for o in objects if o["kind"] == kind]


def test_the_pod_runs_the_service_in_cluster_as_the_grading_account_within_the_restricted_profile() -> None:
    objects = incluster.objects(ROOM, IMAGE)
    assert all(o["metadata"]["namespace"] == m.HUB_NAMESPACE for o in objects)
    assert all(o["metadata"]["labels"][m.CLASSROOM_KEY] == m.HUB_NAMESPACE for o in objects)  # what `down` deletes
    (deployment,) = _of(objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == grading.ACCOUNT
    (container,) = pod["containers"]
    assert container["image"] == IMAGE
    assert container["command"][:4] == ["python", "-m", "grader.classroom.service", "--in-cluster"]
    # the restricted profile (the hub's namespace enforces it): non-root, no escalation, no capabilities, seccomp
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    assert not any("hostPath" in volume for volume in pod["volumes"])  # no docker socket in a pod
    secrets = {e["name"]: e["valueFrom"]["secretKeyRef"]["key"] for e in container["env"] if "valueFrom" in e}
    assert secrets["SERVICELAB_INSTRUCTOR_TOKEN"] == grading.INSTRUCTOR_TOKEN
    # the students' values, mounted where --variables-file reads them
    (values,) = _of(objects, "ConfigMap")
    assert json.loads(values["data"]["variables.json"]) == ROOM.variables
    at = container["command"][container["command"].index("--variables-file") + 1]
    mount = next(v["mountPath"] for v in container["volumeMounts"] if v["name"] == "settings")
    assert at == f"{mount}/variables.json"


def test_the_gradebook_is_on_a_claim_when_the_hubs_state_is_else_an_empty_dir() -> None:
    (claim,) = _of(incluster.objects(ROOM, IMAGE), "PersistentVolumeClaim")
    assert claim["spec"]["storageClassName"] == "managed-csi"
    lost = incluster.objects(replace(ROOM, hub_state="emptyDir"), IMAGE)
    assert _of(lost, "PersistentVolumeClaim") == []
    (deployment,) = _of(lost, "Deployment")
    assert {"name": "data", "emptyDir": {}} in deployment["spec"]["template"]["spec"]["volumes"]


@pytest.mark.parametrize("url", ["", "postgresql://grader:s3cret@db.example:5432/class"])
def test_the_gradebook_reaches_the_pod_through_its_secret_only(url: str) -> None:
    objects = incluster.objects(ROOM, IMAGE, url)
    (secret,) = [o for o in _of(objects, "Secret") if o["metadata"]["name"] == incluster.GRADEBOOK_SECRET]
    assert secret["stringData"] == {incluster.GRADEBOOK_KEY: url or "/data/gradebook.sqlite"}  # the volume's file
    (deployment,) = _of(objects, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    (book,) = [e for e in container["env"] if e["name"] == "SERVICELAB_GRADEBOOK"]
    assert book["valueFrom"] == {"secretKeyRef": {"name": incluster.GRADEBOOK_SECRET, "key": incluster.GRADEBOOK_KEY}}
    assert "--gradebook" not in container["command"]  # the flag would win over the Secret
    assert "s3cret" not in json.dumps(deployment)


@pytest.mark.parametrize(
    ("url", "to"),
    [
        ("", None),
        ("postgresql://grader:s3cret@db.example/class", []),  # a name: any address, on PostgreSQL's port only
        ("postgresql://grader@10.1.2.3:6432/class", [{"ipBlock": {"cidr": "10.1.2.3/32"}}]),
        ("postgres://grader@[fd00::5]/class", [{"ipBlock": {"cidr": "fd00::5/128"}}]),
    ],
)
def test_the_pod_may_reach_a_postgresql_gradebook_on_its_port_only(url: str, to: list[Obj] | None) -> None:
    policies = _of(incluster.objects(ROOM, IMAGE, url), "NetworkPolicy")
    found = [p for p in policies if p["metadata"]["name"] == "servicelab-classroom-grading-gradebook-out"]
    if to is None:
        assert found == []  # the SQLite file: nothing to reach
        return
    (policy,) = found
    assert policy["spec"]["podSelector"] == {"matchLabels": incluster.POD_LABELS}
    (rule,) = policy["spec"]["egress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 6432 if ":6432" in url else 5432}]
    assert rule.get("to", []) == to
    assert "s3cret" not in json.dumps(policy)


def test_service_grading_selects_the_pod_and_the_walls_let_in_only_servers_and_the_hub() -> None:
    objects = incluster.objects(ROOM, IMAGE)
    (service,) = _of(objects, "Service")
    assert service["metadata"]["name"] == grading.SERVICE
    assert service["spec"]["selector"] == incluster.POD_LABELS
    assert service["spec"]["ports"][0]["targetPort"] == grading.PORT
    policies = {p["metadata"]["name"]: p["spec"] for p in _of(objects, "NetworkPolicy")}
    (rule,) = policies["servicelab-classroom-grading-in"]["ingress"]
    servers, hub = rule["from"]
    assert servers["podSelector"] == {"matchLabels": m.SERVER_POD_LABELS}
    assert servers["namespaceSelector"]["matchLabels"][m.CLASSROOM_KEY] == m.HUB_NAMESPACE
    assert hub == {"podSelector": {"matchLabels": m.HUB_POD_LABELS}}
    assert rule["ports"] == [{"protocol": "TCP", "port": grading.PORT}]
    (api,) = policies["servicelab-classroom-grading-api-out"]["egress"]
    assert api == {"to": [{"ipBlock": {"cidr": "10.0.0.1/32"}}], "ports": [{"protocol": "TCP", "port": 443}]}
    # without a selector of its own the container's Service would be a second `grading`
    assert [o["kind"] for o in grading.hub_namespace_objects(container=False)] == ["ServiceAccount", "Secret"]


def test_a_students_server_reaches_the_pod_by_its_labels() -> None:
    objects = grading.student_objects("alice", incluster.peers())
    (policy,) = _of(objects, "NetworkPolicy")
    (rule,) = policy["spec"]["egress"]
    assert rule["to"] == incluster.peers()
    assert rule["to"][0]["podSelector"] == {"matchLabels": incluster.POD_LABELS}


VALUES = Values(students=("alice",), instructors=("teacher",), labs=("clusterip",))


def test_auto_is_the_container_on_kind_and_a_pod_elsewhere() -> None:
    assert deploy.grading_runs(VALUES, "v.yaml", on_kind=True) == deploy.CONTAINER
    assert deploy.grading_runs(VALUES, "v.yaml", on_kind=False) == deploy.IN_CLUSTER
    in_cluster = replace(VALUES, grading_runs="in-cluster")
    assert deploy.grading_runs(in_cluster, "v.yaml", on_kind=True) == deploy.IN_CLUSTER


def test_the_container_off_kind_and_no_grading_image_off_kind_are_bad_input() -> None:
    with pytest.raises(BadInput) as off_kind:
        deploy.grading_runs(replace(VALUES, grading_runs="container"), "v.yaml", on_kind=False)
    assert "{runs: in-cluster}" in (off_kind.value.fix or "")
    with pytest.raises(BadInput) as no_image:
        deploy._grading_image(VALUES, "v.yaml", on_kind=False)
    assert "images: grading" in (no_image.value.fix or "")
    assert deploy._grading_image(replace(VALUES, grading_image=IMAGE), "v.yaml", on_kind=False) == IMAGE


def test_the_values_file_says_where_grading_runs(tmp_path: Path) -> None:
    path = tmp_path / "classroom.yaml"
    path.write_text(
        "students: [alice]\ninstructors: [teacher]\nlabs: [clusterip]\n"
        f"images: {{grading: {IMAGE}}}\ngrading: {{runs: in-cluster}}\n"
    )
    values = load(path)
    assert (values.grading_runs, values.grading_image) == ("in-cluster", IMAGE)
    path.write_text("students: [alice]\ninstructors: [teacher]\nlabs: [clusterip]\ngrading:\n  runs: beside\n")
    with pytest.raises(BadInput) as bad:
        load(path)
    assert bad.value.line == 5
    assert "'beside' is not one of auto, container, in-cluster" in bad.value.message


DATABASE = "postgresql://grading:secret@10.0.0.9:5432/gradebook"


def test_replicas_share_the_database_gradebook_and_roll() -> None:
    objects = incluster.objects(ROOM, IMAGE, DATABASE, replicas=3)
    (deployment,) = _of(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["strategy"] == {"type": "RollingUpdate"}  # a new pod takes calls before an old goes
    assert _of(objects, "PersistentVolumeClaim") == []  # the gradebook is the database: no pod's file to keep
    assert {"name": "data", "emptyDir": {}} in deployment["spec"]["template"]["spec"]["volumes"]
    alone = incluster.objects(ROOM, IMAGE, "", replicas=3)  # an SQLite file is one pod's: never more than one
    (one,) = _of(alone, "Deployment")
    assert (one["spec"]["replicas"], one["spec"]["strategy"]) == (1, {"type": "Recreate"})


def test_replicas_need_a_database_in_the_cluster_or_beside_kind(tmp_path: Path) -> None:
    path = tmp_path / "classroom.yaml"
    head = "students: [alice]\ninstructors: [teacher]\nlabs: [clusterip]\n"
    path.write_text(head + f"grading: {{runs: in-cluster, replicas: 3, gradebook: '{DATABASE}'}}\n")
    assert load(path).grading_replicas == 3
    path.write_text(head + "grading:\n  runs: in-cluster\n  replicas: 2\n")
    with pytest.raises(BadInput) as no_database:
        load(path)
    assert no_database.value.line == 6
    assert "share one gradebook only in a database" in no_database.value.message
    path.write_text(head + "grading:\n  replicas: 0\n")
    with pytest.raises(BadInput, match="0 is not a number of pods"):
        load(path)
    path.write_text(head + f"grading: {{runs: container, replicas: 2, gradebook: '{DATABASE}'}}\n")
    assert load(path).grading_replicas == 2
    beside_kind = replace(VALUES, grading_replicas=2, gradebook=DATABASE)
    assert deploy.grading_runs(beside_kind, "v.yaml", on_kind=True) == deploy.CONTAINER  # two containers
