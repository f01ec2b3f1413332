"""A lab's own variables (NODE_PORT): lab.yaml gives the default, a learner's own values (a classroom's) win for one
grading, the judge accepts them, and the Environment's shared facts never change."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from _grader_fakes import FakeKube, ScriptedVantage, facts, http_ok

from grader.base.errors import BadInput
from grader.catalogue.labs import facts_for, lab_values, load_lab, with_variables
from grader.cluster.facts import ClusterFacts
from grader.grading.results import Status
from grader.grading.session import grade
from grader.grading.submission import judge_submission
from grader.lab.context import LabContext
from grader.probes.base import ProbePolicy

REPO = Path(__file__).resolve().parents[3]
CHECKS = """
import pytest
from grader.lab.context import LabContext

@pytest.mark.check(points=1, title="says its node port")
def test_port(lab: LabContext) -> None:
    lab.expect(False, "node port " + lab.facts.variables["NODE_PORT"], diagnosis="mini/port")
"""
SERVICE = (
    "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {type: NodePort, ports: [{port: 80, nodePort: %s}]}\n"
)


MINI = (
    "variables: [NODE_PORT]\ndefaults: {NODE_PORT: 30007}\n"
    "policy: {node_ports: [30000, 30079], services: {types: [NodePort]}}\n"
)


def _lab(root: Path, lab_yaml: str = MINI) -> Path:
    lab = root / "mini"
    (lab / "solution").mkdir(parents=True)
    (lab / "lab.yaml").write_text("id: mini\ntitle: Mini\norder: 1\n" + lab_yaml)
    (lab / "task.md").write_text("Do it.\n")
    (lab / "solution" / "s.yaml").write_text(SERVICE % "30007")
    (lab / "checks.py").write_text(textwrap.dedent(CHECKS))
    return lab


class FakeEnv:
    """One Environment shared by gradings: its facts are the cluster's."""

    run_id = "t1"
    policy = ProbePolicy()

    def __init__(self) -> None:
        self.kube = FakeKube({"namespaces": [{"metadata": {"name": "ns"}}]})
        self.facts: ClusterFacts = facts()

    def context(self, namespace: str, ready_timeout_s: float = 60.0) -> LabContext:
        ok = lambda op, n: http_ok()  # noqa: E731
        return LabContext(
            namespace,
            FakeKube(),
            self.facts,
            ScriptedVantage(ok),
            ScriptedVantage(ok, "other"),  # type: ignore[arg-type]
            ScriptedVantage(ok, "outside container"),
            ScriptedVantage(ok, "host"),
        )


def _message(env: Any, lab: Any, variables: dict[str, str] | None = None) -> str:
    result = grade(lab, env, namespace="ns", variables=variables)
    (check,) = result.checks
    assert check.status == Status.FAIL
    return check.message


def test_the_nodeport_lab_declares_node_port_with_its_own_default() -> None:
    lab = load_lab(REPO / "labs" / "nodeport")
    assert lab.variables == ["NODE_PORT"]
    assert lab_values(lab) == {"NODE_PORT": "30007"}
    assert facts_for(lab, facts()).variables["NODE_PORT"] == "30007"


def test_a_grading_uses_the_default_or_the_learners_own_and_leaves_the_shared_facts_alone(tmp_path: Path) -> None:
    lab = load_lab(_lab(tmp_path))
    env = FakeEnv()
    before = dict(env.facts.variables)
    assert "node port 30007" in _message(env, lab)
    assert "node port 30100" in _message(env, lab, {"NODE_PORT": "30100"})
    assert "node port 30201" in _message(env, lab, {"NODE_PORT": "30201", "STATIC_IP": "10.1.2.3"})
    assert "node port 30007" in _message(env, lab)  # the next grading in the same process: the default again
    assert env.facts.variables == before
    assert lab.values == {"NODE_PORT": "30007"}  # the loaded lab is not changed either


def test_the_judge_accepts_the_learners_own_node_port_only(tmp_path: Path) -> None:
    lab = load_lab(_lab(tmp_path))
    mine = with_variables(lab, {"NODE_PORT": "30100"})
    assert mine.policy.node_ports == (30100, 30100)
    assert lab.policy.node_ports == (30000, 30079)
    judge_submission(mine, None, SERVICE % "30100")
    with pytest.raises(BadInput, match="node port 30007 is not accepted"):
        judge_submission(mine, None, SERVICE % "30007")
    assert with_variables(lab, {"STATIC_IP": "10.1.2.3"}) is lab  # not this lab's variable: ignored


@pytest.mark.parametrize(
    ("variables", "said"),
    [({"NODE_PORT": "80"}, "not a node port"), ({"NODE_PORT": "x"}, "not a node port"), ({"PORT": "1"}, "no variable")],
)
def test_a_value_no_variable_can_have_is_refused(tmp_path: Path, variables: dict[str, str], said: str) -> None:
    with pytest.raises(BadInput, match=said):
        with_variables(load_lab(_lab(tmp_path)), variables)


@pytest.mark.parametrize(
    ("lab_yaml", "said"),
    [
        ("variables: [NODE_PORT]\npolicy: {node_ports: [30000, 30079]}\n", "NODE_PORT has no default"),
        ("variables: [NODE_PORT]\ndefaults: {NODE_PORT: 30090}\npolicy: {node_ports: [30000, 30079]}\n", "outside"),
        ("variables: [NODE_PORT]\ndefaults: {NODE_PORT: 99}\npolicy: {node_ports: [30000, 30079]}\n", "node port"),
        ("variables: [STATIC_IP]\ndefaults: {STATIC_IP: 10.0.0.1}\n", "defaults names 'STATIC_IP'"),
        ("defaults: {NODE_PORT: 30007}\n", "defaults names 'NODE_PORT'"),
        ("variables: [NODE_PORT]\ndefaults: [30007]\n", "not a mapping"),
    ],
)
def test_lab_yaml_defaults_are_checked(tmp_path: Path, lab_yaml: str, said: str) -> None:
    with pytest.raises(BadInput, match=said) as info:
        load_lab(_lab(tmp_path, lab_yaml))
    assert str(info.value.file).endswith("lab.yaml")
    assert info.value.line is not None
