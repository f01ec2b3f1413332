"""check-solutions in worker processes on the real cluster: an interrupt leaves nothing of the batch behind.

Run: pytest --e2e tests/e2e/test_check_solutions_parallel_e2e.py
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from grader.base.wait import wait_for
from grader.catalogue.labs import load_lab
from grader.kube.client import MANAGED_BY_KEY, MANAGED_BY_VALUE, RUN_ID_KEY, Kube

pytestmark = pytest.mark.e2e

DEMO = Path(__file__).parent.parent / "data" / "labs" / "demo"


def batch_namespaces(kube: Kube, prefixes: tuple[str, ...]) -> dict[str, str]:
    """Namespace -> run id, for the demo cases' namespaces (others may be grading on the cluster meanwhile)."""
    found = kube.list("namespaces", selector=f"{MANAGED_BY_KEY}={MANAGED_BY_VALUE}")
    return {
        ns["metadata"]["name"]: ns["metadata"]["labels"].get(RUN_ID_KEY, "")
        for ns in found
        if ns["metadata"]["name"].startswith(prefixes)
    }


def run_namespaces(kube: Kube, run_ids: set[str]) -> dict[str, str]:
    """Namespace -> its phase and why it is still there (the namespace controller's conditions), for those runs."""
    found = kube.list("namespaces", selector=f"{MANAGED_BY_KEY}={MANAGED_BY_VALUE}")
    return {
        ns["metadata"]["name"]: why_still_there(ns)
        for ns in found
        if ns["metadata"]["labels"].get(RUN_ID_KEY) in run_ids
    }


def why_still_there(ns: dict[str, Any]) -> str:
    status = ns.get("status") or {}
    said = [f"{c.get('type')}: {c.get('message')}" for c in status.get("conditions") or [] if c.get("status") == "True"]
    asked = "deletion asked" if ns["metadata"].get("deletionTimestamp") else "NOT DELETED"
    return f"{asked}, {status.get('phase')} ({'; '.join(said) or 'no condition'})"


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_batch_deletes_every_namespace_it_created(kube: Kube, signum: int, code: int) -> None:
    prefixes = tuple(f"demo-{case.name}-" for case in load_lab(DEMO).cases)
    argv = [sys.executable, "-m", "grader.cli", "check-solutions", str(DEMO), "--jobs", "2"]
    if kube.context:
        argv += ["--context", kube.context]
    # its own session: the signal goes to the whole process group, as a terminal's Ctrl-C does
    earlier = set(batch_namespaces(kube, prefixes))  # another run's, still terminating: not this batch's
    batch = subprocess.Popen(argv, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen: dict[str, str] = {}
    try:

        def two_cases_applied() -> tuple[bool | None, str]:
            seen.update({ns: run for ns, run in batch_namespaces(kube, prefixes).items() if ns not in earlier})
            return (True if len(seen) >= 2 else None), f"namespaces {sorted(seen)}; batch exit code {batch.poll()}"

        wait_for(two_cases_applied, what="two cases graded at once", timeout_s=180, interval_s=0.5)
        os.killpg(batch.pid, signum)
        _, err = batch.communicate(timeout=240)
    finally:
        if batch.poll() is None:
            batch.kill()
    assert batch.returncode in (code, 130), err  # the CLI reports any interrupt as 130 or 128+signal
    run_ids = set(seen.values())
    assert len(run_ids) == 2, (seen, err)  # two workers, each its own run

    # the batch asked for every deletion before it exited (servicelab's part) ...
    left = run_namespaces(kube, run_ids)
    assert not [ns for ns, why in left.items() if why.startswith("NOT DELETED")], (left, err[-2000:])

    def gone() -> tuple[bool | None, str]:
        left = run_namespaces(kube, run_ids)
        return (True if not left else None), str(left)

    # ... and the namespace controller finishes them (the cluster's part): what holds one up is in its conditions
    wait_for(gone, what=f"the batch's namespaces gone; its stderr: {err[-2000:]}", timeout_s=300)
