"""The one source of truth for how servicelab is linted, tested, built and measured.

nox -s lab             bring the lab cluster up and grade every lab's reference solutions
nox -s tests           lint, unit tests, then the e2e tests on the real lab cluster
nox -s offline-images  build every image from source (machines without a registry)
nox -s diagrams        draw the labs' diagrams again (SVG and PNG beside each diagram.mmd) and rebuild the notebooks
nox -s bench           grading speed figures (one lab; a class of 30 through grade-batch and through the classroom)
"""

from __future__ import annotations

import hashlib
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv"  # it installs uv.lock (.ci/run installs it): seconds, not 42 s, to install
# uv leaves .py files uncompiled (pip compiles them): with PYTHONDONTWRITEBYTECODE set, as on our machines, every
# notebook kernel, nbgrader and servicelab process would compile its imports again (R14: +23 s for the nbgrader flow)
os.environ.setdefault("UV_COMPILE_BYTECODE", "1")
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "unit"]

ROOT = Path(__file__).parent
PYTHON = "3.11"


def _offline_wanted() -> bool:
    """Our CI machines have no registry: they say so with SERVICELAB_OFFLINE=1."""
    return os.environ.get("SERVICELAB_OFFLINE") == "1"


def _install(session: nox.Session, *extras: str) -> None:
    """The versions in uv.lock, of the dependencies and these extras, and servicelab itself, editable (the grader
    reads labs/ and fixtures/ from the checkout). --locked: a pyproject.toml changed without `uv lock` stops here,
    instead of testing the old set. uv sync is exact: a reused venv loses what the lock no longer holds."""
    session.run_install(
        "uv",
        "sync",
        "--locked",
        *(f"--extra={extra}" for extra in extras),
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
    )


def _cluster_up(session: nox.Session) -> None:
    session.run(str(ROOT / "tools/docker-engine/ensure-docker"), external=True)
    if _offline_wanted():
        session.run("python", "tools/offline-images/build.py")
    session.run("servicelab", "up")


def _static_checks(session: nox.Session) -> None:
    """Lint, format, types, layers, and the generated notebooks in step with the labs."""
    session.run("ruff", "check", "grader", "tests", "tools", "noxfile.py", "benchmarks", "notebooks")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    session.run("lint-imports")
    session.run("python", "tools/diagrams/render.py", "--check")  # no node needed: the pictures name their source
    session.run("python", "notebooks/build_notebooks.py", "--check")


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    # mypy reads grader.classroom against nbformat, nbconvert, traitlets, and psycopg (the gradebook on PostgreSQL)
    _install(session, "dev", "teach", "postgres")
    _static_checks(session)


@nox.session(python=PYTHON)
def unit(session: nox.Session) -> None:
    _install(session, "dev", "teach", "postgres")  # psycopg: the gradebook's tests on PostgreSQL (tools/postgres)
    session.run("pytest", "tests/unit", *session.posargs)


@nox.session(name="offline-images", python=False, default=False)
def offline_images(session: nox.Session) -> None:
    """Every image the labs need, from Go modules and Debian packages; cached and reused."""
    session.run("python3", "tools/offline-images/build.py", *session.posargs, external=True)


@nox.session(python=PYTHON, default=False)
def diagrams(session: nox.Session) -> None:
    """The pictures of every lab's diagram.mmd (and diagram-kind.mmd), drawn by mermaid-cli from npm in Debian's
    chromium (tools/diagrams/render.py; only stale ones), then the notebooks that carry them. Commit both."""
    _install(session, "notebooks")
    session.run("tools/browser/install", external=True)
    session.run("python", "tools/diagrams/render.py", *session.posargs)
    session.run("python", "notebooks/build_notebooks.py")


@nox.session(python=PYTHON, default=False)
def lab(session: nox.Session) -> None:
    """The main job: a running lab cluster, and every lab's reference solutions graded on it."""
    _install(session, "dev")
    _cluster_up(session)
    session.run("servicelab", "check-solutions", *session.posargs)


@nox.session(python=PYTHON, default=False)
def tests(session: nox.Session) -> None:
    """Everything CI runs: lint, unit tests, the cluster, e2e tests and check-solutions on it."""
    _install(session, "dev", "teach", "browser", "postgres")
    session.run("tools/browser/install", external=True)  # Debian's chromium + driver: tests/e2e/test_browser.py
    _static_checks(session)
    # They mostly wait (fake clusters, deadlines): 4 at once; loadgroup keeps an xdist_group on one worker.
    session.run("pytest", "-n", "4", "--dist", "loadgroup", "tests/unit")
    _cluster_up(session)
    session.run("servicelab", "status")
    # tests/e2e/test_classroom_e2e.py deploys the classroom's two images (cached after the first build: seconds)
    session.run("python", "tools/offline-images/build.py", "--classroom")
    # The notebooks run in parallel (groups whose answers collide run in order), between the other e2e tests
    # and the disruptive ones; --durations prints the slowest, for the time budget.
    notebooks = "tests/e2e/test_notebooks.py"
    suite = {"SERVICELAB_SUITE_START": datetime.now(UTC).isoformat()}  # the leftovers check judges what came after
    session.run(
        "pytest",
        "--e2e",
        "--durations=20",
        "tests/e2e",
        f"--ignore={notebooks}",
        "-m",
        "not disruptive and not last",
        *session.posargs,
        env=suite,
    )
    session.run("pytest", "--e2e", "--durations=10", "-n", "3", "--dist", "loadgroup", notebooks, env=suite)
    # The leftovers check (marker `last`) runs once, at the end: it judges every run since the suite began.
    session.run(
        "pytest", "--e2e", "--durations=10", "tests/e2e", f"--ignore={notebooks}", "-m", "disruptive", env=suite
    )
    session.run("servicelab", "check-solutions", "--jobs", "3")  # see docs/DESIGN.md: parallel
    # A new lab is one folder: the skeleton new-lab writes passes check-solutions as written (in a catalogue of its
    # own, so the checkout's labs and notebooks stay as they are).
    catalogue = Path(session.create_tmp()) / "new-lab-catalogue"
    shutil.rmtree(catalogue, ignore_errors=True)
    catalogue.mkdir()
    session.run("servicelab", "new-lab", "demo", "--labs", str(catalogue))
    session.run("servicelab", "check-solutions", "demo", "--labs", str(catalogue))
    shutil.rmtree(catalogue)
    session.run("pytest", "--e2e", "tests/e2e/test_leftovers.py", env=suite)  # nothing of any run is left
    _list_artifacts(session)


def _list_artifacts(session: nox.Session) -> None:
    """The e2e tests' screenshots (the browser tests write them under reports/): named in CI's log, with their size
    and digest, so a run's pictures can be told apart and found in its checkout."""
    shots = sorted((Path(__file__).parent / "reports").glob("*.png"))
    session.log(f"CI artifacts: {len(shots)} screenshots in reports/")
    for shot in shots:
        data = shot.read_bytes()
        session.log(f"  {shot.name}  {len(data)} bytes  sha256 {hashlib.sha256(data).hexdigest()[:16]}")


@nox.session(python=PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """Speed on the real cluster: every lab's ratio to one bare exec, a class of 30, up, check-solutions."""
    _install(session, "dev")
    session.run("python", "benchmarks/bench_grade.py", *session.posargs)
    session.run("python", "benchmarks/bench_labs.py")  # every lab through the command vs one kubectl exec
    session.run("python", "benchmarks/bench_refusals.py")  # no cluster needed: every refusal comes first
    session.run("python", "benchmarks/bench_class.py")  # grade-batch: 30 of one lab, then 30 on one nodePort
    session.run("python", "tools/offline-images/build.py", "--classroom")  # the classroom's images (cached)
    session.run("python", "benchmarks/bench_classroom.py")  # a class of 30 x 3 labs on the grading service
    session.run("python", "benchmarks/bench_cluster.py")  # up, check-solutions, the cold build on record


@nox.session(python=PYTHON, default=False)
def soak(session: nox.Session) -> None:
    """Not in CI: 200 gradings of 9 answers on the real cluster; any verdict that flips is a bug to find."""
    _install(session, "dev")
    session.run("python", "benchmarks/soak.py", *session.posargs)
