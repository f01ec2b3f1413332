"""The lab corpus is complete and well-formed: fast, no cluster.

The labs are discovered (grader.catalogue.locate.all_labs): every folder of labs/ is one. Each has a task, a
starter where it needs one, a solution, at least two alternatives and at least five wrong cases that each name
a check which exists; manifests parse, never set a namespace and use only the lab images; every lab has a
notebook with a "check my work" cell, as build_notebooks.py makes it. The folder `servicelab new-lab` writes
passes the same checks of form (not the count of cases: that is for the author to add).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from _builder import load_builder

from grader.base.images import LAB_IMAGES
from grader.catalogue.labs import load_lab
from grader.catalogue.locate import all_labs
from grader.catalogue.skeleton import new_lab

REPO = Path(__file__).resolve().parents[3]
LABS = REPO / "labs"
NOTEBOOKS = REPO / "notebooks" / "source"

LAB_IDS = [p.name for p in all_labs(LABS)]  # in course order
SKELETON = "new-lab-skeleton"  # not in labs/: the folder `servicelab new-lab` writes, made afresh in tmp_path
ALLOWED_PLACEHOLDERS = {"STATIC_IP", "INTERNAL_STATIC_IP", "NAMESPACE", "NODE_PORT", "SHOP_HOST"}
WRONG_KEYS = {"fails", "diagnosis", "hint", "why", "blocked", "same_diagnosis_as"}


def manifests(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.yaml") if p.name != "case.yaml")


def docs_of(path: Path) -> list[dict[str, object]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


def check_ids(lab: Path) -> set[str]:
    tree = ast.parse((lab / "checks.py").read_text(encoding="utf-8"))
    return {
        node.name.removeprefix("test_")
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    }


def lab_yaml(lab: Path) -> dict[str, object]:
    data = yaml.safe_load((lab / "lab.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def cases(lab: Path, folder: str) -> list[Path]:
    return sorted(p for p in (lab / folder).iterdir() if p.is_dir())


@pytest.fixture
def lab(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A lab folder: labs/<id>, or a fresh skeleton for SKELETON."""
    return new_lab(SKELETON, tmp_path) if request.param == SKELETON else LABS / request.param


def test_every_folder_of_labs_is_a_lab_and_orders_are_unique() -> None:
    folders = sorted(p.name for p in LABS.iterdir() if p.is_dir() and not p.name.startswith((".", "__")))
    assert folders == sorted(LAB_IDS), "a folder of labs/ without lab.yaml is in no course"
    orders = [lab_yaml(LABS / lab)["order"] for lab in LAB_IDS]
    assert len(set(orders)) == len(orders), "orders are unique"


@pytest.mark.parametrize("lab_id", LAB_IDS)
def test_lab_has_two_alternatives_and_five_mistakes(lab_id: str) -> None:
    assert len(cases(LABS / lab_id, "alternatives")) >= 2, "at least two other correct answers"
    assert len(cases(LABS / lab_id, "wrong")) >= 5, "at least five realistic mistakes"


@pytest.mark.parametrize("lab", [*LAB_IDS, SKELETON], indirect=True)
def test_lab_folder_is_complete(lab: Path) -> None:
    meta = lab_yaml(lab)
    assert meta["id"] == lab.name
    assert isinstance(meta["title"], str)
    assert meta["title"].strip()
    assert (lab / "task.md").read_text(encoding="utf-8").strip()
    assert manifests(lab / "solution"), "a reference solution"
    alternatives, wrong = cases(lab, "alternatives"), cases(lab, "wrong")
    assert alternatives, "another correct answer"
    assert wrong, "a realistic mistake"
    for case in alternatives:
        data = yaml.safe_load((case / "case.yaml").read_text(encoding="utf-8"))
        assert set(data) == {"why"}, case
        assert data["why"].strip(), case
        assert manifests(case), case
    ids = check_ids(lab)
    for case in wrong:
        data = yaml.safe_load((case / "case.yaml").read_text(encoding="utf-8"))
        assert {"fails", "diagnosis", "why"} <= set(data) <= WRONG_KEYS, case
        assert set(data.get("blocked", [])) <= ids - {data["fails"]}, f"{case}: blocked names no other check"
        assert data["fails"] in ids, f"{case}: fails {data['fails']!r} is not one of {sorted(ids)}"
        assert len(data.get("hint", data["diagnosis"])) >= len(data["diagnosis"]), f"{case}: a hint says more"
        assert data["why"].strip(), case
        assert manifests(case), case


@pytest.mark.parametrize("lab", [*LAB_IDS, SKELETON], indirect=True)
def test_expected_objects_are_in_the_solution(lab: Path) -> None:
    refs = {(d["kind"], d["metadata"]["name"]) for f in manifests(lab / "solution") for d in docs_of(f)}  # type: ignore[index]
    for expect in lab_yaml(lab)["expects"]:  # type: ignore[attr-defined]
        assert (expect["kind"], expect["name"]) in refs


@pytest.mark.parametrize("lab", [*LAB_IDS, SKELETON], indirect=True)
def test_manifests_parse_without_namespace_and_use_lab_images(lab: Path) -> None:
    declared = set(lab_yaml(lab).get("variables", [])) | {"NAMESPACE"}  # type: ignore[arg-type]
    for path in [
        m
        for sub in ("starter", "solution", "alternatives", "wrong")
        if (lab / sub).is_dir()
        for m in manifests(lab / sub)
    ]:
        text = path.read_text(encoding="utf-8")
        used = set(re.findall(r"\$\{([A-Za-z_]+)\}", text))
        assert used <= declared <= ALLOWED_PLACEHOLDERS, f"{path}: placeholders {used - declared}"
        for doc in docs_of(path):
            assert doc.get("apiVersion"), path
            assert doc.get("kind"), path
            meta = doc.get("metadata")
            assert isinstance(meta, dict), path
            assert meta.get("name"), path
            assert "namespace" not in meta, f"{path}: the grader chooses the namespace"
            for container in _containers(doc):
                assert container["image"] in LAB_IMAGES, f"{path}: image {container['image']}"
                assert container.get("imagePullPolicy") == "IfNotPresent", path


def _containers(doc: dict[str, object]) -> list[dict[str, object]]:
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return []
    template = spec.get("template")
    pod_spec = template.get("spec", {}) if isinstance(template, dict) else spec
    return list(pod_spec.get("containers", [])) if isinstance(pod_spec, dict) else []


@pytest.mark.parametrize("lab", [*LAB_IDS, SKELETON], indirect=True)
def test_checks_have_points_and_titles(lab: Path) -> None:
    tree = ast.parse((lab / "checks.py").read_text(encoding="utf-8"))
    tests = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")]
    assert tests
    for node in tests:
        markers = [
            d for d in node.decorator_list if isinstance(d, ast.Call) and ast.unparse(d.func).endswith("mark.check")
        ]
        assert len(markers) == 1, node.name
        kwargs = {k.arg: k.value for k in markers[0].keywords}
        assert isinstance(kwargs["points"], ast.Constant)
        assert kwargs["points"].value > 0
        assert isinstance(kwargs["title"], ast.Constant)
        assert kwargs["title"].value.strip()


@pytest.mark.parametrize("lab", [*LAB_IDS, SKELETON], indirect=True)
def test_the_grader_accepts_every_lab(lab: Path) -> None:
    assert load_lab(lab).id == lab.name


def notebook_path(lab_id: str) -> Path:
    order = int(lab_yaml(LABS / lab_id)["order"])  # type: ignore[arg-type]
    return NOTEBOOKS / f"{order:02d}-{lab_id}" / f"{lab_id}.ipynb"


@pytest.mark.parametrize("lab_id", LAB_IDS)
def test_notebook_is_valid_nbgrader_source(lab_id: str) -> None:
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(str(notebook_path(lab_id)), as_version=4)
    nbformat.validate(nb)
    meta = [c.metadata.get("nbgrader", {}) for c in nb.cells]
    grade_ids = [m["grade_id"] for m in meta if m]
    assert len(grade_ids) == len(set(grade_ids)), "nbgrader grade_ids are unique"
    grade_cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert grade_cells, "a graded 'check my work' cell"
    for cell in grade_cells:  # the lab's check, and its knowledge check's questions (test_knowledge.py)
        question = cell.metadata.nbgrader["grade_id"].startswith("knowledge-")
        assert (f'knowledge("{lab_id}", ' if question else f'check("{lab_id}")') in cell.source
        assert cell.metadata.nbgrader["points"] > 0
    solutions = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert solutions
    assert all("### BEGIN SOLUTION" in c.source and "### END SOLUTION" in c.source for c in solutions)


@pytest.fixture(scope="module")
def builder() -> ModuleType:
    return load_builder()


@pytest.mark.parametrize("lab_id", LAB_IDS)
def test_notebook_is_what_the_builder_makes(builder: ModuleType, lab_id: str) -> None:
    """The notebook is in step with the lab folder (python notebooks/build_notebooks.py)."""
    lab = load_lab(LABS / lab_id)
    made = builder.nbformat.writes(builder.build(lab)) + "\n"
    assert notebook_path(lab_id).read_text(encoding="utf-8") == made, "run python notebooks/build_notebooks.py"


# Issue 22: points need evidence, failures name their diagnosis.
GRADER_LAB = REPO / "grader" / "lab"
DEMO = REPO / "tests" / "data" / "labs" / "demo"
VERDICTS = {"fail", "expect"}  # LabContext methods that raise Fail
PROBE_VERDICTS = {"must_succeed", "must_contain", "must_cover", "must_resolve"}
SILENCES = {"must_not_reach", "must_not_connect", "must_not_reach_any"}
# The checks that earn their points on a field they read, not on a probe: few, and their titles say what they read.
STRUCTURAL = {
    ("nodeport", "type_is_nodeport"),
    ("static-ip", "no_deprecated_field"),
    ("headless", "no_cluster_ip"),
    ("readiness", "pods_have_readiness_probe"),
    ("pod-networking", "pod_cidr"),
    ("pod-networking", "pods_share_node_subnet"),
}
DIAGNOSIS_ID = re.compile(r"^[a-z0-9-]+/[a-z0-9-]+$")


def _calls(path: Path) -> list[ast.Call]:
    return [n for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))) if isinstance(n, ast.Call)]


def _verdict(call: ast.Call) -> str:
    """The name of the verdict a call gives (lab.fail, result.must_succeed, ...), or '' when it gives none."""
    func = call.func
    if (
        isinstance(func, ast.Attribute) and func.attr == "submit" and call.args
    ):  # pool.submit(vantage.must_not_..., ...)
        func = call.args[0]
    if not isinstance(func, ast.Attribute):
        return ""
    if func.attr in VERDICTS:
        return func.attr if ast.unparse(func.value) == "lab" else ""
    return func.attr if func.attr in PROBE_VERDICTS | SILENCES else ""


def _ids(path: Path) -> set[str]:
    """Every diagnosis id a module spells out (string constants shaped like one)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and DIAGNOSIS_ID.match(n.value)
    }


@pytest.mark.parametrize("checks", [LABS / lab / "checks.py" for lab in LAB_IDS] + [DEMO / "checks.py"], ids=str)
def test_every_verdict_a_check_gives_names_its_diagnosis(checks: Path) -> None:
    verdicts = [(c, _verdict(c)) for c in _calls(checks)]
    unnamed = [
        f"line {c.lineno}: {name}" for c, name in verdicts if name and "diagnosis" not in {k.arg for k in c.keywords}
    ]
    assert not unnamed, f"{checks}: a Fail without a diagnosis id: {unnamed}"
    lab = checks.parent.name
    shared = {i for m in GRADER_LAB.glob("*.py") for i in _ids(m)}  # the grader's own: endpoints/..., route/...
    foreign = sorted(i for i in _ids(checks) - shared if not i.startswith(f"{lab}/"))
    assert not foreign, f"{checks}: a lab's own diagnosis ids start with '{lab}/': {foreign}"


def test_the_grader_helpers_name_their_diagnoses_too() -> None:
    for module in sorted(GRADER_LAB.glob("*.py")):
        unnamed = [
            f"{module.name}:{c.lineno}"
            for c in _calls(module)
            if _verdict(c) and "diagnosis" not in {k.arg for k in c.keywords}
        ]
        assert not unnamed, unnamed


@pytest.mark.parametrize("lab_id", LAB_IDS)
def test_every_declared_diagnosis_is_one_the_checks_can_give(lab_id: str) -> None:
    known = _ids(LABS / lab_id / "checks.py") | {i for m in GRADER_LAB.glob("*.py") for i in _ids(m)}
    for case in sorted((LABS / lab_id / "wrong").iterdir()):
        diagnosis = yaml.safe_load((case / "case.yaml").read_text(encoding="utf-8"))["diagnosis"]
        assert diagnosis in known, f"{case}: no check of {lab_id} (nor grader.lab) gives {diagnosis}"


def test_structural_checks_are_the_few_declared_and_read_through_lab_read_field() -> None:
    found = set()
    for lab_id in LAB_IDS:
        path = LABS / lab_id / "checks.py"
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if not isinstance(node, ast.FunctionDef):
                continue
            for marker in node.decorator_list:
                if isinstance(marker, ast.Call) and any(k.arg == "evidence" for k in marker.keywords):
                    found.add((lab_id, node.name.removeprefix("test_")))
        if any(lab == lab_id for lab, _ in STRUCTURAL):
            assert "read_field" in path.read_text(encoding="utf-8"), f"{lab_id}: a structural check reads its field"
    assert found == STRUCTURAL


def test_no_two_wrong_cases_could_pass_with_each_others_diagnosis_unless_declared() -> None:
    from grader.catalogue.cases import diagnosis_clashes  # noqa: PLC0415

    for lab_id in LAB_IDS:
        cases = load_lab(LABS / lab_id).cases
        assert diagnosis_clashes(cases) == [], lab_id
        declared = {c.name: set(c.same_diagnosis_as) for c in cases}
        for case in cases:
            for other in case.same_diagnosis_as:
                twin = next(c for c in cases if c.name == other)
                assert (twin.fails, twin.diagnosis) == (case.fails, case.diagnosis), f"{lab_id}/{case.name}: {other}"
                assert case.name in declared[other], f"{lab_id}: {other} does not declare {case.name} back"
