"""JupyterLab and headless Chromium for the browser tests (test_browser.py, test_diagrams_browser.py).

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
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from grader.base.wait import wait_for

JUPYTERLAB_START_S = 60.0
# Every <img> of a rendered Markdown cell, with what it shows: its source's kind, and its drawn and natural size.
# A picture that failed to load has naturalWidth 0 even where CSS gives its box a size.
PICTURES_JS = """
return Array.from(document.querySelectorAll('.jp-MarkdownCell .jp-RenderedMarkdown img')).map(i => {
  const box = i.getBoundingClientRect();
  return {alt: i.getAttribute('alt') || '', src: (i.getAttribute('src') || '').slice(0, 40),
          complete: i.complete, natural: [i.naturalWidth, i.naturalHeight], drawn: [box.width, box.height]};
});
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def jupyterlab(root: Path, env: Mapping[str, str] | None = None) -> Iterator[tuple[str, str]]:
    """JupyterLab on a free port serving root, every cell rendered (no windowing: the page and a screenshot hold
    all of them); yields its base URL and token. Its settings, config and log live in root/.jupyterlab-test."""
    state = root / ".jupyterlab-test"
    settings = state / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}), encoding="utf-8")
    port, token = free_port(), secrets.token_hex(16)
    full_env = {
        **os.environ,
        "JUPYTERLAB_SETTINGS_DIR": str(state / "settings"),
        "JUPYTER_CONFIG_DIR": str(state / "config"),
        **(env or {}),
    }
    log_path = state / "jupyterlab.log"
    log = log_path.open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            f"--port={port}",
            "--ip=127.0.0.1",
            f"--ServerApp.root_dir={root}",
            f"--IdentityProvider.token={token}",
            "--allow-root",
            "--LabApp.expose_app_in_browser=True",
        ],
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def answering() -> tuple[bool | None, str]:
        if server.poll() is not None:
            raise RuntimeError(f"jupyter lab exited {server.returncode}: {log_path.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError as err:
            return None, f"port {port}: {err}"
        return True, "answering"

    try:
        wait_for(answering, what="JupyterLab to listen", timeout_s=JUPYTERLAB_START_S)
        yield f"http://127.0.0.1:{port}", token
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@contextmanager
def chromium(window: str = "1400,5200") -> Iterator[Any]:
    """Headless Chromium under Selenium; fails (not skips) when it is not installed."""
    webdriver = pytest.importorskip("selenium.webdriver")
    for program in ("chromium", "chromedriver"):
        if shutil.which(program) is None:
            pytest.fail(f"{program} is not installed: run tools/browser/install (nox -s tests does)")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or ""
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={window}"):
        options.add_argument(arg)
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()


def pictures(driver: Any) -> list[dict[str, Any]]:
    """The images JupyterLab shows in the open notebook's Markdown cells (see PICTURES_JS)."""
    found: list[dict[str, Any]] = driver.execute_script(PICTURES_JS)
    return found
