"""What a notebook shows: quiet calls (nothing on stderr: nbgrader scores a cell 0 for it), tables, mime
bundles, and the progress line that check() updates while the grader works (which check, which vantage point).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import sys
import warnings
from collections.abc import Iterator
from typing import Any

from grader.base.names import PROGRESS_LOG
from grader.grading.results import LabResult
from grader.reports.html import to_html
from grader.reports.terminal import to_text


@contextlib.contextmanager
def _quiet() -> Iterator[io.StringIO]:
    """Route stderr, warnings and servicelab's logging into a buffer for the duration."""
    sink = io.StringIO()
    logger = logging.getLogger("servicelab")
    handler = logging.StreamHandler(sink)
    old_propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with contextlib.redirect_stderr(sink), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield sink
    finally:
        logger.removeHandler(handler)
        logger.propagate = old_propagate


def _in_ipython() -> bool:
    shell = sys.modules.get("IPython")
    get = getattr(shell, "get_ipython", None) if shell else None
    return bool(get and get() is not None)


def show(result: LabResult) -> None:
    if _in_ipython():
        ipython_display = importlib.import_module("IPython.display")  # only inside Jupyter
        ipython_display.display(ipython_display.HTML(to_html(result)))
    else:
        print(to_text(result))


def _display(mime: dict[str, str]) -> None:
    if _in_ipython():
        importlib.import_module("IPython.display").display(mime, raw=True)
    else:
        print(mime["text/plain"])


def markdown_table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    """A Markdown table's lines; each cell as given (the caller escapes or quotes it)."""
    return [
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def escape_cell(text: str) -> str:
    """Text in a Markdown table cell: a `|` would end the cell."""
    return text.replace("|", "\\|")


def pods_table(pods: list[dict[str, Any]]) -> tuple[str, str]:
    """The pods as (markdown, text) tables: name, labels, pod IP, node, ready."""
    rows = []
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        labels = ", ".join(
            f"{k}={v}" for k, v in sorted((pod["metadata"].get("labels") or {}).items()) if k != "pod-template-hash"
        )
        status = pod.get("status", {})
        ready = all(c.get("ready") for c in status.get("containerStatuses") or [{}])
        rows.append(
            (
                pod["metadata"]["name"],
                labels,
                status.get("podIP", "-"),
                pod["spec"].get("nodeName", "-"),
                "yes" if ready else "no",
            )
        )
    head = ("pod", "labels", "pod IP", "node", "ready")
    quoted = [tuple(f"`{c}`" if i == 1 else c for i, c in enumerate(r)) for r in rows]  # the labels, as code
    markdown = "\n".join(markdown_table(head, quoted))
    text = "\n".join("  ".join(r) for r in [head, *rows])
    return markdown, text


class _ProgressLine(logging.Handler):
    """Shows the latest progress message in one output line that is updated in place."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.shown: Any = None
        self.check = ""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._show(record.getMessage())
        except Exception:  # showing progress never breaks the grading
            self.handleError(record)

    def _show(self, message: str) -> None:
        if message.startswith("check "):
            self.check = message.removeprefix("check ")
            line = f"running check {self.check}"
        else:
            line = f"running check {self.check}: {message}"
        bundle = {"text/plain": line}
        if self.shown is None:
            self.shown = importlib.import_module("IPython.display").display(bundle, raw=True, display_id=True)
        else:
            self.shown.update(bundle, raw=True)


@contextlib.contextmanager
def progress() -> Iterator[None]:
    """Inside Jupyter, a line naming the running check and the vantage point probing; removed at the end."""
    if not _in_ipython():
        yield
        return
    logger, line = logging.getLogger(PROGRESS_LOG), _ProgressLine()
    old_level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(line)
    try:
        yield
    finally:
        logger.removeHandler(line)
        logger.setLevel(old_level)
        if line.shown is not None:
            line.shown.update({"text/plain": ""}, raw=True)
