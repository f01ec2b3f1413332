"""A built notebook run in a real Jupyter kernel with no cluster (KUBECONFIG names a server at 127.0.0.1:1, which
refuses every connection): every cell that needs the cluster shows one line naming the fix, and no cell shows a
traceback. The check cell fails (no score is given) with that one line as its error."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest

from grader.catalogue.labs import load_lab
from grader.learner.copies import learner_copy

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
traitlets_config = pytest.importorskip("traitlets.config")
pytest.importorskip("ipykernel")

REPO = Path(__file__).resolve().parents[3]
SOURCE = REPO / "notebooks" / "source"
# one lab per kind of cell: the clear cell (gateway), the values cell (static-ip), the observe cell (pod-networking)
LABS = ("gateway", "static-ip", "pod-networking")
UNREACHABLE = """\
apiVersion: v1
kind: Config
clusters:
- name: gone
  cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}
users:
- name: learner
  user: {token: not-a-token}
contexts:
- name: gone
  context: {cluster: gone, user: learner}
current-context: gone
"""
KERNEL_BUDGET_S = 60.0  # a kernel's start and every cell of one notebook; far less on this machine


def _lines(output: nbformat.NotebookNode) -> list[str]:
    """What Jupyter shows for one output, as lines of text."""
    if output.output_type == "stream":
        text = output.text
    elif output.output_type == "error":
        text = "\n".join(output.traceback)
    else:
        text = str(output.get("data", {}).get("text/plain", ""))
    return [line for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("lab_id", LABS)
def test_with_no_cluster_each_cell_says_one_line_and_none_a_traceback(
    lab_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab = load_lab(lab_id)
    source = SOURCE / f"{lab.order:02d}-{lab_id}" / f"{lab_id}.ipynb"
    nb = nbformat.from_dict(learner_copy(nbformat.read(str(source), as_version=4), lab))  # as a learner has it
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(UNREACHABLE)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))  # the kernel inherits the environment
    monkeypatch.setenv("SERVICELAB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.delenv("SERVICELAB_NAMESPACE", raising=False)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sl-kernel-") as sockets:  # IPC: no TCP port to collide on
        nbclient.NotebookClient(
            nb,
            timeout=KERNEL_BUDGET_S,
            kernel_name="python3",
            allow_errors=True,  # the check cell fails, as it must with no cluster; the other cells still run
            resources={"metadata": {"path": str(tmp_path)}},
            config=traitlets_config.Config({"KernelManager": {"transport": "ipc", "ip": f"{sockets}/k"}}),
        ).execute()
    assert time.monotonic() - start < KERNEL_BUDGET_S
    shown = {
        c["id"]: [line for o in c.get("outputs", []) for line in _lines(o)] for c in nb.cells if c.cell_type == "code"
    }
    for cell_id, lines in shown.items():
        assert not any("Traceback" in line for line in lines), f"{cell_id}: {lines}"
        assert not [
            o for c in nb.cells if c["id"] == cell_id for o in c.get("outputs", []) if o.get("name") == "stderr"
        ]
        if cell_id == "progress":  # needs no cluster: the table of labs
            assert lines[-1].startswith("0 of ")
            continue
        if cell_id.startswith("knowledge"):  # the knowledge check judges answers, not the cluster
            continue
        assert len(lines) == 1, f"{cell_id}: {lines}"
        assert "`servicelab up`" in lines[0], f"{cell_id}: {lines}"
    check = next(c for c in nb.cells if c["id"] == "check")
    assert [o.output_type for o in check.outputs] == ["error"]  # no score: nbgrader gives an error cell none
    assert check.outputs[0].ename == "NotGraded"
