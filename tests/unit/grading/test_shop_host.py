"""The Ingress and Gateway labs' host (SHOP_HOST): shop.example by default, a learner's own in a classroom, said
through ${SHOP_HOST} in every manifest of the lab and in what the learner reads, and claimed on the shared entry as
that host."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from _grader_fakes import facts
from test_variables import FakeEnv, _lab, _message

from grader.base.errors import BadInput
from grader.catalogue.labs import facts_for, lab_values, learner_text, load_lab, with_variables
from grader.catalogue.notebookspec import NOTEBOOK_FILE
from grader.intake.manifests import fill, manifest_files, read_docs
from grader.learner import notebook
from grader.learner.progress import hint_ladder
from grader.parallel.claims import case_claims, placeholder_values

REPO = Path(__file__).resolve().parents[3]
LABS = ("ingress", "gateway")
ADA = {"SHOP_HOST": "ada.shop.example", "NODE_PORT": "30412"}  # a classroom's values: NODE_PORT is not theirs


def _hosts(docs: list[dict]) -> set[str]:
    """Every host the objects route: Ingress rules' hosts, HTTPRoute hostnames, Gateway listeners' hostnames."""
    found: set[str] = set()
    for obj in docs:
        spec = obj.get("spec") or {}
        found |= {r["host"] for r in spec.get("rules") or [] if obj["kind"] == "Ingress" and r.get("host")}
        found |= set(spec.get("hostnames") or [])
        found |= {x["hostname"] for x in spec.get("listeners") or [] if x.get("hostname")}
    return found


@pytest.mark.parametrize("name", LABS)
def test_the_lab_declares_shop_host_with_shop_example_as_its_default(name: str) -> None:
    lab = load_lab(REPO / "labs" / name)
    assert lab.variables == ["SHOP_HOST"]
    assert lab_values(lab) == {"SHOP_HOST": "shop.example"}
    assert facts_for(lab, facts()).variables["SHOP_HOST"] == "shop.example"
    assert lab_values(with_variables(lab, ADA)) == {"SHOP_HOST": "ada.shop.example"}


@pytest.mark.parametrize("name", LABS)
def test_every_manifest_says_the_host_through_the_placeholder(name: str) -> None:
    lab = load_lab(REPO / "labs" / name)
    files = [*lab.starter_files, *(f for case in lab.cases for f in manifest_files(case.path))]
    for file in files:
        if file.name == "shop-tls.yaml":
            continue  # the certificate: its comment names the hosts it is for
        assert "shop.example" not in file.read_text(encoding="utf-8").replace("${SHOP_HOST}", ""), file
    for values, host in (({}, "shop.example"), (ADA, "ada.shop.example")):
        own = with_variables(lab, values)
        docs = [
            fill(doc, {**facts_for(own, facts()).values_for("ns")}, {}).obj
            for f in manifest_files(own.solution.path)
            for doc in read_docs(f)
        ]
        assert _hosts(docs) == {host}


@pytest.mark.parametrize("name", LABS)
def test_the_solution_claims_the_learners_own_host(name: str) -> None:
    lab = load_lab(REPO / "labs" / name)
    values = placeholder_values(facts(), "ns")
    assert case_claims(lab, lab.solution, values) == {"http-host:shop.example"}
    assert case_claims(with_variables(lab, ADA), lab.solution, values) == {"http-host:ada.shop.example"}


@pytest.mark.parametrize("name", LABS)
def test_what_the_learner_reads_says_the_host_and_never_the_placeholder(name: str) -> None:
    lab = load_lab(REPO / "labs" / name)
    texts = [
        (lab.path / "task.md").read_text(encoding="utf-8"),
        (lab.path / NOTEBOOK_FILE).read_text(encoding="utf-8"),
        *(h.concept for h in lab.hints.values()),
        *(h.command("ns") for h in lab.hints.values()),
    ]
    assert any("${SHOP_HOST}" in text for text in texts)
    for text in texts:
        default = learner_text(lab, text)
        assert "${SHOP_HOST}" not in default
        ada = learner_text(with_variables(lab, ADA), text)
        assert "${SHOP_HOST}" not in ada
        assert ada == default.replace("shop.example", "ada.shop.example") or "shop.example" not in text
        assert re.sub(r"ada\.shop\.example", "", ada).count("shop.example") == text.count("shop.example")
    failing = {"id": next(iter(lab.hints)), "title": "t", "detail": "", "message": "m"}
    said = "\n".join(hint_ladder(with_variables(lab, ADA), failing, "ns"))
    assert "ada.shop.example" in said
    assert "${" not in said


def test_the_other_labs_texts_keep_their_placeholders() -> None:
    nodeport = load_lab(REPO / "labs" / "nodeport")
    task = (nodeport.path / "task.md").read_text(encoding="utf-8")
    assert learner_text(nodeport, task) == task  # `${NODE_PORT}` is what the learner writes: it stays


def test_a_grading_reads_the_default_host_or_the_learners_own(tmp_path: Path) -> None:
    path = _lab(tmp_path, "variables: [SHOP_HOST]\ndefaults: {SHOP_HOST: shop.example}\n")
    checks = path / "checks.py"
    checks.write_text(
        checks.read_text().replace('lab.facts.variables["NODE_PORT"]', 'lab.facts.variables["SHOP_HOST"]')
    )
    (path / "solution" / "s.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n"
    )
    lab = load_lab(path)
    env = FakeEnv()
    assert _message(env, lab).endswith("node port shop.example")
    assert _message(env, lab, {"SHOP_HOST": "ada.shop.example"}).endswith("node port ada.shop.example")
    assert "SHOP_HOST" not in env.facts.variables  # the shared facts stay as they were


@pytest.mark.parametrize(
    "value", ["Ada.shop.example", "*.shop.example", "shop", "ada..shop.example", "-a.shop.example", ""]
)
def test_a_value_that_is_no_host_is_refused(value: str) -> None:
    with pytest.raises(BadInput, match="SHOP_HOST"):
        with_variables(load_lab(REPO / "labs" / "ingress"), {"SHOP_HOST": value})


def test_values_outside_a_classroom_say_the_labs_defaults(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SERVICELAB_GRADING_URL", raising=False)
    monkeypatch.setattr(notebook, "discover", lambda kube: facts())
    monkeypatch.setattr(notebook, "Kube", lambda context=None: None)
    notebook.values("ingress")
    notebook.values("nodeport")
    assert capsys.readouterr().out == "${SHOP_HOST} = shop.example\n${NODE_PORT} = 30007\n"
