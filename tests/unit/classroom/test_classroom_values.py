"""The classroom's values file: what an instructor may write, and every mistake refused with file, line, rule, fix
(exit 2) before any cluster contact."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.base.errors import EXIT_BAD_INPUT, BadInput
from grader.classroom import values
from grader.cli.main import main

GOOD = """\
students: [alice, bob-2]
instructors: [teacher]
labs: [clusterip, nodeport]
"""


def _load(tmp_path: Path, text: str) -> values.Values:
    path = tmp_path / "classroom.yaml"
    path.write_text(text)
    return values.load(path)


def _refused(tmp_path: Path, text: str) -> BadInput:
    with pytest.raises(BadInput) as caught:
        _load(tmp_path, text)
    err = caught.value
    assert err.exit_code == EXIT_BAD_INPUT
    assert err.file
    assert err.file.endswith("classroom.yaml")
    assert err.rule
    assert err.fix
    return err


def test_a_short_file_takes_the_defaults(tmp_path: Path) -> None:
    got = _load(tmp_path, GOOD)
    assert got.students == ("alice", "bob-2")
    assert got.instructors == ("teacher",)
    assert got.labs == ("clusterip", "nodeport")
    assert got.resources == values.Resources("100m", "500m", "256Mi", "512Mi")
    assert (got.proxy_type, got.node_port, got.hub_state) == ("NodePort", values.DEFAULT_NODE_PORT, "auto")
    assert got.student_password == got.instructor_password == ""
    assert got.gradebook == ""  # the grading service's own SQLite file
    assert got.namespace("alice") == "servicelab-student-alice"


def test_every_field_is_read(tmp_path: Path) -> None:
    text = GOOD + (
        "resources:\n  cpu: {request: 50m, limit: 1}\n  memory: {request: 128Mi, limit: 0.5Gi}\n"
        "login:\n  student_password: eight-chars\n  instructor_password: " + "x" * 32 + "\n"
        "proxy: {type: LoadBalancer}\nhub_state: pvc\nstorage_class: managed-csi\n"
        "images: {hub: registry.example/hub:1, singleuser: registry.example/user:1}\n"
        "grading: {gradebook: 'postgresql://grader:s3cret@db.example:5432/class'}\n"
    )
    got = _load(tmp_path, text)
    assert got.resources == values.Resources("50m", "1", "128Mi", "0.5Gi")
    assert (got.student_password, got.instructor_password) == ("eight-chars", "x" * 32)
    assert (got.proxy_type, got.hub_state, got.storage_class) == ("LoadBalancer", "pvc", "managed-csi")
    assert (got.hub_image, got.singleuser_image) == ("registry.example/hub:1", "registry.example/user:1")
    assert got.gradebook == "postgresql://grader:s3cret@db.example:5432/class"
    assert "s3cret" not in repr(got)


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        (GOOD + "teachers: [x]\n", 4, "unknown key 'teachers'"),
        ("students: [alice, Bob]\ninstructors: [t]\nlabs: [clusterip]\n", 1, "'Bob' is not a valid name"),
        ("students:\n- alice\n- bob--x\ninstructors: [t]\nlabs: [clusterip]\n", 3, "'bob--x' is not a valid name"),
        ("students:\n- alice\n- alice\ninstructors: [t]\nlabs: [clusterip]\n", 3, "listed twice"),
        ("students: [" + "a" * 45 + "]\ninstructors: [t]\nlabs: [clusterip]\n", 1, "not a valid name"),
        ("instructors: [t]\nlabs: [clusterip]\n", 1, "students: is missing"),
        ("students: alice\ninstructors: [t]\nlabs: [clusterip]\n", 1, "is not a list"),
        ("students: [alice]\ninstructors: [alice]\nlabs: [clusterip]\n", 2, "a student and an instructor"),
        ("students: [alice]\ninstructors: [t]\nlabs:\n- clusterip\n- no-such-lab\n", 5, "no lab 'no-such-lab'"),
        ("students: [alice]\ninstructors: [t]\nlabs: []\n", 3, "missing, empty"),
        (GOOD + "resources:\n  cpu: {request: 100m, limit: 2}\n", 5, "above the namespace's container maximum"),
        (GOOD + "resources:\n  memory: {request: 300m}\n", 5, "'300m' is not a memory quantity"),
        (GOOD + "resources:\n  memory: {request: 1Gi, limit: 512Mi}\n", 5, "the request is 0 or above the limit"),
        (GOOD + "resources:\n  cpu: {request: 0m}\n", 5, "the request is 0"),
        (GOOD + "resources:\n  disk: {request: 1Gi}\n", 4, "not a mapping of cpu and memory"),
        (GOOD + "login:\n  student_password: short\n", 5, "too short"),
        (GOOD + "login:\n  instructor_password: only-twenty-chars-xx\n", 5, "too short"),
        (GOOD + "login:\n  student_password: " + "s" * 32 + "\n  instructor_password: " + "s" * 32 + "\n", 6, "same"),
        (GOOD + "login:\n  password: abcdefgh\n", 5, "unknown key"),
        (GOOD + "proxy: {type: Ingress}\n", 4, "'Ingress' is not one of NodePort, LoadBalancer"),
        (GOOD + "proxy:\n  type: LoadBalancer\n  node_port: 31000\n", 6, "proxy.type is not NodePort"),
        (GOOD + "proxy: {node_port: 30007}\n", 4, "30007 is lab nodeport's (node ports 30000-30079)"),
        (GOOD + "proxy: {node_port: 30080}\n", 4, "30080 is Traefik's"),
        (GOOD + "proxy: {node_port: 32150}\n", 4, "lab external-traffic-local's"),
        (GOOD + "proxy: {node_port: 8080}\n", 4, "8080 is not a node port"),
        (GOOD + "hub_state: disk\n", 4, "'disk' is not one of auto, pvc, emptyDir"),
        (GOOD + "images: {hub: 42}\n", 4, "42 is not text"),
        ("- alice\n", 1, "not a mapping"),
        (GOOD + "static_ips: [20.0.0.1]\n", 4, "static_ips: is not a mapping"),
        (GOOD + "static_ips:\n  carol: {STATIC_IP: 20.0.0.1}\n", 5, "'carol' is not in students"),
        (GOOD + "static_ips:\n  alice: 20.0.0.1\n", 5, "not a mapping of variables to addresses"),
        (GOOD + "static_ips:\n  alice:\n    NODE_PORT: 30100\n", 6, "'NODE_PORT' is no address variable"),
        (GOOD + "static_ips:\n  alice:\n    STATIC_IP: 20.0.0.300\n", 6, "'20.0.0.300' is not an IP address"),
        (
            GOOD + "static_ips:\n  alice: {STATIC_IP: 20.0.0.1}\n  bob-2:\n    INTERNAL_STATIC_IP: 20.0.0.1\n",
            7,
            "20.0.0.1 is alice's STATIC_IP too",
        ),
        (GOOD + "grading:\n  gradebook: mysql://grader:s3cret@db/class\n", 5, "the scheme 'mysql' is not PostgreSQL's"),
        (GOOD + "grading:\n  gradebook: /data/g.sqlite\n", 5, "'/data/g.sqlite': is not a URL"),
        (GOOD + "grading:\n  gradebook: 'postgresql://'\n", 5, "names no server and no database"),
        (GOOD + "grading:\n  gradebook: 5432\n", 5, "is not text"),
        (GOOD + "grading:\n  gradebook: postgresql://g:s3cret@db:big/c\n", 5, "its port is not a number"),
        (GOOD + "grading: {database: x}\n", 4, "unknown key"),
    ],
)
def test_a_mistake_is_refused_with_its_line(tmp_path: Path, text: str, line: int, says: str) -> None:
    err = _refused(tmp_path, text)
    assert says in err.message, err.render()
    assert err.line == line, err.render()
    assert "s3cret" not in err.render()  # a gradebook URL's password


def test_static_ips_are_read_per_student_in_one_spelling(tmp_path: Path) -> None:
    text = GOOD + (
        "static_ips:\n  alice: {STATIC_IP: 20.31.4.5, INTERNAL_STATIC_IP: 10.224.0.40}\n"
        "  bob-2: {STATIC_IP: '2001:DB8:0::7'}\n"
    )
    assert _load(tmp_path, text).static_ips == {
        "alice": {"STATIC_IP": "20.31.4.5", "INTERNAL_STATIC_IP": "10.224.0.40"},
        "bob-2": {"STATIC_IP": "2001:db8::7"},  # as the wall compares it
    }
    assert _load(tmp_path, GOOD).static_ips == {}


def test_yaml_a_manifest_could_not_use_is_refused_too(tmp_path: Path) -> None:
    err = _refused(tmp_path, "students: &s [alice]\ninstructors: *s\nlabs: [clusterip]\n")
    assert err.line == 1


def test_a_missing_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no such file"):
        values.load(tmp_path / "nope.yaml")


def test_the_default_node_port_is_free_of_every_lab(tmp_path: Path) -> None:
    assert all(not low <= values.DEFAULT_NODE_PORT <= high for low, high in values.taken_node_ports().values())


def test_classroom_up_exits_2_on_bad_values_before_any_cluster_contact(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "classroom.yaml"
    path.write_text(GOOD + "resources:\n  cpu: {limit: 4}\n")
    # a context that does not exist: any cluster contact would be an environment error (exit 3), not 2
    code = main(["classroom", "up", "--values", str(path), "--context", "no-such-context"])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT
    assert f"{path}:5: resources.cpu.limit: above the namespace's container maximum" in err
    assert "rule:" in err
    assert "fix:" in err
    assert "Traceback" not in err
