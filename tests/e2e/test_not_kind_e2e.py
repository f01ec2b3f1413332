"""A cluster that is not the kind lab cluster has no outside container, so a grading there reports what it was
graded without and is never full marks (issue 22). Faked, on the real cluster, by a kubeconfig whose cluster is
not kind's: the same API server under another name, as an AKS kubeconfig names its cluster.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
FAKE = "aks-servicelab-fake"


def _renamed_kubeconfig(context: str, into: Path) -> Path:
    """The context's kubeconfig (kubectl's own view of it), with its cluster, user and context named FAKE."""
    raw = subprocess.run(
        ["kubectl", "config", "view", "--raw", "--minify", "--flatten", "--context", context],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    config = yaml.safe_load(raw)
    config["clusters"][0]["name"] = config["users"][0]["name"] = config["contexts"][0]["name"] = FAKE
    config["contexts"][0]["context"].update(cluster=FAKE, user=FAKE)
    config["current-context"] = FAKE
    path = into / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize("lab", ["clusterip", "nodeport"])
def test_a_cluster_that_is_not_kind_is_graded_without_outside_and_never_full_marks(
    context: str, tmp_path: Path, lab: str
) -> None:
    kubeconfig = _renamed_kubeconfig(context, tmp_path)
    report = tmp_path / "report.json"
    argv = [sys.executable, "-m", "grader.cli", "grade", lab, "--manifests", str(REPO / f"labs/{lab}/solution")]
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    done = subprocess.run(
        [*argv, "--json", str(report)], capture_output=True, text=True, env=env, timeout=600, check=False
    )
    said = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 1, said  # graded, and not full marks: the exposure checks were never observed
    assert "graded without: outside" in said, said
    result = json.loads(report.read_text())
    assert result["verdict"] == "FAIL", said
    assert "outside container" in result["graded_without"]
    skipped = [c for c in result["checks"] if c["status"] == "n/a"]
    assert skipped, result["checks"]
    assert all(f"'{FAKE}', not kind's" in c["message"] for c in skipped), skipped
    assert result["score"] < result["max_score"]
    assert [c for c in result["checks"] if c["status"] == "pass"], result["checks"]  # what pods observe still ran
