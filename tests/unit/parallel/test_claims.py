"""A claim names one thing however it was written: addresses, hosts and node ports in every spelling."""

from __future__ import annotations

import pytest

from grader.intake.manifests import Doc
from grader.parallel.claims import claims_of


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
