"""Each student's own node port (grader.classroom.assignment): distinct, clear of every port servicelab fixes,
stable when students are added, and a class that cannot get distinct ports refused with file, line, rule, fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.base.errors import BadInput
from grader.catalogue.labs import variable_problem
from grader.classroom import assignment, values
from grader.classroom.assignment import (
    CLASSROOM_NODE_PORTS,
    host_owners,
    node_ports,
    port_owners,
    reserved_ports,
    shop_host,
    shop_hosts,
    variables_of,
)
from grader.classroom.values import MAX_STUDENTS, Values

CLASS = tuple(f"student-{i}" for i in range(MAX_STUDENTS))


def _values(students: tuple[str, ...], **kwargs: object) -> Values:
    return Values(students=students, instructors=("teacher",), labs=("nodeport",), **kwargs)  # type: ignore[arg-type]


def test_a_full_class_gets_distinct_ports_in_the_band_clear_of_everything_fixed() -> None:
    given = variables_of(_values(CLASS))
    ports = [int(own["NODE_PORT"]) for own in given.values()]
    assert list(given) == list(CLASS)
    assert len(set(ports)) == MAX_STUDENTS
    low, high = CLASSROOM_NODE_PORTS
    assert all(low <= port <= high for port in ports)
    for holder, (first, last) in values.taken_node_ports().items():
        assert not [p for p in ports if first <= p <= last], holder
    assert values.DEFAULT_NODE_PORT not in ports
    assert port_owners(given) == {int(own["NODE_PORT"]): student for student, own in given.items()}


def test_the_same_class_gets_the_same_ports_and_adding_a_student_moves_no_one() -> None:
    before = node_ports(CLASS[:150])
    assert node_ports(CLASS[:150]) == before
    after = node_ports((*CLASS[:150], "zoe", "yann"))
    assert {s: after[s] for s in before} == before
    assert len(set(after.values())) == len(after)


def test_removing_a_student_moves_only_those_whose_port_had_collided() -> None:
    full = node_ports(CLASS)
    without = node_ports(CLASS[:10] + CLASS[11:])
    moved = [s for s in without if without[s] != full[s]]
    assert len(moved) <= 3  # only a student listed after the removed one whose name pointed at a taken port


def test_the_hubs_proxy_port_inside_the_band_is_skipped() -> None:
    low, _ = CLASSROOM_NODE_PORTS
    first = node_ports(CLASS[:1])[CLASS[0]]
    moved = variables_of(_values(CLASS[:1], node_port=first))
    assert moved[CLASS[0]]["NODE_PORT"] == str(first + 1 if first < CLASSROOM_NODE_PORTS[1] else low)
    assert first in reserved_ports(_values(CLASS[:1], node_port=first))
    assert reserved_ports(_values(CLASS[:1], proxy_type="LoadBalancer", node_port=first)) == set()
    assert str(first) not in {own["NODE_PORT"] for own in variables_of(_values(CLASS[:1]), held={first}).values()}


def test_a_band_too_small_for_the_class_is_refused() -> None:
    with pytest.raises(BadInput, match="3 students, but 2 can get a node port") as caught:
        node_ports(["a", "b", "c"], taken=set(range(CLASSROOM_NODE_PORTS[0] + 2, CLASSROOM_NODE_PORTS[1] + 1)))
    assert caught.value.rule
    assert caught.value.fix


def test_a_values_file_whose_class_cannot_get_distinct_ports_is_refused_at_its_students_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    low, high = CLASSROOM_NODE_PORTS
    monkeypatch.setattr(values, "taken_node_ports", lambda: {"lab wide": (low + 1, high)})
    monkeypatch.setattr(assignment, "taken_node_ports", lambda: {"lab wide": (low + 1, high)})
    path = tmp_path / "classroom.yaml"
    path.write_text("instructors: [teacher]\nlabs: [nodeport]\nstudents: [alice, bob]\n")
    with pytest.raises(BadInput) as caught:
        values.load(path)
    err = caught.value
    assert (err.file, err.line) == (str(path), 3)
    assert "2 students, but 1 can get a node port of their own" in err.message
    assert err.rule
    assert err.fix


def test_each_student_gets_their_own_host_under_shop_example() -> None:
    given = variables_of(_values(CLASS))
    hosts = [own["SHOP_HOST"] for own in given.values()]
    assert given["student-0"]["SHOP_HOST"] == "student-0.shop.example"
    assert len(set(hosts)) == MAX_STUDENTS
    for host in hosts:  # a label value (the host wall reads it) and a name the lab's certificate covers
        label, _, domain = host.partition(".")
        assert domain == assignment.SHOP_DOMAIN == "shop.example"
        assert values.NAME.match(label)
        assert len(host) <= 63
        assert not variable_problem("SHOP_HOST", host)
    assert host_owners(given) == {own["SHOP_HOST"]: student for student, own in given.items()}
    longest = "a" * values.MAX_NAME
    assert shop_host(longest) == f"{longest}.shop.example"
    assert len(shop_host(longest)) <= 63


def test_a_host_depends_on_the_name_alone_and_names_that_would_share_one_are_refused() -> None:
    assert shop_hosts(["ada", "bob"]) == {"ada": "ada.shop.example", "bob": "bob.shop.example"}
    assert shop_hosts(["bob", "ada"])["ada"] == "ada.shop.example"  # order and other students change nothing
    assert shop_host("Ada_Lovelace") == "ada-lovelace.shop.example"  # no values file allows it; still a DNS label
    with pytest.raises(BadInput, match=r"would share the host ada\.shop\.example"):
        shop_hosts(["ada", "ADA"])
