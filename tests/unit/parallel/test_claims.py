"""A claim names one thing however it was written: addresses, hosts and node ports in every spelling."""

from __future__ import annotations

import pytest

from grader.catalogue.labs import facts_for, load_lab, with_variables
from grader.cluster.facts import ClusterFacts
from grader.grading.submission import judge_submission, learner_files
from grader.intake.manifests import Doc
from grader.parallel.claims import claims_of, overlaps, submission_claims


def _service(**spec: object) -> Doc:
    return Doc(
        obj={"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": spec}, file="f.yaml", line=1
    )


def _annotated(key: str, value: str) -> Doc:
    obj = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "annotations": {key: value}}, "spec": {}}
    return Doc(obj=obj, file="f.yaml", line=1)


@pytest.mark.parametrize(
    "written",
    [
        "172.18.255.210",
        " 172.18.255.210 ",
        "::ffff:172.18.255.210",
        "::FFFF:AC12:FFD2",
        "[::ffff:172.18.255.210]",
        "172.018.255.210",
        "0172.18.255.210",
    ],
)
def test_every_form_of_one_ipv4_address_is_one_claim(written: str) -> None:
    assert claims_of([_service(loadBalancerIP=written)]) == {"ip:172.18.255.210"}


@pytest.mark.parametrize(
    "key",
    [
        "service.beta.kubernetes.io/azure-load-balancer-ipv4",
        "metallb.io/loadBalancerIPs",
        "metallb.universe.tf/loadBalancerIPs",
    ],
)
def test_an_annotation_and_a_field_naming_one_address_collide(key: str) -> None:
    assert claims_of([_annotated(key, "::ffff:172.18.255.210")]) == claims_of(
        [_service(loadBalancerIP="172.18.255.210")]
    )


@pytest.mark.parametrize("written", ["fd00::1", "FD00:0:0:0:0:0:0:1", "fd00:0000::0001", "[fd00::1]"])
def test_ipv6_forms_are_one_claim(written: str) -> None:
    assert claims_of([_service(loadBalancerIP=written)]) == {"ip:fd00::1"}


def test_a_comma_separated_annotation_claims_each_address() -> None:
    doc = _annotated("metallb.io/loadBalancerIPs", "172.18.255.210, ::ffff:172.18.255.211")
    assert claims_of([doc]) == {"ip:172.18.255.210", "ip:172.18.255.211"}


@pytest.mark.parametrize("written", [30007, "30007", "030007"])
def test_node_port_forms_are_one_claim(written: object) -> None:
    assert claims_of([_service(ports=[{"port": 80, "nodePort": written}])]) == {"nodeport:30007"}


def test_health_check_node_port_is_claimed() -> None:
    assert claims_of([_service(healthCheckNodePort=30123)]) == {"nodeport:30123"}


@pytest.mark.parametrize("written", ["Shop.Example", "shop.example.", " shop.example "])
def test_host_forms_are_one_claim(written: str) -> None:
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "i"},
        "spec": {"rules": [{"host": written}]},
    }
    assert claims_of([Doc(obj=ingress, file="f.yaml", line=1)]) == {"http-host:shop.example"}


def test_a_placeholder_stays_one_exact_claim() -> None:
    assert claims_of([_service(loadBalancerIP="${STATIC_IP}")]) == {"ip:${STATIC_IP}"}


def test_a_classroom_students_static_ip_is_their_own_claim_so_two_students_never_wait_on_each_other() -> None:
    """The grading service grades each student with their own variables (grader.grading.session.grade): the claim is
    the address itself, so alice's and bob's static-ip gradings hold different leases; the lab's checks read the
    same value (facts_for), not the cluster's STATIC_IP."""
    lab = load_lab("static-ip")
    solution = learner_files(lab.solution.path)
    cluster = {"STATIC_IP": "172.18.255.210", "INTERNAL_STATIC_IP": "172.18.255.230", "NAMESPACE": "ns"}
    held = {}
    for student, address in (("alice", "172.18.254.7"), ("bob", "172.18.254.120")):
        own = with_variables(lab, {"STATIC_IP": address, "INTERNAL_STATIC_IP": "172.18.253.9", "NODE_PORT": "30412"})
        docs = judge_submission(own, solution)
        held[student] = submission_claims(own, docs, cluster)
        assert f"ip:{address}" in held[student]
        graded = facts_for(own, ClusterFacts(context=None, is_kind=True, nodes=[], variables=dict(cluster)))
        assert graded.variables["STATIC_IP"] == address
    assert not [(a, b) for a in held["alice"] for b in held["bob"] if overlaps(a, b)]
    assert "ip:172.18.255.210" in submission_claims(lab, judge_submission(lab, solution), cluster)  # no classroom
