"""Notebook 01 in JupyterLab in a real headless browser: runs with the reference answer; the check table, the
Service type's diagram and the live diagram render. The screenshot is kept under reports/ (a CI artifact).

Chromium and its driver come from Debian (`tools/browser/install`, run by `nox -s tests`).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.base.wait import wait_for
from grader.kube.client import Kube

webdriver = pytest.importorskip("selenium.webdriver")

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "source" / "01-clusterip" / "clusterip.ipynb"
SCREENSHOT = REPO / "reports" / "notebook-01-clusterip-jupyterlab.png"

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


NAMESPACE = "lab-clusterip-browser"  # its own: the notebooks e2e may grade lab-clusterip at the same time


@pytest.fixture
def lab_server(tmp_path: Path, kube: Kube) -> Iterator[str]:
    """JupyterLab on a free port, serving a copy of notebook 01 (reference answer); yields the notebook's URL.
    The notebook's objects go to a namespace of their own, deleted afterwards."""
    shutil.copy(NOTEBOOK, tmp_path / NOTEBOOK.name)
    settings = tmp_path / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    # every cell rendered (no windowing), so the screenshot and the page hold all of them
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}), encoding="utf-8")
    port, token = _free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
        "SERVICELAB_LABS": str(REPO / "labs"),
        "SERVICELAB_NAMESPACE": NAMESPACE,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "SERVICELAB_DATA": str(tmp_path / "data"),
    }
    log = (tmp_path / "jupyterlab.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            f"--port={port}",
            "--ip=127.0.0.1",
            f"--ServerApp.root_dir={tmp_path}",
            f"--IdentityProvider.token={token}",
            "--allow-root",
            "--LabApp.expose_app_in_browser=True",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def answering() -> tuple[bool | None, str]:
        if server.poll() is not None:
            raise RuntimeError(f"jupyter lab exited {server.returncode}: {(tmp_path / 'jupyterlab.log').read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError as err:
            return None, f"port {port}: {err}"
        return True, "answering"

    try:
        wait_for(answering, what="JupyterLab to listen", timeout_s=60)
        yield f"http://127.0.0.1:{port}/lab/tree/{NOTEBOOK.name}?token={token}"
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
        kube.delete("namespace", NAMESPACE, wait=True)


@pytest.fixture
def browser() -> Iterator[object]:
    for program in ("chromium", "chromedriver"):
        if shutil.which(program) is None:
            pytest.fail(f"{program} is not installed: run tools/browser/install (nox -s tests does)")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or ""
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,5200"):
        options.add_argument(arg)
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()


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
    assert _diagram_with(driver, "no route to a ClusterIP") == "yes", "the Service type's diagram renders"
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
