"""Each student's own node port (grader.classroom.assignment): distinct, clear of every port servicelab fixes,
stable when students are added, and a class that cannot get distinct ports refused with file, line, rule, fix."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from grader.base.errors import BadInput
from grader.catalogue.labs import load_lab, variable_problem
from grader.classroom import assignment, values
from grader.classroom.assignment import (
    CLASSROOM_NODE_PORTS,
    INTERNAL_STATIC_IP,
    STATIC_IP,
    address_owners,
    address_variables,
    band_addresses,
    host_owners,
    node_ports,
    port_owners,
    reserved_ports,
    shop_host,
    shop_hosts,
    static_addresses,
    variables_of,
)
from grader.classroom.values import MAX_STUDENTS, Values
from grader.cluster.net import CLASS_BAND, class_bands, lab_addresses

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


# --- static IPs -------------------------------------------------------------------------------------------------
BANDS = class_bands("172.18.0.0/16")


def test_a_full_class_gets_distinct_static_ips_of_each_band() -> None:
    given = static_addresses(CLASS, {STATIC_IP: BANDS.static, INTERNAL_STATIC_IP: BANDS.internal})
    assert list(given) == list(CLASS)
    for var, band in ((STATIC_IP, BANDS.static), (INTERNAL_STATIC_IP, BANDS.internal)):
        addresses = [own[var] for own in given.values()]
        assert len(set(addresses)) == MAX_STUDENTS
        assert set(addresses) <= set(band)
    assert len(address_owners(given)) == 2 * MAX_STUDENTS
    assert address_owners(given)[given["student-7"][STATIC_IP]] == "student-7"


def test_a_students_static_ip_stays_when_students_are_added_and_skips_taken_addresses() -> None:
    before = band_addresses(CLASS[:150], BANDS.static)
    assert band_addresses(CLASS[:150], BANDS.static) == before
    after = band_addresses((*CLASS[:150], "zoe", "yann"), BANDS.static)
    assert {s: after[s] for s in before} == before
    few = band_addresses(CLASS[:30], BANDS.static)
    taken = {few["student-3"], "172.18.254.0"}  # a container came to sit on student-3's address
    around = band_addresses(CLASS[:30], BANDS.static, taken)
    assert not taken & set(around.values())
    moved = [s for s in few if around[s] != few[s]]
    assert "student-3" in moved
    assert len(moved) <= 3  # only she, and whoever her new address had been given to


def test_a_band_too_small_for_the_class_is_refused_with_the_rule() -> None:
    with pytest.raises(BadInput, match="3 students, but 2 can get a static IP of their own") as caught:
        band_addresses(("a", "b", "c"), ("10.0.0.1", "10.0.0.2", "10.0.0.3"), taken={"10.0.0.2"})
    assert caught.value.rule == assignment.ADDRESS_RULE


def test_variables_of_adds_each_students_static_ips_to_their_node_port() -> None:
    addresses = static_addresses(("alice", "bob"), {STATIC_IP: BANDS.static})
    given = variables_of(_values(("alice", "bob")), addresses=addresses)
    assert given["alice"] == {
        "NODE_PORT": given["alice"]["NODE_PORT"],
        "SHOP_HOST": "alice.shop.example",
        STATIC_IP: addresses["alice"][STATIC_IP],
    }
    assert given["bob"][STATIC_IP] != given["alice"][STATIC_IP]
    assert set(variables_of(_values(("alice",)))["alice"]) == {"NODE_PORT", "SHOP_HOST"}  # no static IPs unless given


def test_the_address_variables_are_those_the_class_labs_declare() -> None:
    assert address_variables([("NODE_PORT",), ()]) == ()
    assert address_variables([("INTERNAL_STATIC_IP",)]) == (INTERNAL_STATIC_IP,)
    assert address_variables([("INTERNAL_STATIC_IP", "STATIC_IP"), ("INTERNAL_STATIC_IP",)]) == (
        STATIC_IP,
        INTERNAL_STATIC_IP,
    )
    labs = {lab: load_lab(lab).variables for lab in ("static-ip", "internal-lb", "nodeport")}
    assert address_variables([labs["static-ip"]]) == (STATIC_IP, INTERNAL_STATIC_IP)
    assert address_variables([labs["internal-lb"], labs["nodeport"]]) == (INTERNAL_STATIC_IP,)


def test_the_class_bands_hold_every_student_and_sit_clear_of_the_lab_pools_and_the_containers() -> None:
    assert CLASS_BAND >= MAX_STUDENTS
    assert (BANDS.static[0], BANDS.static[-1]) == ("172.18.254.0", "172.18.254.199")
    assert (BANDS.internal[0], BANDS.internal[-1]) == ("172.18.253.0", "172.18.253.199")
    lab = lab_addresses("172.18.0.0/16")
    lab_pools = {str(ipaddress.IPv4Address(a)) for a in range(
        int(ipaddress.IPv4Address(lab.public_first)), int(ipaddress.IPv4Address(lab.internal_last)) + 1
    )}  # fmt: skip
    assert not lab_pools & {*BANDS.static, *BANDS.internal}
    assert (lab.class_internal_first, lab.class_internal_last) == (BANDS.internal[0], BANDS.internal[-1])
    small = class_bands("10.0.4.0/22")
    assert small.internal[0] == "10.0.5.0"  # above the first 256 addresses, where docker starts
    assert small.static[-1] == "10.0.6.199"
    with pytest.raises(ValueError, match="too small for a classroom's static IPs"):
        class_bands("10.0.4.0/23")
    assert lab_addresses("10.0.4.0/24").class_internal_first == ""
