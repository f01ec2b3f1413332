"""A notebook submission's answer as data: the YAML in its answer cell, read from the notebook's JSON.

Nothing a learner hands in is executed. The answer cell holds YAML under the cell magic
`%%servicelab_answer <lab>`; the magic line becomes a YAML comment, so line numbers in error messages are
the cell's own. Notebooks released before the magic held `manifest = \"\"\"<YAML>\"\"\"`: that one form is
read as a string literal from the syntax tree, never run. Anything else in the answer cell (Python such as
`check = lambda lab: 1.0`) is the submission's error, as is a file that is not a notebook.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.base.errors import BadInput

MAGIC = "servicelab_answer"
ANSWER_CELL_ID = "manifest"  # nbgrader grade_id of the answer cell in the servicelab notebooks
MAX_NOTEBOOK_BYTES = 8 * 1024 * 1024
MAX_ANSWER_CHARS = 256 * 1024
ANSWER_RULE = f"the answer cell holds YAML under the line %%{MAGIC} LAB; nothing in a submission is run"
ANSWER_FIX = f"write the manifest as YAML below %%{MAGIC} LAB (no Python in the answer cell)"


@dataclass(frozen=True)
class Answer:
    text: str  # YAML, line for line the answer cell
    label: str  # where it came from, for messages: "alice/nodeport.ipynb, answer cell"

    @property
    def empty(self) -> bool:
        """Nothing but blank lines, comments and separators: the unchanged release stub, or no answer."""
        return is_blank_yaml(self.text)


def is_blank_yaml(text: str) -> bool:
    return all(not s or s.startswith("#") or s == "---" for s in (line.strip() for line in text.splitlines()))


def read_notebook(path: Path, label: str | None = None) -> dict[str, Any]:
    """The notebook's JSON (nbformat 4), or BadInput naming the file."""
    shown = label or str(path)
    rule = "a notebook submission is the .ipynb file as Jupyter saved it (nbformat 4 JSON)"
    try:
        if path.stat().st_size > MAX_NOTEBOOK_BYTES:
            raise BadInput(
                f"notebook larger than {MAX_NOTEBOOK_BYTES // 2**20} MiB",
                file=shown,
                rule=rule,
                fix="clear the outputs (Edit > Clear All Outputs) and hand it in again",
            )
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, RecursionError) as err:
        raise BadInput(f"cannot read the notebook: {err}", file=shown, rule=rule) from err
    except json.JSONDecodeError as err:
        raise BadInput(
            f"not a notebook: invalid JSON at line {err.lineno}: {err.msg}",
            file=shown,
            line=err.lineno,
            rule=rule,
            fix="hand in the notebook file Jupyter saved, not an edited copy",
        ) from err
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise BadInput("not a notebook: the JSON has no list of cells", file=shown, rule=rule)
    if data.get("nbformat") != 4:
        raise BadInput(
            f"nbformat {data.get('nbformat')!r}, not 4",
            file=shown,
            rule=rule,
            fix="save the notebook with Jupyter 4 or later",
        )
    return data


def answer_cell(nb: dict[str, Any], label: str, cell_id: str = ANSWER_CELL_ID) -> dict[str, Any]:
    """The first code cell with the answer's grade_id (nbgrader keeps the first of duplicates), else the only
    code solution cell."""
    cells = [c for c in nb["cells"] if isinstance(c, dict) and c.get("cell_type") == "code"]
    meta = [_nbgrader_meta(c) for c in cells]
    by_id = [c for c, m in zip(cells, meta, strict=True) if m.get("grade_id") == cell_id]
    if by_id:
        return by_id[0]
    solutions = [c for c, m in zip(cells, meta, strict=True) if m.get("solution") is True]
    if len(solutions) == 1:
        return solutions[0]
    raise BadInput(
        f"no answer cell (a code cell with nbgrader grade_id {cell_id!r})",
        file=label,
        rule="the answer stays in the notebook's answer cell",
        fix="copy your YAML into the answer cell of a fresh copy of the released notebook",
    )


def answer_of(path: Path, label: str | None = None) -> Answer:
    """The answer of a notebook file; BadInput when the file or its answer cell is not what it must be."""
    shown = label or str(path)
    return answer_in(read_notebook(path, shown), shown)


def answer_in(nb: dict[str, Any], shown: str) -> Answer:
    """The answer of a notebook already read (nbgrader hands one to its preprocessors)."""
    where = f"{shown}, answer cell"
    return Answer(answer_text(_source(answer_cell(nb, shown)), where), where)


def answer_text(source: str, label: str) -> str:
    """The YAML of an answer cell's source, or BadInput if it is anything else."""
    if len(source) > MAX_ANSWER_CHARS:
        raise BadInput(f"the answer cell is longer than {MAX_ANSWER_CHARS // 1024} KiB", file=label, rule=ANSWER_RULE)
    lines = source.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        return ""
    if lines[first].strip().startswith(f"%%{MAGIC}"):
        lines[first] = "# " + lines[first]  # a comment keeps the cell's line numbers
        return "\n".join(lines)
    if is_blank_yaml(source):
        return source  # the magic line removed, nothing written: no answer
    literal = _manifest_literal(source)
    if literal is not None:
        return literal
    line = first + 1
    raise BadInput(
        f"the answer cell is not YAML under %%{MAGIC}: it starts with {lines[first].strip()[:60]!r}",
        file=label,
        line=line,
        rule=ANSWER_RULE,
        fix=ANSWER_FIX,
    )


def _manifest_literal(source: str) -> str | None:
    """`manifest = "..."` and nothing else (the form released before the magic): the string, else None."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assign):
        return None
    node = tree.body[0]
    target_ok = len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) and node.targets[0].id == "manifest"
    if target_ok and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
        return node.value.value
    return None


def _nbgrader_meta(cell: dict[str, Any]) -> dict[str, Any]:
    meta = cell.get("metadata")
    found = meta.get("nbgrader") if isinstance(meta, dict) else None
    return found if isinstance(found, dict) else {}


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    if isinstance(source, list) and all(isinstance(s, str) for s in source):
        return "".join(source)
    return source if isinstance(source, str) else ""
