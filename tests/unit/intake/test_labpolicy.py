"""A lab's policy in lab.yaml (grader.intake.labpolicy): what it may declare, and the refusals."""

from __future__ import annotations

import pytest

from grader.base.errors import BadInput
from grader.intake.labpolicy import LabPolicy, policy_from_yaml


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
