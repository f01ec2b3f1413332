"""Loading a lab validates it; every violation is BadInput with file, line and rule."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from grader.base.errors import BadInput, EnvError
from grader.catalogue.labs import load_lab
from grader.intake.manifests import parse_docs, render, substitute

DEMO = Path(__file__).parents[2] / "data" / "labs" / "demo"


@pytest.fixture
def lab_copy(tmp_path: Path) -> Path:
    target = tmp_path / "demo"
    shutil.copytree(DEMO, target)
    return target


def test_demo_lab_loads() -> None:
    lab = load_lab(str(DEMO))
    assert lab.id == "demo"
    assert [c.id for c in lab.checks][:2] == ["service_type", "all_backends"]
    assert lab.total_points == 10
    assert {c.label for c in lab.cases} >= {"solution", "alternative/named-targetport", "wrong/wrong-selector"}
    assert lab.probe_deadline_s == 12


def _error(path: Path) -> BadInput:
    with pytest.raises(BadInput) as info:
        load_lab(str(path))
    return info.value


def test_unknown_key_in_lab_yaml_names_its_line(lab_copy: Path) -> None:
    text = (lab_copy / "lab.yaml").read_text()
    (lab_copy / "lab.yaml").write_text(text + "colour: blue\n")
    err = _error(lab_copy)
    assert err.file
    assert err.file.endswith("lab.yaml")
    assert err.line == text.count("\n") + 1
    assert "colour" in err.message


def test_check_without_marker(lab_copy: Path) -> None:
    checks = lab_copy / "checks.py"
    checks.write_text(checks.read_text() + "\n\ndef test_unmarked(lab):\n    pass\n")
    err = _error(lab_copy)
    assert "test_unmarked" in err.message
    assert err.line is not None


def test_wrong_case_must_name_an_existing_check(lab_copy: Path) -> None:
    (lab_copy / "wrong" / "wrong-selector" / "case.yaml").write_text("fails: nope\ndiagnosis: demo/x\n")
    err = _error(lab_copy)
    assert "nope" in err.message
    assert err.line == 1
    assert err.fix
    assert "all_backends" in err.fix


def test_undeclared_placeholder(lab_copy: Path) -> None:
    path = lab_copy / "solution" / "services.yaml"
    path.write_text(path.read_text().replace("name: web-np", "name: web-np\n  annotations: {ip: '${STATIC_IP}'}"))
    err = _error(lab_copy)
    assert "STATIC_IP" in err.message
    assert err.fix
    assert "variables" in err.fix


def test_manifest_must_not_set_a_namespace(lab_copy: Path) -> None:
    path = lab_copy / "solution" / "services.yaml"
    path.write_text(path.read_text().replace("  name: web-np", "  name: web-np\n  namespace: default"))
    err = _error(lab_copy)
    assert "metadata.namespace" in err.message
    assert err.line == 15


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    with pytest.raises(BadInput) as info:
        parse_docs("kind: Service\nmetadata:\n  name: [unclosed\n", "x.yaml")
    assert info.value.line is not None


def test_unknown_lab_lists_known_ones() -> None:
    with pytest.raises(BadInput) as info:
        load_lab("no-such-lab-here")
    assert "no lab" in info.value.message


def test_substitute_and_render_add_grader_labels() -> None:
    text = substitute(
        "kind: Service\napiVersion: v1\nmetadata: {name: a}\nspec: {loadBalancerIP: '${STATIC_IP}'}\n",
        {"STATIC_IP": "172.18.255.210"},
    )
    docs = parse_docs(text, "x.yaml")
    rendered = json.loads(render(docs, "12e345"))  # a run id a YAML 1.2 parser would read as a number
    service = rendered["items"][0]
    assert service["spec"]["loadBalancerIP"] == "172.18.255.210"
    assert service["metadata"]["labels"] == {
        "app.kubernetes.io/managed-by": "servicelab",
        "servicelab.dev/run": "12e345",
    }
    with pytest.raises(EnvError):
        substitute("${STATIC_IP}", {}, "x.yaml", {"STATIC_IP": "not kind"})
    with pytest.raises(BadInput):
        substitute("${NOPE}", {"STATIC_IP": "1"}, "x.yaml")


# --- notebook.yaml and diagram.mmd: optional, and validated like lab.yaml -------------------------------------


def test_a_lab_without_notebook_parts_loads_with_none(lab_copy: Path) -> None:
    assert not (lab_copy / "notebook.yaml").exists()
    lab = load_lab(str(lab_copy))
    assert (lab.notebook.minutes, lab.notebook.objectives, lab.notebook.on_kind, lab.notebook.diagram) == (
        None,
        (),
        "",
        "",
    )
    assert lab.notebook.clear_first is None


def test_notebook_parts_are_read(lab_copy: Path) -> None:
    (lab_copy / "notebook.yaml").write_text(
        "minutes: 20\nobjectives: [one, two]\non_kind: >-\n  MetalLB plays\n  the Azure LB.\n"
        "clear_first:\n  why: It competes\n  lab: ingress\nobserve_network: true\nprerequisites: [clusterip]\n"
    )
    (lab_copy / "diagram.mmd").write_text("flowchart LR\n  a --> b\n")
    nb = load_lab(str(lab_copy)).notebook
    assert (nb.minutes, nb.objectives, nb.on_kind, nb.observe_network) == (
        20,
        ("one", "two"),
        "MetalLB plays the Azure LB.",
        True,
    )
    assert nb.clear_first is not None
    assert (nb.clear_first.why, nb.clear_first.lab) == ("It competes", "ingress")
    assert nb.prerequisites == ("clusterip",)
    assert nb.diagram == "flowchart LR\n  a --> b"


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("minutes: 20\ncolour: blue\n", 2, "unknown key 'colour'"),
        ("minutes: -5\n", 1, "minutes -5 is not a positive integer"),
        ("minutes: true\n", 1, "minutes True is not a positive integer"),
        ("objectives: learn things\n", 1, "objectives must be a list of non-empty strings"),
        ("minutes: 3\non_kind: ''\n", 2, "on_kind must be non-empty text"),
        ("observe_network: 'yes'\n", 1, "observe_network 'yes' is not true or false"),
        ("clear_first: {resource: x, namespace: y}\n", 1, "clear_first must map why and lab to text"),
        ("clear_first: {why: w, lab: 'x\", confirm=True'}\n", 1, "is not a lab id"),
        ("minutes: 3\nprerequisites: clusterip\n", 2, "prerequisites must be a list of lab ids"),
    ],
)
def test_bad_notebook_yaml_names_file_line_and_rule(lab_copy: Path, text: str, line: int, words: str) -> None:
    (lab_copy / "notebook.yaml").write_text(text)
    err = _error(lab_copy)
    assert err.file
    assert err.file.endswith("notebook.yaml")
    assert err.line == line
    assert words in err.message
    assert err.rule


TRY_IT = (
    "minutes: 5\ntry_it:\n- title: a pod is replaced\n  explain: The next cell deletes one pod.\n"
    '  code: replace_a_pod("clusterip")\n  notice: The ClusterIP stays.\n'
)


def test_try_it_steps_are_read_with_the_functions_they_call(lab_copy: Path) -> None:
    (lab_copy / "notebook.yaml").write_text(TRY_IT)
    (step,) = load_lab(str(lab_copy)).notebook.try_it
    assert (step.title, step.explain, step.code, step.notice, step.calls) == (
        "a pod is replaced",
        "The next cell deletes one pod.",
        'replace_a_pod("clusterip")',
        "The ClusterIP stays.",
        ("replace_a_pod",),
    )
    assert load_lab(str(DEMO)).notebook.try_it == ()


@pytest.mark.parametrize(
    ("step", "words"),
    [
        ("try_it: replace_a_pod()\n", "try_it must be a non-empty list of steps"),
        ("try_it: []\n", "try_it must be a non-empty list of steps"),
        ("try_it:\n- {title: t, explain: e, code: 'f()'}\n", "step 1 has ['code', 'explain', 'title'], not the keys"),
        ("try_it:\n- replace_a_pod()\n", "step 1 has str, not the keys"),
        ("try_it:\n- {title: t, explain: '', code: 'f()', notice: n}\n", "step 1: explain must be non-empty text"),
        ("try_it:\n- {title: t, explain: e, code: 'f(', notice: n}\n", "step 1: code is not Python"),
        ("try_it:\n- {title: t, explain: e, code: 'print(1)', notice: n}\n", "step 1: code calls no notebook function"),
    ],
)
def test_bad_try_it_names_file_line_and_rule(lab_copy: Path, step: str, words: str) -> None:
    (lab_copy / "notebook.yaml").write_text("minutes: 5\n" + step)
    err = _error(lab_copy)
    assert err.file
    assert err.file.endswith("notebook.yaml")
    assert err.line == 2
    assert words in err.message
    assert err.rule
    assert err.rule.startswith("try_it: a list of steps")


@pytest.mark.parametrize(("text", "line"), [("\n\n", 1), ("flowchart LR\n  a --> b\n```\n", 3)])
def test_bad_diagram_names_its_line(lab_copy: Path, text: str, line: int) -> None:
    (lab_copy / "diagram.mmd").write_text(text)
    err = _error(lab_copy)
    assert err.file
    assert err.file.endswith("diagram.mmd")
    assert err.line == line


def test_a_wrong_case_declares_the_diagnosis_it_tests(lab_copy: Path) -> None:
    case = lab_copy / "wrong" / "wrong-selector" / "case.yaml"
    case.write_text("fails: all_backends\nwhy: typo\n")
    assert "diagnosis: None is not a diagnosis id" in _error(lab_copy).message
    case.write_text("fails: all_backends\ndiagnosis: Selector Typo\nwhy: typo\n")
    assert "is not a diagnosis id" in _error(lab_copy).message


def test_a_hint_shorter_than_its_diagnosis_is_refused(lab_copy: Path) -> None:
    case = lab_copy / "wrong" / "wrong-selector" / "case.yaml"
    case.write_text("fails: all_backends\ndiagnosis: endpoints/selector-matches-no-pod\nhint: selector\nwhy: typo\n")
    err = _error(lab_copy)
    assert "shorter than the diagnosis" in err.message
    assert err.line == 3


def test_two_wrong_cases_that_could_pass_with_each_others_diagnosis_say_so(lab_copy: Path) -> None:
    shared = (
        "fails: all_backends\ndiagnosis: endpoints/selector-matches-no-pod\nwhy: typo\nblocked: [clusterip_private]\n"
    )
    (lab_copy / "wrong" / "wrong-selector" / "case.yaml").write_text(shared)
    twin = lab_copy / "wrong" / "selector-twin"
    shutil.copytree(lab_copy / "wrong" / "wrong-selector", twin)
    err = _error(lab_copy)
    assert "both declare that all_backends fails with endpoints/selector-matches-no-pod" in err.message
    assert err.fix
    assert "same_diagnosis_as: [wrong-selector]" in err.fix
    (twin / "case.yaml").write_text(shared + "same_diagnosis_as: [wrong-selector]\n")
    assert "selector-twin" in _error(lab_copy).message  # declared on one side only: not on purpose
    (lab_copy / "wrong" / "wrong-selector" / "case.yaml").write_text(shared + "same_diagnosis_as: [selector-twin]\n")
    lab = load_lab(str(lab_copy))
    twin_case = next(c for c in lab.cases if c.name == "selector-twin")
    assert twin_case.same_diagnosis_as == ("wrong-selector",)
    (twin / "case.yaml").write_text(shared + "same_diagnosis_as: [no-such-case]\n")
    assert "no wrong case 'no-such-case'" in _error(lab_copy).message


def test_evidence_in_a_check_marker_is_object_or_nothing(lab_copy: Path) -> None:
    checks = lab_copy / "checks.py"
    checks.write_text(checks.read_text().replace('on port 80", evidence="object"', 'on port 80", evidence="probe"'))
    assert "evidence, when given, is the literal 'object'" in _error(lab_copy).message
    assert load_lab(str(DEMO)).checks[0].evidence == "object"


# --- diagram-kind.mmd: what kind does, beside what AKS builds, with why the grade is the same --------------------


def test_a_kind_diagram_comes_with_why_the_grade_is_the_same(lab_copy: Path) -> None:
    (lab_copy / "diagram.mmd").write_text("flowchart LR\n  a --> b\n")
    (lab_copy / "diagram-kind.mmd").write_text("flowchart LR\n  a --> c\n")
    (lab_copy / "notebook.yaml").write_text("graded_the_same: The grader checks what a client sees.\n")
    nb = load_lab(str(lab_copy)).notebook
    assert (nb.kind_diagram, nb.graded_the_same) == ("flowchart LR\n  a --> c", "The grader checks what a client sees.")


@pytest.mark.parametrize(
    ("files", "words", "culprit"),
    [
        ({"diagram-kind.mmd": "flowchart LR\n  a --> c\n"}, "diagram-kind.mmd without diagram.mmd", "diagram-kind.mmd"),
        (
            {"diagram.mmd": "flowchart LR\n  a --> b\n", "diagram-kind.mmd": "flowchart LR\n  a --> c\n"},
            "graded_the_same missing",
            "notebook.yaml",
        ),
        (
            {"diagram.mmd": "flowchart LR\n  a --> b\n", "notebook.yaml": "graded_the_same: Same.\n"},
            "graded_the_same given without",
            "notebook.yaml",
        ),
        ({"notebook.yaml": "graded_the_same: ''\n"}, "graded_the_same must be non-empty text", "notebook.yaml"),
    ],
)
def test_a_kind_diagram_and_graded_the_same_go_together(
    lab_copy: Path, files: dict[str, str], words: str, culprit: str
) -> None:
    for name, text in files.items():
        (lab_copy / name).write_text(text)
    err = _error(lab_copy)
    assert words in err.message
    assert err.file
    assert err.file.endswith(culprit)
    assert err.rule
