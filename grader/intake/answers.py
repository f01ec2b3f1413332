"""A notebook submission's answer as data: the YAML in its answer cell, read from the notebook's JSON.

Nothing a learner hands in is executed. The answer cell holds YAML under the cell magic
`%%servicelab_answer <lab>`; the magic line becomes a YAML comment, so line numbers in error messages are
the cell's own. Notebooks released before the magic held `manifest = \"\"\"<YAML>\"\"\"`: that one form is
read as a string literal from the syntax tree, never run. Anything else in the answer cell (Python such as
`check = lambda lab: 1.0`) is the submission's error, as is a file that is not a notebook.

The notebook's JSON is bounded before it is built: at most 8 MiB, UTF-8, nested at most MAX_JSON_DEPTH deep
(Python's reader recurses), numbers a 64-bit integer or finite (an integer of thousands of digits makes
Python's reader raise, NaN and Infinity are not JSON), and an answer that is text (a lone surrogate escape
such as \\udcff is not). Each refusal names the line where it can.
"""

from __future__ import annotations

import ast
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from grader.base.errors import BadInput
from grader.intake.yamlread import INT_MAX, INT_MIN, MAX_NUMBER_CHARS, decode, number_preview

MAGIC = "servicelab_answer"
ANSWER_CELL_ID = "manifest"  # nbgrader grade_id of the answer cell in the servicelab notebooks
MAX_NOTEBOOK_BYTES = 8 * 1024 * 1024
MAX_ANSWER_CHARS = 256 * 1024
MAX_JSON_DEPTH = 64  # objects and arrays inside one another; Jupyter's own notebooks nest about 8 deep
NOTEBOOK_RULE = "a notebook submission is the .ipynb file as Jupyter saved it (nbformat 4 JSON)"
NOTEBOOK_FIX = "hand in the notebook file Jupyter saved, not an edited copy"
_JSON_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_BRACKET = re.compile(r"[\[\]{}]")
_SURROGATE = re.compile("[\ud800-\udfff]")
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
    too_big = BadInput(
        f"notebook larger than {MAX_NOTEBOOK_BYTES // 2**20} MiB",
        file=shown,
        rule=NOTEBOOK_RULE,
        fix="clear the outputs (Edit > Clear All Outputs) and hand it in again",
    )
    try:
        if path.stat().st_size > MAX_NOTEBOOK_BYTES:
            raise too_big
        with path.open("rb") as handle:
            data = handle.read(MAX_NOTEBOOK_BYTES + 1)
    except OSError as err:
        raise BadInput(f"cannot read the notebook: {err.strerror or err}", file=shown, rule=NOTEBOOK_RULE) from err
    if len(data) > MAX_NOTEBOOK_BYTES:  # it grew after stat()
        raise too_big
    return notebook_json(decode(data, shown, rule="a notebook is UTF-8 JSON"), shown)


def notebook_json(text: str, shown: str) -> dict[str, Any]:
    """A notebook's text as data, refused before it is built when it nests too deep or holds a number the API
    could not (the same rule as manifests)."""
    structure = _JSON_STRING.sub(_blanked, text)  # the strings' contents blanked: brackets and numbers remain
    _check_depth(structure, shown)
    try:
        data = json.loads(text, parse_int=_bounded_int, parse_float=_finite_float, parse_constant=_not_finite)
    except _NumberRefused as err:
        raise BadInput(
            f"the number {number_preview(err.text)} {err.why}",
            file=shown,
            line=_line_of_number(structure, err.text),
            rule=f"{NOTEBOOK_RULE}: numbers are 64-bit integers or finite decimals",
            fix=NOTEBOOK_FIX,
        ) from None
    except json.JSONDecodeError as err:
        raise BadInput(
            f"not a notebook: invalid JSON at line {err.lineno}: {err.msg}",
            file=shown,
            line=err.lineno,
            rule=NOTEBOOK_RULE,
            fix=NOTEBOOK_FIX,
        ) from err
    except (ValueError, RecursionError) as err:  # the checks above should leave none: still the submission's
        raise BadInput(f"cannot read the notebook: {err}", file=shown, rule=NOTEBOOK_RULE) from err
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise BadInput("not a notebook: the JSON has no list of cells", file=shown, rule=NOTEBOOK_RULE)
    if data.get("nbformat") != 4:
        raise BadInput(
            f"nbformat {repr(data.get('nbformat'))[:40]}, not 4",
            file=shown,
            rule=NOTEBOOK_RULE,
            fix="save the notebook with Jupyter 4 or later",
        )
    return data


class _NumberRefused(Exception):
    def __init__(self, text: str, why: str) -> None:
        super().__init__(text)
        self.text = text
        self.why = why


def _bounded_int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS or not INT_MIN <= int(text) <= INT_MAX:
        raise _NumberRefused(text, "is out of range")
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NumberRefused(text, "is not finite")
    return value


def _not_finite(text: str) -> NoReturn:  # NaN, Infinity, -Infinity: Python's reader takes them, JSON has none
    raise _NumberRefused(text, "is not finite")


def _blanked(string: re.Match[str]) -> str:
    return '"' + " " * (len(string.group()) - 2) + '"'  # the same length: offsets and lines stay


def _check_depth(structure: str, shown: str) -> None:
    depth = 0
    for bracket in _BRACKET.finditer(structure):
        if bracket.group() in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise BadInput(
                    f"objects and arrays nested deeper than {MAX_JSON_DEPTH} levels",
                    file=shown,
                    line=structure.count("\n", 0, bracket.start()) + 1,
                    rule=f"{NOTEBOOK_RULE}: JSON nested at most {MAX_JSON_DEPTH} levels",
                    fix=NOTEBOOK_FIX,
                )
        else:
            depth -= 1


def _line_of_number(structure: str, text: str) -> int | None:
    found = re.search(r"(?<![\w.+-])" + re.escape(text) + r"(?![\w.])", structure)
    return structure.count("\n", 0, found.start()) + 1 if found else None


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
    lone = _SURROGATE.search(source)
    if lone is not None:  # from an escape such as \udcff in the notebook's JSON: no character, cannot be written
        raise BadInput(
            f"the answer cell holds U+{ord(lone.group()):04X}, a lone surrogate, which is not a character",
            file=label,
            line=source.count("\n", 0, lone.start()) + 1,
            rule="the answer is UTF-8 text",
            fix="type that line again in Jupyter",
        )
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
