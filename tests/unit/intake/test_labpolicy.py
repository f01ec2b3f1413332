"""A lab's policy in lab.yaml (grader.intake.labpolicy): what it may declare, and the refusals."""

from __future__ import annotations

import pytest

from grader.base.errors import BadInput
from grader.intake.labpolicy import LabPolicy, ServiceRules, policy_from_yaml


def test_a_lab_declares_what_its_pods_may_call() -> None:
    assert policy_from_yaml({"kinds": ["Service"], "egress": ["partner", "partner"]}, "lab.yaml", 3).egress == (
        "partner",
    )
    assert LabPolicy().egress == ()
    with pytest.raises(BadInput) as refused:
        policy_from_yaml({"egress": ["internet"]}, "lab.yaml", 7)
    assert refused.value.line == 7
    assert "partner" in (refused.value.fix or "")
    with pytest.raises(BadInput):
        policy_from_yaml({"egress": "partner"}, "lab.yaml", 7)


def test_a_lab_declares_its_service_types_and_counts() -> None:
    policy = policy_from_yaml(
        {"kinds": ["Service"], "services": {"types": ["ClusterIP", "LoadBalancer"], "most": 3, "load_balancers": 1}},
        "lab.yaml",
        4,
    )
    assert policy.services == ServiceRules(("ClusterIP", "LoadBalancer"), 3, 1)
    assert policy_from_yaml({"kinds": ["Service"]}, "lab.yaml", 4).services == ServiceRules(("ClusterIP",), 2, 0)


@pytest.mark.parametrize(
    ("services", "says"),
    [
        ({"types": ["Ingress"]}, "policy.services.types .* names an unknown one"),
        ({"types": []}, "policy.services.types .* names an unknown one"),
        ({"most": -1}, "not a count"),
        ({"most": True}, "not a count"),
        ({"load_balancers": 9, "types": ["LoadBalancer"]}, "not a count"),
        ({"load_balancers": 1}, "LoadBalancer is not in types"),
        ({"colour": 1}, "unknown keys"),
        (["ClusterIP"], "unknown keys"),
    ],
)
def test_a_wrong_services_rule_names_lab_yaml(services: object, says: str) -> None:
    with pytest.raises(BadInput, match=says) as info:
        policy_from_yaml({"kinds": ["Service"], "services": services}, "lab.yaml", 7)
    assert (info.value.file, info.value.line) == ("lab.yaml", 7)
