"""check-solutions in worker processes on the real cluster: an interrupt leaves nothing of the batch behind.

Run: pytest --e2e tests/e2e/test_check_solutions_parallel_e2e.py
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

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


def run_namespaces(kube: Kube, run_ids: set[str]) -> list[str]:
    found = kube.list("namespaces", selector=f"{MANAGED_BY_KEY}={MANAGED_BY_VALUE}")
    return [ns["metadata"]["name"] for ns in found if ns["metadata"]["labels"].get(RUN_ID_KEY) in run_ids]


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s:.0f}s"
        time.sleep(0.5)  # polls the cluster, with a deadline


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_batch_deletes_every_namespace_it_created(kube: Kube, signum: int, code: int) -> None:
    prefixes = tuple(f"demo-{case.name}-" for case in load_lab(DEMO).cases)
    argv = [sys.executable, "-m", "grader.cli", "check-solutions", str(DEMO), "--jobs", "2"]
    if kube.context:
        argv += ["--context", kube.context]
    # its own session: the signal goes to the whole process group, as a terminal's Ctrl-C does
    batch = subprocess.Popen(argv, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen: dict[str, str] = {}
    try:

        def two_cases_applied() -> bool:
            seen.update(batch_namespaces(kube, prefixes))
            return len(seen) >= 2

        wait_until(two_cases_applied, 180, "two cases graded at once")
        os.killpg(batch.pid, signum)
        _, err = batch.communicate(timeout=240)
    finally:
        if batch.poll() is None:
            batch.kill()
    assert batch.returncode in (code, 130), err  # the CLI reports any interrupt as 130 or 128+signal
    run_ids = set(seen.values())
    assert len(run_ids) == 2  # two workers, each its own run
    # deletion was requested before the batch exited; namespaces finish terminating on their own
    wait_until(lambda: not run_namespaces(kube, run_ids), 180, "the batch's namespaces (cases and probe pods) gone")
