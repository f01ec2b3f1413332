"""The fence's quota backs each lab's Service rules (grader.grading.fence, lab.yaml `policy.services`)."""

from __future__ import annotations

from grader.catalogue.labs import load_lab
from grader.catalogue.locate import all_labs
from grader.grading.fence import fence


def test_every_lab_takes_no_more_load_balancers_than_its_quota_allows() -> None:
    for path in all_labs():
        lab = load_lab(str(path))
        rules = lab.policy.services
        hard = fence("ns", "run", lab.policy)[0]["spec"]["hard"]
        assert hard["services.loadbalancers"] == str(rules.load_balancers), lab.id
        assert ("LoadBalancer" in rules.types) == (rules.load_balancers > 0), lab.id
