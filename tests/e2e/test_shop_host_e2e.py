"""A learner's own HTTP host (SHOP_HOST) on the real lab cluster: the Ingress and Gateway labs' reference solutions
graded with a classroom's host (ada.shop.example) get full marks, the Gateway's HTTPS listener presenting the lab's
certificate for it (shop.example and *.shop.example); and the solution written for shop.example, graded as
ada.shop.example, fails the host check. Run: pytest --e2e tests/e2e/test_shop_host_e2e.py
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.catalogue.labs import Lab, load_lab
from grader.grading.environment import Environment, environment
from grader.grading.results import Status
from grader.grading.session import grade
from grader.intake.manifests import manifest_files

pytestmark = pytest.mark.e2e

LABS = Path(__file__).resolve().parents[2] / "labs"
ADA = {"SHOP_HOST": "ada.shop.example"}


@pytest.fixture(scope="module")
def env(context: str) -> Iterator[Environment]:
    with environment(context) as opened:
        yield opened


def _shown(result: object) -> list[tuple[str, str, str]]:
    return [(c.id, str(c.status), c.message) for c in result.checks]  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["ingress", "gateway"])
def test_the_solution_gets_full_marks_on_a_classroom_host(env: Environment, name: str) -> None:
    lab: Lab = load_lab(LABS / name)
    files = [(f, str(f)) for f in manifest_files(lab.solution.path)]
    result = grade(lab, env, case_files=files, variables=ADA)
    assert result.fraction == 1.0, _shown(result)


@pytest.mark.parametrize(
    ("name", "diagnosis"),
    [("ingress", "ingress/host-not-shop-example"), ("gateway", "gateway/listener-hostname")],
)
def test_the_solution_for_shop_example_fails_the_host_check_on_a_classroom_host(
    env: Environment, name: str, diagnosis: str, tmp_path: Path
) -> None:
    lab = load_lab(LABS / name)
    files = []
    for source in manifest_files(lab.solution.path):  # the answer as the task reads outside a classroom
        written = tmp_path / source.name
        written.write_text(source.read_text(encoding="utf-8").replace("${SHOP_HOST}", "shop.example"))
        files.append((written, str(written)))
    result = grade(lab, env, case_files=files, variables=ADA)
    first = next(c for c in result.checks if c.id == "paths_reach_backends")
    assert first.status is Status.FAIL, _shown(result)
    assert first.diagnosis == diagnosis, _shown(result)
    assert "ada.shop.example" in first.message
    assert result.fraction < 1.0
