"""Each of the 13 learner copies (`servicelab notebooks`) opened in JupyterLab in a real headless browser, without
running a cell: every diagram shows as a picture (an <img> of the cell's attachment, loaded, with a size), never
as mermaid source. A screenshot of each notebook's picture cell is kept under reports/diagrams/ (CI artifacts).

Needs chromium and its driver (tools/browser/install), not the lab cluster: marked `browser`, it runs with --e2e,
in the e2e stage of `nox -s tests`. One JupyterLab serves all 13 copies, opened one after another.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from _jupyterlab import chromium, jupyterlab

from grader.base.wait import wait_for
from grader.catalogue.labs import load_lab
from grader.learner.copies import write_copies

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "reports" / "diagrams"
OPEN_S = 90.0  # one notebook: open, render its cells, load its pictures (about 2 s here)

pytestmark = pytest.mark.browser

# The open notebook's widget, by its path (arguments[0]); a script goes on from here
FIND_JS = """
const widget = Array.from(window.jupyterapp.shell.widgets('main'))
  .find(w => w.context && w.context.path === arguments[0]);
"""

# The open notebook's pictures: in its rendered Markdown cells, each image with what it shows
OPEN_PICTURES_JS = (
    FIND_JS
    + """
if (!widget) { return null; }
return Array.from(widget.node.querySelectorAll('.jp-MarkdownCell .jp-RenderedMarkdown img')).map(i => {
  const box = i.getBoundingClientRect();
  return {alt: i.getAttribute('alt') || '', src: (i.getAttribute('src') || '').slice(0, 30), complete: i.complete,
          natural: [i.naturalWidth, i.naturalHeight], drawn: [Math.round(box.width), Math.round(box.height)]};
});
"""
)
# Close the notebook unsaved (opening marks it changed: a save prompt would cover the next one) and stop its kernel:
# 13 kernels at once would crowd a 2-core machine
CLOSE_JS = (
    FIND_JS
    + """
widget.context.model.dirty = false;
widget.dispose();
return window.jupyterapp.serviceManager.sessions.shutdownAll();
"""
)
RESTORED_JS = """
const done = arguments[arguments.length - 1];
const wait = () => window.jupyterapp ? window.jupyterapp.restored.then(() => done(true)) : setTimeout(wait, 200);
wait();
"""
# Markdown cells whose rendering shows mermaid source text: there must be none
MERMAID_TEXT_JS = (
    FIND_JS
    + """
return Array.from(widget.node.querySelectorAll('.jp-RenderedMarkdown pre'))
  .map(p => p.textContent).filter(t => /^\\s*(---|flowchart|graph)\\b/.test(t)).length;
"""
)
PICTURE_CELL_JS = (
    FIND_JS
    + """
const img = widget.node.querySelector('.jp-RenderedMarkdown img');
const cell = img.closest('.jp-Cell'); cell.scrollIntoView(); return cell;
"""
)


def _shown(pictures: list[dict[str, Any]] | None, wanted: int) -> bool:
    if pictures is None or len(pictures) != wanted:
        return False
    return all(p["complete"] and min(p["natural"]) > 0 and min(p["drawn"]) > 0 for p in pictures)


def test_every_learner_copy_shows_its_diagrams_as_pictures(tmp_path: Path) -> None:
    copies = tmp_path / "copies"
    written = write_copies(copies)
    assert len(written) == 13, [p.name for p in written]
    SHOTS.mkdir(parents=True, exist_ok=True)
    seen: dict[str, list[dict[str, Any]]] = {}
    started = time.monotonic()
    with jupyterlab(copies) as (url, token), chromium(window="1400,2400") as driver:
        driver.get(f"{url}/lab?token={token}")
        driver.set_script_timeout(OPEN_S)
        driver.execute_async_script(RESTORED_JS)  # its commands exist only once it is restored
        for path in written:
            lab = load_lab(path.stem)
            wanted = (1 if lab.notebook.diagram else 0) + (1 if lab.notebook.kind_diagram else 0)
            relative = path.relative_to(copies).as_posix()
            driver.execute_script(
                "window.jupyterapp.commands.execute('docmanager:open', {path: arguments[0]})", relative
            )

            def rendered(relative: str = relative, wanted: int = wanted) -> tuple[bool | None, str]:
                pictures = driver.execute_script(OPEN_PICTURES_JS, relative)
                return (True if _shown(pictures, wanted) else None), f"{relative}: {pictures}"

            wait_for(rendered, what=f"{relative}'s {wanted} picture(s)", timeout_s=OPEN_S, interval_s=0.5)
            seen[relative] = driver.execute_script(OPEN_PICTURES_JS, relative)
            assert driver.execute_script(MERMAID_TEXT_JS, relative) == 0, f"{relative} shows mermaid source text"
            dialogs = driver.execute_script(
                "return Array.from(document.querySelectorAll('.jp-Dialog')).map(d => d.textContent)"
            )
            assert not dialogs, f"a dialog covers {relative}: {dialogs}"
            driver.execute_script(PICTURE_CELL_JS, relative).screenshot(str(SHOTS / f"{path.parent.name}.png"))
            driver.execute_script(CLOSE_JS, relative)
    took = time.monotonic() - started
    print(f"13 learner copies checked in JupyterLab in {took:.0f} s")
    # JupyterLab draws an attachment's first type, and only raster ones: the PNG (grader.catalogue.renderings)
    assert all(p["src"].startswith("data:image/png;base64,") for shown in seen.values() for p in shown), seen
    pairs = [name for name, shown in seen.items() if len(shown) == 2]
    assert len(pairs) == 5, f"the kind/AKS pairs: {pairs}"
