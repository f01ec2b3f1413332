"""Which namespace a notebook's apply()/check() use: one per nbgrader submission during autograde."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.learner.notebook import lab_namespace


def test_learner_default_is_the_lab_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SERVICELAB_NAMESPACE", raising=False)
    assert lab_namespace("lab-nodeport", cwd=Path("/home/me/servicelab/notebooks/source/02-nodeport")) == "lab-nodeport"


def test_each_autograded_submission_gets_its_own_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SERVICELAB_NAMESPACE", raising=False)
    course = Path("/srv/course/autograded")
    assert lab_namespace("lab-nodeport", cwd=course / "Ada.Lovelace" / "02-nodeport") == "lab-nodeport-ada-lovelace"
    assert lab_namespace("lab-nodeport", cwd=course / "bob" / "02-nodeport") == "lab-nodeport-bob"
    long_name = lab_namespace("lab-external-traffic-local", cwd=course / ("x" * 80) / "10")
    assert len(long_name) <= 63


def test_explicit_and_environment_namespaces_win(monkeypatch: pytest.MonkeyPatch) -> None:
    submission = Path("/srv/course/autograded/bob/02-nodeport")
    monkeypatch.setenv("SERVICELAB_NAMESPACE", "from-env")
    assert lab_namespace("lab-nodeport", cwd=submission) == "from-env"
    assert lab_namespace("lab-nodeport", "mine", cwd=submission) == "mine"
