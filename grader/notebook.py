"""The notebook API: `check("nodeport")` shows the result and returns a float in [0, 1]; `apply(yaml, lab=...)`.

Both write nothing to stderr (nbgrader scores a cell 0 on any stderr output): logging and warnings are
captured. A broken environment raises `EnvError` after showing the diagnosis, so it never looks like 0 points.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import os
import re
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from grader._kube import Kube
from grader.answers import is_blank_yaml
from grader.deploy import apply_into, ensure_namespace, wait_deployments
from grader.facts import discover
from grader.labs import load_lab
from grader.manifests import STARTER
from grader.reports.html import to_html
from grader.reports.terminal import to_text
from grader.results import LabResult
from grader.session import environment, grade, new_run_id
from grader.submission import judge_submission, starter_docs
from grader.verdicts import BadInput, EnvError


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


def lab_namespace(default: str, explicit: str | None = None, cwd: Path | None = None) -> str:
    """Where a notebook's objects go: the explicit namespace, else $SERVICELAB_NAMESPACE, else one per
    nbgrader submission (autograde runs each notebook in autograded/<student>/<assignment>/), else the
    lab's default. One namespace per submission keeps students' objects apart during a batch."""
    if explicit:
        return explicit
    if os.environ.get("SERVICELAB_NAMESPACE"):
        return os.environ["SERVICELAB_NAMESPACE"]
    parts = (cwd or Path.cwd()).parts
    if "autograded" in parts[:-1]:
        student = parts[parts.index("autograded") + 1]
        slug = re.sub(r"[^a-z0-9-]+", "-", student.lower()).strip("-") or "student"
        return f"{default}-{slug}"[:63].rstrip("-")
    return default


def check(lab: str, *, namespace: str | None = None, context: str | None = None, display: bool = True) -> float:
    """Grade the objects in the lab's namespace (see lab_namespace); returns the score in [0, 1]."""
    with _quiet():
        spec = load_lab(lab)
        with environment(context) as env:
            result = grade(spec, env, namespace=lab_namespace(spec.default_namespace, namespace))
    if display:
        show(result)
    if result.fraction is None:
        raise EnvError(result.diagnosis)
    return result.fraction


def apply(yaml_text: str, lab: str, *, namespace: str | None = None, context: str | None = None) -> list[str]:
    """Apply the lab's starter plus your manifest (YAML text) into the lab namespace; returns what was applied."""
    with _quiet():
        spec = load_lab(lab)
        # judged before the cluster hears of it; nothing written yet: the starter, so check() says what is missing
        judged = starter_docs(spec) if is_blank_yaml(yaml_text) else judge_submission(spec, text=yaml_text)
        ns = lab_namespace(spec.default_namespace, namespace)
        kube = Kube(context=context)
        facts = discover(kube)
        run_id = new_run_id()
        ensure_namespace(kube, ns, run_id, must_be_new=False, policy=spec.policy)
        docs = apply_into(kube, spec, ns, facts, run_id, docs=judged)
        starter = [d.name for d in docs if d.kind == "Deployment" and d.origin == STARTER]
        wait_deployments(kube, ns, starter, spec.ready_timeout_s)
    applied = [d.ref for d in docs]
    print(f"applied into namespace {ns}: {', '.join(applied)}")
    return applied


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext grader.notebook` registers `%%servicelab_answer LAB`: the cell's body is your manifest (YAML),
    applied like apply(). The grader reads that body as data and never runs a submitted notebook."""
    from grader.answers import MAGIC  # noqa: PLC0415 - only inside Jupyter

    def servicelab_answer(line: str, cell: str) -> None:
        lab = line.strip()
        if not lab:
            print(f"%%{MAGIC} needs the lab id, e.g. %%{MAGIC} nodeport")
            return
        ipython.user_ns["manifest"] = cell
        try:
            apply(cell, lab=lab)
        except BadInput as err:
            print(f"not applied: {err.render()}")  # the learner's mistake: a message, not a traceback

    ipython.register_magic_function(servicelab_answer, magic_kind="cell", magic_name=MAGIC)
