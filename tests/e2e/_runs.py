"""What the safety and fault tests share: a `servicelab grade` run of a lab's solution in its own process, and
the grading namespaces that process owns (by the owner annotation <host>/<pid>)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from grader.kube.client import MANAGED_BY_KEY, MANAGED_BY_VALUE, Kube

REPO = Path(__file__).resolve().parents[2]


def grading_process(lab: str, *extra: str) -> subprocess.Popen[str]:
    """`servicelab grade LAB --manifests labs/LAB/solution EXTRA...`, started and not waited for."""
    argv = [sys.executable, "-m", "grader.cli", "grade", lab, "--manifests", str(REPO / f"labs/{lab}/solution")]
    return subprocess.Popen([*argv, *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def namespaces_of(kube: Kube, pid: int, *, terminating: bool = True) -> list[str]:
    """The grader's namespaces whose owner is process pid (those being deleted too, unless terminating=False)."""
    return [
        n["metadata"]["name"]
        for n in kube.list("namespaces", selector=f"{MANAGED_BY_KEY}={MANAGED_BY_VALUE}")
        if (n["metadata"].get("annotations") or {}).get("servicelab.dev/owner", "").endswith(f"/{pid}")
        and (terminating or n.get("status", {}).get("phase") != "Terminating")
    ]
