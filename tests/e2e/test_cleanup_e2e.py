"""Cleanup that always ends: a graded namespace is gone within 60 s of the grading, even when the learner's pods
ignore SIGTERM for the longest grace period the pod policy allows (serve-hostname keeps serving 60 s after it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from _runs import REPO, namespaces_of

from grader.base.wait import wait_for
from grader.kube.client import Kube

pytestmark = pytest.mark.e2e

GONE_S = 60  # the bound: a class's cluster is not held by one hand-in's pods


def test_pods_that_ignore_sigterm_do_not_hold_the_namespace(tmp_path: Path) -> None:
    answer = (REPO / "labs/readiness/solution/web.yaml").read_text()
    stubborn = answer.replace("terminationGracePeriodSeconds: 1 ", "terminationGracePeriodSeconds: 30 ", 1)
    assert stubborn != answer, "the readiness solution no longer sets a grace period to raise"
    (tmp_path / "web.yaml").write_text(stubborn)
    argv = [sys.executable, "-m", "grader.cli", "grade", "readiness", "--manifests", str(tmp_path)]
    graded = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    kube = Kube()
    seen: list[str] = []

    def made() -> tuple[bool | None, str]:
        seen[:] = namespaces_of(kube, graded.pid)
        return (True if seen else None), "no grading namespace yet"

    wait_for(made, what="the grading's namespace", timeout_s=120)
    out, err = graded.communicate(timeout=600)
    assert graded.returncode in (0, 1), out + err

    def gone() -> tuple[bool | None, str]:
        left = [n for n in seen if kube.get("namespace", n) is not None]
        return (True if not left else None), f"still there: {left}"

    wait_for(gone, what=f"namespace {seen} gone", timeout_s=GONE_S)
