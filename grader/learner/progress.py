"""A learner's own record: which labs passed (`servicelab progress`), hints one step at a time, starting over.

Results are kept in progress.json under the user's data directory ($SERVICELAB_DATA, else
$XDG_DATA_HOME/servicelab, else ~/.local/share/servicelab): the best and the last score of each lab, the
last run's first failing check and how many hints for it were given.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from grader.base.text import printable
from grader.base.wait import wait_for
from grader.catalogue.labs import Lab, learner_text, load_lab
from grader.catalogue.locate import all_labs
from grader.grading.deploy import delete_namespace
from grader.grading.results import CheckResult, LabResult, Status
from grader.kube.client import MANAGED_BY_KEY, MANAGED_BY_VALUE, Kube
from grader.learner.display import escape_cell, markdown_table


def data_dir() -> Path:
    if os.environ.get("SERVICELAB_DATA"):
        return Path(os.environ["SERVICELAB_DATA"])
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "servicelab"


def _path() -> Path:
    return data_dir() / "progress.json"


def load() -> dict[str, Any]:
    try:
        data = json.loads(_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save(data: dict[str, Any]) -> None:
    path = _path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    tmp.replace(path)  # never a half-written record


def record(result: LabResult) -> None:
    """Keep a graded run (an ENV-ERROR has no score and is not kept)."""
    if result.fraction is None:
        return
    data = load()
    entry = data.get(result.lab, {})
    failing = next((c for c in result.checks if c.status is Status.FAIL), None)
    last = entry.get("failing") or {}
    same = failing is not None and last.get("id") == failing.id
    entry.update(
        {
            "title": result.title,
            "namespace": result.namespace,
            "score": result.score,
            "max": result.max_score,
            "passed": bool(entry.get("passed")) or result.score == result.max_score > 0,
            "best": max(int(entry.get("best", 0)), result.score),
            "when": time.strftime("%Y-%m-%d %H:%M"),
            "failing": None
            if failing is None
            else {
                "id": failing.id,
                "title": failing.title,
                "message": failing.message,
                "detail": failing.detail,
                "saw": seen_lines(failing),
                "hints": last.get("hints", 0) if same else 0,
            },
        }
    )
    data[result.lab] = entry
    _save(data)


def progress_rows() -> list[tuple[str, str, str]]:
    """(lab, title, state) for every lab in course order: passed, the last score, or not tried."""
    return [(lab.id, lab.title, state) for lab, _, state in _states()]


def _states() -> list[tuple[Lab, dict[str, Any], str]]:
    """(lab, its record or {}, its state in words) for every lab in course order."""
    data = load()
    rows = []
    for path in all_labs():
        lab = load_lab(path)
        entry = data.get(lab.id)
        if entry is None:
            state = "not tried"
        elif entry.get("passed"):
            state = f"PASSED ({entry['best']}/{entry['max']})"
        else:
            state = f"last {entry['score']}/{entry['max']} on {entry['when']}, best {entry['best']}"
        rows.append((lab, entry or {}, state))
    return rows


def seen_lines(check: CheckResult, most: int = 8) -> list[str]:
    """What a check observed, one line per observation, the ones against what it wanted first."""
    lines = []
    for seen in sorted(check.evidence, key=lambda o: o.ok is not False):
        wanted = {True: "should reach", False: "should not reach", None: "read"}[seen.expected]
        got = (
            ("set" if seen.observed else "not set")
            if seen.field_read
            else ("reached" if seen.observed else "no answer")
        )
        mark = "WRONG " if seen.ok is False else ""
        where = f" ({seen.address})" if seen.address and seen.address not in seen.target else ""
        lines.append(
            f"{mark}from {seen.vantage} to {seen.target}{where}: {wanted}, {got}"
            + (f": {seen.detail}" if seen.detail else "")
        )
    return lines[:most] + ([f"... and {len(lines) - most} more"] if len(lines) > most else [])


def hint_ladder(lab: Lab, failing: dict[str, Any], namespace: str) -> list[str]:
    """The four steps of help for a failing check: the idea behind it, a command to see it, what the grader saw,
    the fix. A lab without hints.yaml gets its first two steps from the check's title and a general command."""
    told = lab.hints.get(failing["id"])
    title = failing["title"]
    concept = learner_text(lab, told.concept) if told else "Re-read what the task says the grader observes for it."
    observe = (
        learner_text(lab, told.command(namespace))
        if told
        else f"kubectl -n {namespace} get services,endpointslices,pods -o wide --show-labels"
    )
    saw = "\n".join(["", *(f"  {line}" for line in failing.get("saw") or [])])
    return [
        f"The first failing check is '{title}'. The idea behind it: {concept}",
        "See it for yourself (in a terminal, or a notebook cell starting with !):\n  " + observe.replace("\n", "\n  "),
        "What the grader saw: " + (failing["detail"] or "(no more detail)") + saw,
        f"The fix, in the grader's words: {failing['message']}",
    ]


def next_hint(lab: Lab) -> str:
    """The next step of help for the first failing check of the last run (hint_ladder); ask again for more."""
    data = load()
    entry = data.get(lab.id)
    if entry is None:
        return f'No result for {lab.id} yet: run check("{lab.id}") first, then ask again.'
    failing = entry.get("failing")
    if not failing:
        return f"Every check of {lab.id} passed on the last run: nothing to hint."
    ladder = hint_ladder(lab, failing, entry.get("namespace") or lab.default_namespace)
    step = min(int(failing.get("hints", 0)), len(ladder) - 1)
    failing["hints"] = step + 1
    _save(data)
    more = "" if step == len(ladder) - 1 else "  (ask again for more)"
    return printable(f"Hint {step + 1}/{len(ladder)}: {ladder[step]}{more}", lines=True)  # it quotes the cluster


def reset(lab: Lab, kube: Kube, namespace: str, timeout_s: float = 180.0) -> str:
    """Delete the lab's namespace if servicelab made it (only what the grader created carries its label),
    wait until it is gone, and forget the lab's hints; the pass record stays."""
    found = kube.get("namespace", namespace)
    if found is not None and found.get("metadata", {}).get("labels", {}).get(MANAGED_BY_KEY) != MANAGED_BY_VALUE:
        return f"{lab.id}: namespace {namespace} was not created by servicelab: left alone"
    existed = found is not None
    delete_namespace(kube, namespace)

    def gone() -> tuple[bool | None, str]:
        ns = kube.get("namespace", namespace)
        return (True if ns is None else None), f"namespace {namespace}: {(ns or {}).get('status', {})}"

    if existed:
        wait_for(
            gone, what=f"namespace {namespace} to be deleted", timeout_s=timeout_s, interval_s=1.0, max_interval_s=5.0
        )
    forget_hints(lab)
    return f"{lab.id}: namespace {namespace} deleted" if existed else f"{lab.id}: nothing to delete in {namespace}"


def forget_hints(lab: Lab) -> None:
    """The lab's last failing check and its hints are forgotten; its pass record stays."""
    data = load()
    if lab.id in data:
        data[lab.id]["failing"] = None
        _save(data)


def progress_table() -> tuple[str, str]:
    """The course so far, for a notebook's progress(): each lab in order with its points (best of your check()
    runs, out of its total) and state, then the totals; as (markdown, text)."""
    head = ("lab", "title", "points", "state")
    rows, passed, earned, total = [], 0, 0, 0
    for lab, entry, state in _states():
        most = int(entry.get("max") or lab.total_points)
        best = int(entry.get("best", 0))
        passed += bool(entry.get("passed"))
        earned, total = earned + best, total + most
        rows.append((lab.id, lab.title, f"{best}/{most}", state))
    summary = f"{passed} of {len(rows)} labs passed, {earned} of {total} points"
    escaped = [tuple(escape_cell(c) for c in r) for r in rows]
    markdown = "\n".join([*markdown_table(head, escaped), "", f"**{summary}**"])
    text = "\n".join(["  ".join(r) for r in [head, *rows]] + ["", summary])
    return markdown, text
