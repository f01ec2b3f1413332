"""Notebook 01 in JupyterLab in a real headless browser: runs with the reference answer; the check table, the
Service type's diagram (an attached picture) and the live diagram render. The screenshot is kept under reports/
(a CI artifact).

Chromium and its driver come from Debian (`tools/browser/install`, run by `nox -s tests`).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from _jupyterlab import chromium, jupyterlab, pictures

from grader.base.wait import wait_for
from grader.kube.client import Kube

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "source" / "01-clusterip" / "clusterip.ipynb"
SCREENSHOT = REPO / "reports" / "notebook-01-clusterip-jupyterlab.png"

pytestmark = pytest.mark.e2e


NAMESPACE = "lab-clusterip-browser"  # its own: the notebooks e2e may grade lab-clusterip at the same time


@pytest.fixture
def lab_server(tmp_path: Path, kube: Kube) -> Iterator[str]:
    """JupyterLab on a free port, serving a copy of notebook 01 (reference answer); yields the notebook's URL.
    The notebook's objects go to a namespace of their own, deleted afterwards."""
    shutil.copy(NOTEBOOK, tmp_path / NOTEBOOK.name)
    env = {
        "SERVICELAB_LABS": str(REPO / "labs"),
        "SERVICELAB_NAMESPACE": NAMESPACE,
        "SERVICELAB_DATA": str(tmp_path / "data"),
    }
    try:
        with jupyterlab(tmp_path, env) as (url, token):
            yield f"{url}/lab/tree/{NOTEBOOK.name}?token={token}"
    finally:
        kube.delete("namespace", NAMESPACE, wait=True)


@pytest.fixture
def browser() -> Iterator[object]:
    with chromium() as driver:
        yield driver


def _diagram_with(driver: object, text: str) -> str:
    """Whether a rendered mermaid diagram holds the text: 'yes' or 'no'. JupyterLab draws mermaid as an SVG,
    inline or as an <img> of SVG data (in .jp-RenderedMermaid)."""
    found = driver.execute_script(  # type: ignore[attr-defined]
        "const imgs = Array.from(document.querySelectorAll('.jp-RenderedMermaid img'))"
        "  .map(i => decodeURIComponent(i.getAttribute('src') || ''));"
        "const svgs = Array.from(document.querySelectorAll('.jp-RenderedMermaid svg')).map(s => s.outerHTML);"
        "return imgs.concat(svgs).some(t => t.includes(arguments[0]))",
        text,
    )
    return "yes" if found else "no"


def test_notebook_01_runs_in_jupyterlab_and_shows_the_table_and_both_diagrams(
    lab_server: str, browser: object, kube: Kube
) -> None:
    driver = browser
    driver.get(lab_server)  # type: ignore[attr-defined]

    def kernel_ready() -> tuple[bool | None, str]:
        state = driver.execute_script(  # type: ignore[attr-defined]
            "const app = window.jupyterapp; const w = app && app.shell.currentWidget;"
            "const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;"
            "return k ? k.status : 'no kernel yet'"
        )
        return (True if state == "idle" else None), f"kernel: {state}"

    wait_for(kernel_ready, what="the notebook's kernel to start", timeout_s=120)
    driver.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells')")  # type: ignore[attr-defined]

    def table_shown() -> tuple[bool | None, str]:
        tables = driver.execute_script(  # type: ignore[attr-defined]
            "return Array.from(document.querySelectorAll('.servicelab table th')).map(t => t.textContent)"
        )
        live = _diagram_with(driver, "kube-proxy rules on the client pod node")
        errors = driver.execute_script(  # type: ignore[attr-defined]
            "return Array.from(document.querySelectorAll('.jp-RenderedText[data-mime-type="
            '"application/vnd.jupyter.error"]\')).map(e => e.textContent.slice(0, 300))'
        )
        if errors:
            raise AssertionError(f"a cell failed: {errors}")
        done = "check" in tables and live == "yes"
        last = driver.execute_script(  # type: ignore[attr-defined]
            "const o = Array.from(document.querySelectorAll('.jp-OutputArea-output')).pop();"
            "return o ? o.className + ': ' + o.innerHTML.slice(0, 400) : 'no output yet'"
        )
        return (
            True if done else None
        ), f"check table headers {tables}; live diagram rendered: {live}; last output: {last}"

    SCREENSHOT.parent.mkdir(exist_ok=True)
    try:
        wait_for(table_shown, what="the check table and the live diagram", timeout_s=300, interval_s=2)
    finally:  # kept either way: it shows what the learner would have seen
        driver.save_screenshot(str(SCREENSHOT))  # type: ignore[attr-defined]
    shown = pictures(driver)  # the Service type's diagram: an attached picture, loaded and drawn with a size
    assert len(shown) == 1, shown
    assert shown[0]["complete"], shown
    assert min(shown[0]["natural"]) > 0, shown
    assert min(shown[0]["drawn"]) > 0, shown
    svc = kube.get("services", "web", NAMESPACE)
    assert svc is not None
    cluster_ip = svc["spec"]["clusterIP"]
    assert _diagram_with(driver, f"ClusterIP {cluster_ip}:80") == "yes", "the live diagram shows this ClusterIP"
    pod_ips = [p["status"]["podIP"] for p in kube.list("pods", NAMESPACE, selector="app=web")]
    assert all(_diagram_with(driver, ip) == "yes" for ip in pod_ips), f"the live diagram shows the pods {pod_ips}"
    cells = driver.execute_script(  # type: ignore[attr-defined]
        "return Array.from(document.querySelectorAll('.servicelab td')).map(t => t.textContent)"
    )
    assert "PASS" in cells, f"the reference answer passes every check: {cells}"
    assert "FAIL" not in cells, cells
