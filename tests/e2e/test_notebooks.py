"""Every notebook runs top to bottom on the real cluster: with the reference answers it scores full marks;
as learners get it (`servicelab notebooks`, checked cell by cell against `nbgrader generate_assignment`'s
release) it runs without an error and its check cells score 0.

Run with `pytest --e2e tests/e2e/test_notebooks.py` after `servicelab up`. Each notebook runs in a namespace of
its own ($SERVICELAB_NAMESPACE), which starts empty: the released notebook must not find the reference answer's
objects.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.base.wait import wait_for
from grader.catalogue.knowledge import answer_given
from grader.catalogue.labs import load_lab
from grader.grading.deploy import delete_namespace
from grader.intake.answers import is_blank_yaml
from grader.kube.client import Kube
from grader.learner.copies import learner_copy
from grader.parallel.chains import build_chains
from grader.parallel.claims import case_claims, placeholder_values
from grader.parallel.leases import wait_released

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
traitlets_config = pytest.importorskip("traitlets.config")
nbgrader_utils = pytest.importorskip("nbgrader.utils")

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
ASSIGNMENTS = sorted(p.name for p in (NOTEBOOKS / "source").iterdir() if p.is_dir())
CELL_TIMEOUT_S = 600  # a check cell waits for endpoints and load balancers, then probes

pytestmark = pytest.mark.e2e


def lab_id(assignment: str) -> str:
    return assignment.split("-", 1)[1]


def _claims() -> dict[str, frozenset[str]]:
    """What each notebook's answer holds cluster-wide: a node port, an address, a host on Traefik."""
    labs = {a: load_lab(REPO / "labs" / lab_id(a)) for a in ASSIGNMENTS}
    return {a: case_claims(labs[a], labs[a].solution, placeholder_values(None, f"lab-{lab_id(a)}")) for a in labs}


def _groups() -> dict[str, str]:
    """Run in parallel (`pytest -n N --dist loadgroup`), notebooks whose answers would collide on the cluster
    share a group and run one after another, as check-solutions' chains do; the released and the reference
    copy of a lab share its group (the same claims)."""
    chains = build_chains(ASSIGNMENTS, CLAIMS.__getitem__)
    return {a: f"notebooks-{n}" for n, chain in enumerate(chains) for a in chain}


CLAIMS = _claims()
GROUPS = _groups()
PER_ASSIGNMENT = [pytest.param(a, marks=pytest.mark.xdist_group(GROUPS[a])) for a in ASSIGNMENTS]
GROUP_WAIT_S = 1200.0  # the longest group (ingress and gateway, reference and released) takes about 2 min


@pytest.fixture(autouse=True)
def one_at_a_time_in_its_group(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """A group's notebooks run one after another, whichever worker runs them. `--dist loadgroup` alone does not
    do it here: pytest-xdist 3.8 marks a grouped test by setting `item._nodeid`, which pytest 9.2 no longer
    reads (it keeps the id in `item._id`), so the groups are lost and the gateway notebook's clean-up cell
    deleted the ingress notebook's Ingress while that one was being checked. One lock file per group and run."""
    group = GROUPS[request.node.callspec.params["assignment"]]
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", str(os.getpid()))
    # The run's own temporary root (each xdist worker's base is a folder in it): pytest removes it in time.
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    path = root / f"servicelab-notebooks-{run}-{group}.lock"
    start = time.monotonic()
    with path.open("a") as handle:

        def taken() -> tuple[bool | None, str]:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return None, f"{group} runs another notebook"
            return True, "taken"

        wait_for(taken, what=f"the lock of {group}", timeout_s=GROUP_WAIT_S, interval_s=0.2, max_interval_s=2.0)
        print(f"{group}: waited {time.monotonic() - start:.1f}s for its turn")
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def own_namespace(assignment: str, which: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A namespace of this test's own for the notebook (the kernel inherits $SERVICELAB_NAMESPACE): it starts
    empty, and the next notebook of the group need not wait for it to be gone."""
    ns = f"lab-{lab_id(assignment)}-{which}-{secrets.token_hex(3)}"
    monkeypatch.setenv("SERVICELAB_NAMESPACE", ns)
    return ns


def release_namespace(kube: Kube, assignment: str, ns: str) -> None:
    """Free what the notebook's objects hold cluster-wide (node ports, static IPs, Traefik hosts) and wait for
    that, the namespace going in the background: what check-solutions does between the cases of a chain."""
    delete_namespace(kube, ns)
    wait_released(kube, ns, CLAIMS[assignment])


@pytest.fixture(autouse=True)
def notebooks_see_the_lab_cluster(kube: Kube) -> None:
    """Notebooks talk to kubectl's current context: it must be the cluster under test."""
    current = subprocess.run(
        ["kubectl", "config", "current-context"], capture_output=True, text=True, timeout=30, check=False
    ).stdout.strip()
    if kube.context and current != kube.context:
        pytest.fail(
            f"kubectl's current context is {current!r}, not {kube.context!r}: "
            f"run 'kubectl config use-context {kube.context}'"
        )


def execute(path: Path, kube: Kube, monkeypatch: pytest.MonkeyPatch) -> nbformat.NotebookNode:
    nb = nbformat.read(str(path), as_version=4)
    monkeypatch.setenv("SERVICELAB_LABS", str(REPO / "labs"))  # the kernel inherits it: released copies live elsewhere
    # IPC, not TCP: jupyter_client picks a free TCP port before the kernel binds it, so two workers starting
    # kernels at once could both get it (R17: "ZMQError: Address already in use"). Sockets in a folder of
    # this kernel's own (short: a socket path has ~100 characters) cannot collide.
    with tempfile.TemporaryDirectory(prefix="sl-kernel-") as sockets:
        client = nbclient.NotebookClient(
            nb,
            timeout=CELL_TIMEOUT_S,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
            config=traitlets_config.Config({"KernelManager": {"transport": "ipc", "ip": f"{sockets}/k"}}),
        )
        client.execute()
        assert not client.km, "nbclient shut its kernel down"
    return nb


def errors(nb: nbformat.NotebookNode) -> list[str]:
    found = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "error" or (out.output_type == "stream" and out.name == "stderr"):
                what = out.get("evalue") or out.get("text")
                found.append(f"{cell.get('id')}: {out.get('ename') or 'stderr'}: {what}")
    return found


def grades(nb: nbformat.NotebookNode) -> dict[str, tuple[float | None, float]]:
    return {
        c.metadata.nbgrader["grade_id"]: nbgrader_utils.determine_grade(c)
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade")
    }


@pytest.mark.parametrize("assignment", PER_ASSIGNMENT)
def test_reference_notebook_scores_full_marks(assignment: str, kube: Kube, monkeypatch: pytest.MonkeyPatch) -> None:
    ns = own_namespace(assignment, "reference", monkeypatch)
    path = NOTEBOOKS / "source" / assignment / f"{lab_id(assignment)}.ipynb"
    after = "not read"
    try:
        nb = execute(path, kube, monkeypatch)
        after = namespace_snapshot(kube, ns)
    finally:
        release_namespace(kube, assignment, ns)
    assert not errors(nb)
    scored = grades(nb)
    assert scored, "the notebook has a graded check cell"
    for grade_id, (earned, total) in scored.items():
        assert earned == total, f"{grade_id}: {earned}/{total}\n{_check_output(nb, grade_id)}\n{after}"


@pytest.mark.parametrize("assignment", PER_ASSIGNMENT)
def test_released_notebook_runs_and_scores_zero(
    assignment: str, kube: Kube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    course = tmp_path / "course"
    shutil.copytree(NOTEBOOKS, course, ignore=shutil.ignore_patterns("release", "gradebook.db", ".ipynb_checkpoints"))
    done = subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force"],
        cwd=course,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    released = course / "release" / assignment / f"{lab_id(assignment)}.ipynb"
    assert "### BEGIN SOLUTION" not in released.read_text(encoding="utf-8")
    # What README sends learners to (`servicelab notebooks`) is run; nbgrader's release is the same notebook
    # but for the answer cell's comment, which the grader reads as no answer either way.
    copy = tmp_path / "mine" / f"{lab_id(assignment)}.ipynb"
    copy.parent.mkdir()
    source = json.loads((NOTEBOOKS / "source" / assignment / copy.name).read_text(encoding="utf-8"))
    copy.write_text(json.dumps(learner_copy(source, load_lab(lab_id(assignment)))), encoding="utf-8")
    assert_same_but_the_answer(copy, released)
    ns = own_namespace(assignment, "released", monkeypatch)
    try:
        nb = execute(copy, kube, monkeypatch)
    finally:
        release_namespace(kube, assignment, ns)
    assert not errors(nb)
    scored = grades(nb)
    assert scored
    for grade_id, (earned, total) in scored.items():
        assert earned == 0, f"{grade_id}: {earned}/{total} without an answer\n{_check_output(nb, grade_id)}"


def assert_same_but_the_answer(copy: Path, released: Path) -> None:
    ours, nbgraders = (nbformat.read(str(p), as_version=4).cells for p in (copy, released))
    assert len(ours) == len(nbgraders), "the learner copy and nbgrader's release have the same cells"
    questions = {q.answer_cell_id: q for q in load_lab(copy.stem).knowledge}
    for mine, theirs in zip(ours, nbgraders, strict=True):
        grade_id = mine.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in questions:  # `answer_1 = ""` in ours, nbgrader's stub comment in its release: no answer
            assert {
                answer_given(mine.source, questions[grade_id]),
                answer_given(theirs.source, questions[grade_id]),
            } <= {
                None,
                "",
            }
            continue
        if grade_id == "manifest":
            for answer in (mine.source, theirs.source):
                magic, _, body = answer.partition("\n")
                assert magic.startswith("%%servicelab_answer"), answer
                assert is_blank_yaml(body), f"an unanswered copy holds no YAML: {answer!r}"
            continue
        assert mine.source == theirs.source, f"{mine.metadata.get('nbgrader', {}).get('grade_id')} differs"


def namespace_snapshot(kube: Kube, ns: str) -> str:
    """The lab namespace right after the notebook ran (before the test's cleanup): its uid, creation and
    deletion times and what it holds, with each object's creation time. A short score then shows whether
    the learner's objects were still there, and whether the namespace was the one the notebook made."""
    found = kube.get("namespace", ns)
    if found is None:
        return f"after the run: namespace {ns} is gone"
    meta = found.get("metadata", {})
    lines = [
        f"after the run: namespace {ns} uid {meta.get('uid')} created {meta.get('creationTimestamp')} "
        f"deleting {meta.get('deletionTimestamp')} phase {found.get('status', {}).get('phase')}"
    ]
    routing = "gateways.gateway.networking.k8s.io,httproutes.gateway.networking.k8s.io"
    for obj in kube.list(f"services,deployments,ingresses,{routing}", ns):
        om = obj.get("metadata", {})
        lines.append(f"  {obj.get('kind')}/{om.get('name')} created {om.get('creationTimestamp')}")
    return "\n".join(lines)


def _check_output(nb: nbformat.NotebookNode, grade_id: str) -> str:
    """What the answer cell and the graded cell showed, as text (HTML reports without their tags)."""
    shown = []
    for wanted in ("manifest", grade_id):
        cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == wanted)
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            html = re.sub(r"<[^>]+>", " ", str(data.get("text/html", "")))
            text = out.get("text") or str(data.get("text/markdown") or "") or html or str(data.get("text/plain", ""))
            shown.append(f"[{wanted}] " + " ".join(text.split()))
    return "\n".join(shown)[-4000:]
