"""The wheel works anywhere: built from the checkout, installed in a fresh venv outside it, used from a folder
outside it, it grades two labs and checks a third's solutions from the catalogue it carries.

The venv has no access to the checkout or to the test's own site-packages; the learner's answer is a copy of
the lab's reference solution in a temporary folder. Run: pytest --e2e tests/e2e/test_wheel.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

CHECKOUT = Path(__file__).resolve().parents[2]
LABS = ("clusterip", "nodeport")
CHECKED = "externalname"  # check-solutions from the wheel: one lab whose cases are quick (check-solutions runs all)
INSTALL_TIMEOUT_S = 600  # dependencies come from PyPI (or the pip cache)
GRADE_TIMEOUT_S = 600


def _run(argv: list[str], cwd: Path, timeout: float, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{' '.join(argv)} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wheel")
    assert not folder.is_relative_to(CHECKOUT)
    return folder


@pytest.fixture(scope="module")
def wheel(outside: Path) -> Path:
    built = outside / "dist"
    # pip builds it as anyone would (setuptools from PyPI, isolated); setup.py ships the catalogue inside.
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(built), str(CHECKOUT)],
        cwd=outside,
        timeout=INSTALL_TIMEOUT_S,
    )
    (found,) = built.glob("servicelab-*.whl")
    return found


def test_the_wheel_carries_the_catalogue(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    for lab in LABS:
        for part in ("lab.yaml", "checks.py", "task.md"):
            assert f"grader/_shipped/labs/{lab}/{part}" in names
    assert any(n.startswith("grader/_shipped/fixtures/") for n in names)
    assert any(n.startswith("grader/_shipped/notebooks/source/") for n in names)
    assert "grader/data/fields.json" in names  # the schema tables
    assert "grader/data/newlab/checks.py.tmpl" in names  # servicelab new-lab's templates
    assert not any("__pycache__" in n for n in names)


@pytest.fixture(scope="module")
def venv_env(outside: Path, wheel: Path) -> dict[str, str]:
    venv = outside / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=outside, timeout=INSTALL_TIMEOUT_S)
    _run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], cwd=outside, timeout=INSTALL_TIMEOUT_S)
    # Nothing of the checkout or this interpreter's packages leaks in; kubectl stays on PATH.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SERVICELAB_LABS", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    env["COLUMNS"] = "400"  # one path on one line
    return env


def _site_packages(venv_env: dict[str, str], outside: Path) -> Path:
    out = _run(
        ["python", "-c", "import grader, pathlib; print(pathlib.Path(grader.__file__).parent)"],
        cwd=outside,
        timeout=60,
        env=venv_env,
    )
    package = Path(out.strip().splitlines()[-1])
    assert package.is_relative_to(outside / "venv"), f"grader imported from {package}, not the venv"
    return package


@pytest.mark.parametrize("lab", LABS)
def test_grade_from_outside_the_checkout(lab: str, venv_env: dict[str, str], outside: Path, context: str) -> None:
    package = _site_packages(venv_env, outside)
    answer = outside / f"answer-{lab}"
    shutil.rmtree(answer, ignore_errors=True)
    shutil.copytree(CHECKOUT / "labs" / lab / "solution", answer)
    out = _run(
        ["servicelab", "grade", lab, "--manifests", str(answer), "--context", context],
        cwd=outside,
        timeout=GRADE_TIMEOUT_S,
        env=venv_env,
    )
    assert f"lab {lab} from {package / '_shipped' / 'labs' / lab}" in out
    assert "PASS" in out


def test_check_solutions_from_outside_the_checkout(venv_env: dict[str, str], outside: Path, context: str) -> None:
    package = _site_packages(venv_env, outside)
    out = _run(
        ["servicelab", "check-solutions", CHECKED, "--jobs", "2", "--context", context],
        cwd=outside,
        timeout=GRADE_TIMEOUT_S,
        env=venv_env,
    )
    assert f"labs from the catalogue {package / '_shipped' / 'labs'}" in out
    cases = len(list((CHECKOUT / "labs" / CHECKED).glob("*/*/case.yaml"))) + 1  # and the reference solution
    assert f"{CHECKED}: {cases} case(s)" in out, out


def test_new_lab_from_outside_the_checkout(venv_env: dict[str, str], outside: Path) -> None:
    catalogue = outside / "my-labs"
    shutil.rmtree(catalogue, ignore_errors=True)
    catalogue.mkdir()
    out = _run(["servicelab", "new-lab", "mine", "--labs", str(catalogue)], cwd=outside, timeout=120, env=venv_env)
    assert f"wrote lab mine in {catalogue / 'mine'}" in out
    assert (catalogue / "mine" / "checks.py").is_file()


def test_learner_copies_from_outside_the_checkout(venv_env: dict[str, str], outside: Path) -> None:
    written = outside / "my-course"
    out = _run(["servicelab", "notebooks", str(written)], cwd=outside, timeout=120, env=venv_env)
    shipped = sorted(p.name for p in (CHECKOUT / "notebooks" / "source").iterdir() if p.is_dir())
    assert f"wrote {len(shipped)} learner notebook(s)" in out
    assert len(list(written.rglob("*.ipynb"))) == len(shipped)
