"""Generate the nbgrader source notebooks from the labs: `python notebooks/build_notebooks.py`.

One notebook per lab, in `notebooks/source/<NN>-<id>/<id>.ipynb`. The lab folder is the single source of
truth: the notebook's task text is task.md, its reference answer is solution/, its points are the points of
checks.py, and what only the notebook has is notebook.yaml (objectives, prerequisites, time, what stands in for
Azure on kind) and diagram.mmd (the Service type, shown as its pictures diagram.png and diagram.svg; beside it
diagram-kind.mmd where kind differs from AKS); a lab without those gets a notebook without those parts. Run it
again after changing a lab (after `nox -s diagrams` when a diagram changed); the unit tests check the notebooks
are in step.

The order a learner reads: objectives and prerequisites (short) → a cell that checks the cluster → the concept →
the picture → the task → what the grader will check → look around, answer, check → the hands-on steps of
notebook.yaml's try_it, if any → the live traffic flow, progress and the knowledge check. task.md is split by the bold
lead of its paragraphs (`**Build**`, `**The AKS angle.**`, ...; see `ROLE_OF_LEAD`), so it stays one file.
"""

from __future__ import annotations

import argparse
import base64
import re
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from grader.base.errors import BadInput  # noqa: E402
from grader.catalogue.knowledge import POINTS as KNOWLEDGE_POINTS  # noqa: E402
from grader.catalogue.labs import Lab, learner_text, load_lab  # noqa: E402
from grader.catalogue.locate import all_labs  # noqa: E402
from grader.catalogue.notebookspec import DIAGRAM_FILE, KIND_DIAGRAM_FILE, NOTEBOOK_FILE  # noqa: E402
from grader.catalogue.renderings import FORMATS, rendered_path, rendering  # noqa: E402
from grader.intake.answers import MAGIC  # noqa: E402 - needs the repo on sys.path first
from grader.learner import notebook as learner_notebook  # noqa: E402

SOURCE = REPO / "notebooks" / "source"

# The setup cell: one import (in IPython it registers the %%servicelab_answer magic), then the cluster check.
SETUP_NAMES = ("check", "cluster_ready", "explore", "flow", "hint", "progress", "reset")

# task.md's paragraphs by their bold lead: what the learner does, what the grader observes; any other lead
# (`**The AKS angle.**`, `**Why.**`, `**Ports.**`, ...) is the concept. A paragraph without a lead belongs to the
# section above it; the text before the first lead is the task's.
TASK, CONCEPT, GRADER = "task", "concept", "grader"
ROLE_OF_LEAD = {
    "build": TASK,
    "look around": TASK,
    "answer": TASK,
    "try it yourself": TASK,
    "what the grader observes": GRADER,
    "hints you may meet": GRADER,
}
_LEAD = re.compile(r"^\*\*([^*]+?)\.?\*\*")


def nbgrader(
    grade_id: str, *, solution: bool = False, grade: bool = False, locked: bool = False, points: int | None = None
) -> dict[str, object]:
    meta: dict[str, object] = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def clear_the_way(lab: Lab) -> list[nbformat.NotebookNode]:
    """notebook.yaml's clear_first: a cell that lists another lab's objects that would compete with this one's and
    deletes them only when the learner changes it to confirm=True (an ordinary cell: the learner edits it)."""
    clear = lab.notebook.clear_first
    if clear is None:
        return []
    other = load_lab(clear.lab)
    kinds = ", ".join(dict.fromkeys(kind for kind, _ in other.expects))
    cell = new_code_cell(
        f'clear_other_lab("{other.id}", confirm=False)  # confirm=True deletes what it lists',
        metadata={},
    )
    cell["id"] = "clear"
    return [
        new_markdown_cell(
            f"{learner_text(lab, clear.why)}. The next cell lists the {other.id} lab's objects ({kinds}) in namespace "
            f"`{other.default_namespace}` and deletes nothing. If it lists any, you decide: change it to "
            "`confirm=True` and run it again to delete exactly those.",
            metadata=nbgrader("clear-text", locked=True),
        ),
        cell,
    ]


def task_sections(task: str) -> tuple[str, dict[str, str]]:
    """task.md as (title, {role: its paragraphs}), each role's paragraphs in task.md's order."""
    title, _, body = task.strip().partition("\n")
    found: dict[str, list[str]] = {TASK: [], CONCEPT: [], GRADER: []}
    role = TASK
    for paragraph in re.split(r"\n\s*\n", body.strip()):
        lead = _LEAD.match(paragraph)
        if lead:
            role = ROLE_OF_LEAD.get(lead.group(1).strip().lower(), CONCEPT)
        found[role].append(paragraph)
    return title, {r: "\n\n".join(ps) for r, ps in found.items()}


def setup_names(lab: Lab, task: str) -> list[str]:
    """What the setup cell imports: the functions every notebook calls, and those only this lab's cells call."""
    return [
        *SETUP_NAMES,
        *(["observe_network"] if lab.notebook.observe_network else []),
        *(["values"] if uses_values(lab, task) else []),
        *(["clear_other_lab"] if lab.notebook.clear_first else []),
        *try_it_names(lab),
    ]


def try_it_names(lab: Lab) -> list[str]:
    """The notebook functions notebook.yaml's try_it steps call; BadInput for a name grader.learner.notebook lacks."""
    names = list(dict.fromkeys(name for step in lab.notebook.try_it for name in step.calls))
    for name in names:
        if not callable(getattr(learner_notebook, name, None)) or name.startswith("_"):
            raise BadInput(
                f"try_it code calls {name}(), which is not a function of grader.learner.notebook",
                file=str(lab.path / NOTEBOOK_FILE),
                rule="try_it code calls the notebook's functions (the setup cell imports them)",
                fix="call one of grader.learner.notebook's functions, e.g. replace_a_pod, outbound_address",
            )
    return [n for n in names if n not in SETUP_NAMES]


def uses_values(lab: Lab, task: str) -> bool:
    """Whether the task asks the learner to write a `${VAR}` placeholder (grader.learner.notebook.values shows them)."""
    return any("${" + v + "}" in task for v in lab.variables)


def placeholder_values(lab: Lab, task: str) -> list[nbformat.NotebookNode]:
    """Cells that print this cluster's value of each `${VAR}` the task text asks the learner to write."""
    names = [v for v in lab.variables if "${" + v + "}" in task]
    if not names:
        return []
    listed = ", ".join(f"`${{{n}}}`" for n in names)
    return [
        new_markdown_cell(
            f"## Your cluster's values\n\nThe next cell prints what {listed} stands for on this "
            "cluster. Write the placeholder itself in your manifest: the grader puts this value in "
            "its place.",
            metadata=nbgrader("values-text", locked=True),
        ),
        new_code_cell(
            f'values("{lab.id}")',
            metadata=nbgrader("values", locked=True),
        ),
    ]


def solution_text(lab: Lab) -> str:
    files = sorted(lab.solution.path.glob("*.yaml"))
    return "\n---\n".join(f.read_text(encoding="utf-8").strip() for f in files)


def objectives(lab: Lab, title: str) -> str:
    """The first cell, short: the title, what you will do, the time, and what to have done before."""
    said = [f"**You will** {'; '.join(lab.notebook.objectives)}."] if lab.notebook.objectives else []
    said += [f"**Time:** about {lab.notebook.minutes} minutes."] if lab.notebook.minutes else []
    before = ["the lab cluster: `servicelab up` in a terminal, once (the next cell checks it)"]
    for other in (load_lab(p) for p in lab.notebook.prerequisites):
        before.append(f"lab {other.order:02d} ({other.title.split(':')[0]})")
    said.append("**Before you start:** " + "; ".join(before) + ".")
    return f"{title}\n\n" + "  \n".join(said)  # two spaces: a Markdown line break


def picture(lab: Lab) -> list[nbformat.NotebookNode]:
    """The lab's diagram as a picture attached to its cell, and where kind differs from AKS the pair of them with
    why the graded behaviour is the same (none when the lab has no diagram).

    An attachment travels inside the notebook: a learner copy carries it, with nothing to link to. Each holds the
    diagram's PNG and SVG (grader.catalogue.renderings): JupyterLab, Notebook and VS Code show the PNG, nbconvert's
    HTML (nbgrader's feedback page) the SVG. A ```mermaid block would show as source text outside JupyterLab and
    Notebook 7, so the mermaid stays in the lab folder (diagram.mmd, drawn by tools/diagrams/render.py)."""
    spec = lab.notebook
    if not spec.diagram:
        return []
    drawn = {DIAGRAM_FILE: spec.diagram} | ({KIND_DIAGRAM_FILE: spec.kind_diagram} if spec.kind_diagram else {})
    attachments = {
        attachment_name(name): {
            kind: base64.b64encode(rendering(lab.path, name, source, suffix)).decode("ascii")
            for suffix, kind in FORMATS.items()
        }
        for name, source in drawn.items()
    }
    how = "How a request travels" + (" (no Service here: the pod network)" if spec.observe_network else "")
    aks, kind = (f"attachment:{attachment_name(name)}" for name in (DIAGRAM_FILE, KIND_DIAGRAM_FILE))
    if spec.kind_diagram:
        body = (
            f"{how}, as AKS builds it and as the kind lab cluster does it.\n\n"
            f"**On AKS**\n\n![{how} on AKS]({aks})\n\n"
            f"**On kind, your lab cluster**\n\n![{how} on kind]({kind})\n\n"
            f"**Why the grade means the same on both.** {learner_text(lab, spec.graded_the_same)}"
        )
    else:
        body = f"{how}:\n\n![{how}]({aks})"
    return [
        new_markdown_cell(
            "## The picture\n\n" + body, metadata=nbgrader("diagram", locked=True), attachments=attachments
        )
    ]


def try_it(lab: Lab) -> list[nbformat.NotebookNode]:
    """notebook.yaml's try_it steps, after the check: per step what to try and why, the cell that does it on the
    lab cluster (locked: it grades nothing), then what to notice in what it showed."""
    cells = []
    for number, step in enumerate(lab.notebook.try_it, start=1):
        cells += [
            new_markdown_cell(
                f"## Try it: {step.title}\n\n{learner_text(lab, step.explain)}",
                metadata=nbgrader(f"try-{number}-text", locked=True),
            ),
            new_code_cell(step.code, metadata=nbgrader(f"try-{number}", locked=True)),
            new_markdown_cell(
                f"**What to notice.** {learner_text(lab, step.notice)}",
                metadata=nbgrader(f"try-{number}-notice", locked=True),
            ),
        ]
    return cells


def knowledge_check(lab: Lab) -> list[nbformat.NotebookNode]:
    """knowledge.yaml's questions: per question the question and its choices, an answer cell (the answer between
    the solution markers) and a graded cell worth its points that judges it (none when the lab has no questions)."""
    if not lab.knowledge:
        return []
    cells = [
        new_markdown_cell(
            "## Check your understanding\n\n"
            f"{len(lab.knowledge)} questions on this lab, {len(lab.knowledge) * KNOWLEDGE_POINTS} points in all, "
            "on top of the lab's. "
            'Write the letter of your choice between the quotes, e.g. `answer_1 = "a"`, run the cell, then run '
            "the cell under it: it says whether the answer is right, and why once it is.",
            metadata=nbgrader("knowledge-text", locked=True),
        ),
        new_code_cell(
            "from grader.learner.notebook import knowledge", metadata=nbgrader("knowledge-setup", locked=True)
        ),
    ]
    for q in lab.knowledge:
        choices = "\n".join(f"- **{letter}**: {text}" for letter, text in q.choices)
        cells += [
            new_markdown_cell(
                f"**Question {q.number}.** {q.question}\n\n{choices}",
                metadata=nbgrader(f"{q.grade_id}-text", locked=True),
            ),
            new_code_cell(
                f"# Question {q.number}: one of {q.letters}\n### BEGIN SOLUTION\n"
                f'{q.variable} = "{q.answer}"\n### END SOLUTION',
                metadata=nbgrader(q.answer_cell_id, solution=True),
            ),
            new_code_cell(
                f'knowledge("{lab.id}", {q.number})',
                metadata=nbgrader(q.grade_id, grade=True, locked=True, points=KNOWLEDGE_POINTS),
            ),
        ]
    return cells


def attachment_name(diagram: str) -> str:
    """The name a diagram's pictures are attached under: diagram.mmd -> diagram.png (a PNG and an SVG)."""
    return rendered_path(Path(diagram), ".png").name


def build(lab: Lab) -> nbformat.NotebookNode:
    task = (lab.path / "task.md").read_text(encoding="utf-8").strip()  # as written: which placeholders it asks for
    title, part = task_sections(learner_text(lab, task))  # as the learner reads it
    points = lab.total_points
    ns = lab.default_namespace
    observe = lab.notebook.observe_network
    on_kind = f"**On the kind lab cluster.** {learner_text(lab, lab.notebook.on_kind)}" if lab.notebook.on_kind else ""
    concept = "\n\n".join(p for p in (part[CONCEPT], on_kind) if p)
    checks = "\n".join(f"- {c.title} ({c.points} point{'s' if c.points != 1 else ''})" for c in lab.checks)
    cells = [
        new_markdown_cell(objectives(lab, title), metadata=nbgrader("objectives", locked=True)),
        new_code_cell(
            f"from grader.learner.notebook import {', '.join(sorted(setup_names(lab, task)))}\n\ncluster_ready()",
            metadata=nbgrader("setup", locked=True),
        ),
        *(
            [new_markdown_cell("## The idea\n\n" + concept, metadata=nbgrader("concept", locked=True))]
            if concept
            else []
        ),
        *picture(lab),
        new_markdown_cell(
            "## Your task\n\n" + part[TASK] + f"\n\nThis notebook works in namespace `{ns}`; "
            f"`kubectl -n {ns} get all` shows what is there.",
            metadata=nbgrader("task-text", locked=True),
        ),
        new_markdown_cell(
            "## What the grader will check\n\n"
            + (part[GRADER] + "\n\n" if part[GRADER] else "")
            + f"The checks, {points} points in all:\n\n{checks}",
            metadata=nbgrader("grader-text", locked=True),
        ),
        new_markdown_cell(
            "## Look around\n\nThe next cell applies the lab's starter objects (your answer is not "
            "touched) and lists the pods with their labels, pod IPs and nodes: the labels are what a "
            "selector matches, the IPs what traffic finally reaches.",
            metadata=nbgrader("explore-text", locked=True),
        ),
        new_code_cell(f'explore("{lab.id}")', metadata=nbgrader("explore", locked=True)),
        *(
            [
                new_markdown_cell(
                    "The next cell makes this lab's observations for you to read: the nodes' addresses "
                    "and pod ranges, the address of every pod on the pod network (hostNetwork pods left "
                    "out), and which address the partner server outside the cluster sees when the "
                    "toolbox pod calls it.",
                    metadata=nbgrader("observe-text", locked=True),
                ),
                new_code_cell("observe_network()", metadata=nbgrader("observe", locked=True)),
            ]
            if observe
            else []
        ),
        *placeholder_values(lab, task),
        *clear_the_way(lab),
        new_markdown_cell(
            "## Your manifest\n\nWrite the YAML below the first line of the next cell (several "
            f"objects are separated by `---`). Running the cell applies it into `{ns}`, together "
            "with the lab's starter objects; leave out `metadata.namespace`. This cell is your "
            "answer: the grader reads it as YAML and runs nothing you hand in.",
            metadata=nbgrader("manifest-text", locked=True),
        ),
        new_code_cell(
            f"%%{MAGIC} {lab.id}\n### BEGIN SOLUTION\n" + solution_text(lab) + "\n### END SOLUTION",
            metadata=nbgrader("manifest", solution=True),
        ),
        new_markdown_cell(
            "## Check my work\n\n"
            + (
                "The grader reads your ConfigMap and compares each answer with what it observes on this "
                "cluster itself (node and pod addresses, the address the partner server sees)."
                if observe
                else "The grader probes your Service from a pod in the cluster, from the outside container and "
                "from this machine. The table shows each check with its hint, and the reachability "
                "matrix: which vantage point reached which address, and whether it should have."
            )
            + " Fix the YAML, run its cell again, then check again. While it runs, a line names the "
            f'check and where it probes from.\n\n**Stuck?** `hint("{lab.id}")` gives the next hint '
            f'for the first failing check (ask again for more); `reset("{lab.id}")` deletes what '
            "this lab put on the cluster so you can start over; `progress()` (last cell) lists the labs you "
            "have passed.",
            metadata=nbgrader("check-text", locked=True),
        ),
        new_code_cell(
            f'score = check("{lab.id}")\nround(score * {points}, 2)',
            metadata=nbgrader("check", grade=True, locked=True, points=points),
        ),
        *try_it(lab),
        new_markdown_cell(
            "## Traffic flow on your cluster\n\n"
            + (
                "Drawn from the live cluster: each node, its pod range and the pods it runs."
                if observe
                else "Drawn from the live objects (Service, EndpointSlices, nodes): where a request enters, "
                "which node, address and port each hop uses, and which pods can receive it."
            ),
            metadata=nbgrader("flow-text", locked=True),
        ),
        new_code_cell(f'flow("{lab.id}")', metadata=nbgrader("flow", locked=True)),
        new_markdown_cell(
            "## Your progress\n\nEvery lab with your best points from `check()` so far (`servicelab progress` "
            "in a terminal says the same).",
            metadata=nbgrader("progress-text", locked=True),
        ),
        new_code_cell("progress()", metadata=nbgrader("progress", locked=True)),
        *knowledge_check(lab),
    ]
    for cell in cells:
        if "nbgrader" in cell.metadata:
            cell["id"] = cell.metadata["nbgrader"]["grade_id"]  # stable ids: regenerating changes nothing
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def notebook_path(lab: Lab) -> Path:
    return SOURCE / f"{lab.order:02d}-{lab.id}" / f"{lab.id}.ipynb"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a notebook is not up to date")
    args = parser.parse_args(argv)
    stale = []
    for path in all_labs():
        lab = load_lab(path)
        try:
            target, text = notebook_path(lab), nbformat.writes(build(lab)) + "\n"
        except BadInput as err:  # a diagram.svg missing or stale: it says which and the command that draws it
            print(f"error: {err}", file=sys.stderr)
            return 2
        if target.is_file() and target.read_text(encoding="utf-8") == text:
            continue
        stale.append(str(target.relative_to(REPO)))
        if not args.check:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    verb = "out of date" if args.check else "written"
    print(f"{len(stale)} notebook(s) {verb}" + (": " + ", ".join(stale) if stale else ""))
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
