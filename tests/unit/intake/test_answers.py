"""A notebook submission's answer is read as data: YAML under %%servicelab_answer, never Python, never run."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from grader.base.errors import BadInput
from grader.intake.answers import Answer, answer_cell, answer_of, answer_text, read_notebook

REPO = Path(__file__).resolve().parents[3]
SOURCE = REPO / "notebooks" / "source" / "02-nodeport" / "nodeport.ipynb"
STUB = "# your answer here"  # notebooks/nbgrader_config.py: ClearSolutions.code_stub
SERVICE = "apiVersion: v1\nkind: Service\nmetadata:\n  name: my-service\nspec:\n  type: NodePort\n"


def notebook(answer: str, *, extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    cells = [
        {
            "cell_type": "code",
            "metadata": {"nbgrader": {"grade_id": "setup", "locked": True}},
            "source": "x = 1",
            "outputs": [],
            "execution_count": None,
        },
        {
            "cell_type": "code",
            "metadata": {"nbgrader": {"grade_id": "manifest", "solution": True}},
            "source": answer,
            "outputs": [],
            "execution_count": None,
        },
        *(extra or []),
    ]
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}


def write(tmp_path: Path, nb: dict[str, Any] | str, name: str = "nodeport.ipynb") -> Path:
    path = tmp_path / name
    path.write_text(nb if isinstance(nb, str) else json.dumps(nb), encoding="utf-8")
    return path


def released(source: Path) -> dict[str, Any]:
    """What `nbgrader generate_assignment` makes of the answer cell: the solution region becomes the stub."""
    nb = json.loads(source.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        text = "".join(cell["source"])
        cell["source"] = re.sub(r"### BEGIN SOLUTION\n.*?### END SOLUTION", STUB, text, flags=re.DOTALL)
    return nb


def test_yaml_answer_is_the_cell_minus_the_magic_line_with_the_cells_line_numbers(tmp_path: Path) -> None:
    answer = answer_of(write(tmp_path, notebook("%%servicelab_answer nodeport\n" + SERVICE)), "alice/nodeport.ipynb")
    assert answer.label == "alice/nodeport.ipynb, answer cell"
    lines = answer.text.splitlines()
    assert lines[0] == "# %%servicelab_answer nodeport"  # a comment: line 2 of the cell is line 2 of the YAML
    assert lines[1:] == SERVICE.splitlines()
    assert not answer.empty


def test_the_reference_notebook_answer_is_its_solution_yaml() -> None:
    answer = answer_of(SOURCE)
    assert "kind: Service" in answer.text
    assert "nodePort: 30007" in answer.text


def test_unchanged_release_stub_is_no_answer(tmp_path: Path) -> None:
    answer = answer_of(write(tmp_path, released(SOURCE)))
    assert answer.empty
    assert STUB in answer.text


@pytest.mark.parametrize("source", ["", "\n\n", "%%servicelab_answer nodeport\n", STUB, "---\n# nothing\n"])
def test_empty_answers(source: str) -> None:
    assert Answer(answer_text(source, "x"), "x").empty


@pytest.mark.parametrize(
    "python",
    [
        "check = lambda lab: 1.0",
        "while True: pass",
        "import os\nos.system('kubectl delete ns --all')",
        'manifest = """\nkind: Service\n"""\ncheck = lambda lab: 1.0',  # the old form plus code: not just a string
        "def check(lab):\n    return 1.0",
    ],
)
def test_python_in_the_answer_cell_is_the_submissions_error(python: str, tmp_path: Path) -> None:
    path = write(tmp_path, notebook(python))
    with pytest.raises(BadInput) as caught:
        answer_of(path, "bob/nodeport.ipynb")
    message = caught.value.render()
    assert "not YAML" in message
    assert "bob/nodeport.ipynb, answer cell:1" in message
    assert "nothing in a submission is run" in message


def test_the_form_released_before_the_magic_is_read_as_a_string_never_run() -> None:
    text = answer_text('manifest = """\n' + SERVICE + '"""', "x")
    assert text.strip() == SERVICE.strip()


def test_python_under_the_magic_is_yaml_text_for_the_grader_to_refuse() -> None:
    # Not run either: YAML reads it as a plain string, which manifest parsing then refuses as no object.
    assert "check = lambda lab: 1.0" in answer_text("%%servicelab_answer nodeport\ncheck = lambda lab: 1.0", "x")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"cells": [', "not a notebook: invalid JSON"),
        ("", "not a notebook: invalid JSON"),
        ('["cells"]', "no list of cells"),
        ('{"nbformat": 3, "cells": []}', "nbformat 3, not 4"),
    ],
)
def test_corrupt_notebook_is_the_submissions_error(content: str, expected: str, tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=re.escape(expected)):
        read_notebook(write(tmp_path, content))


def test_a_notebook_without_the_answer_cell_is_an_error(tmp_path: Path) -> None:
    nb = notebook("x")
    nb["cells"] = nb["cells"][:1]
    with pytest.raises(BadInput, match="no answer cell"):
        answer_of(write(tmp_path, nb))


def test_the_first_cell_with_the_answer_id_counts_as_nbgrader_keeps_the_first_duplicate() -> None:
    second = {
        "cell_type": "code",
        "metadata": {"nbgrader": {"grade_id": "manifest", "solution": True}},
        "source": "check = lambda lab: 1.0",
        "outputs": [],
    }
    nb = notebook("%%servicelab_answer nodeport\n" + SERVICE, extra=[second])
    assert answer_cell(nb, "x")["source"].startswith("%%servicelab_answer")


def test_source_as_a_list_of_lines(tmp_path: Path) -> None:
    nb = notebook("")
    nb["cells"][1]["source"] = ["%%servicelab_answer nodeport\n", *SERVICE.splitlines(keepends=True)]
    assert "kind: Service" in answer_of(write(tmp_path, nb)).text


def _with_execution_count(value: str) -> str:
    """The notebook as Jupyter writes it (indent 1), the cells' execution_count written as value, the same text
    in the first cell's source before it."""
    nb = notebook("%%servicelab_answer nodeport\n" + SERVICE)
    nb["cells"][0]["source"] = value
    return json.dumps(nb, indent=1).replace('"execution_count": null', f'"execution_count": {value}', 2)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("9" * 5_000, "the number 99999999999999999999... (5,000 characters) is out of range"),
        ("-9223372036854775809", "the number -9223372036854775809 is out of range"),
        ("1e999", "the number 1e999 is not finite"),
        ("NaN", "the number NaN is not finite"),
        ("-Infinity", "the number -Infinity is not finite"),
    ],
)
def test_a_number_python_or_the_api_cannot_hold_is_refused_with_its_line(
    value: str, expected: str, tmp_path: Path
) -> None:
    text = _with_execution_count(value)
    with pytest.raises(BadInput) as refused:
        read_notebook(write(tmp_path, text))
    assert refused.value.message == expected
    first = text.index(f'"execution_count": {value}')
    assert refused.value.line == text[:first].count("\n") + 1  # the number's line, not the string's before it
    assert text.index(f'"source": "{value}"') < first
    assert "64-bit integers or finite decimals" in str(refused.value.rule)


def test_digits_inside_a_string_are_text_not_a_number(tmp_path: Path) -> None:
    nb = notebook("%%servicelab_answer nodeport\n" + SERVICE)
    nb["metadata"]["note"] = "9" * 5_000
    assert read_notebook(write(tmp_path, nb))["metadata"]["note"] == "9" * 5_000
    assert (
        read_notebook(write(tmp_path, _with_execution_count("9223372036854775807")))["cells"][0]["execution_count"]
        == 2**63 - 1
    )


@pytest.mark.parametrize("levels", [65, 100_000])
def test_json_nested_too_deep_is_refused_before_it_is_built(levels: int, tmp_path: Path) -> None:
    nb = json.dumps(notebook("%%servicelab_answer nodeport\n" + SERVICE), indent=1)
    deep = nb.replace('"metadata": {}', '"metadata": {"x": ' + "[" * levels + "]" * levels + "}", 1)
    with pytest.raises(BadInput, match="objects and arrays nested deeper than 64 levels") as refused:
        read_notebook(write(tmp_path, deep))
    assert refused.value.line == deep[: deep.index("[" * 60)].count("\n") + 1
    brackets_in_text = nb.replace('"metadata": {}', '"metadata": {"x": "' + "[" * levels + '"}', 1)
    assert read_notebook(write(tmp_path, brackets_in_text))["nbformat"] == 4  # brackets in a string are text


def test_a_notebook_that_is_not_utf8_is_refused_with_the_line(tmp_path: Path) -> None:
    path = tmp_path / "nodeport.ipynb"
    path.write_bytes(json.dumps(notebook("%%servicelab_answer nodeport\n" + SERVICE), indent=1).encode() + b"\xe9")
    with pytest.raises(BadInput, match="byte 0xe9 is not UTF-8") as refused:
        read_notebook(path)
    assert refused.value.rule == "a notebook is UTF-8 JSON"


def test_a_lone_surrogate_in_the_answer_is_not_text(tmp_path: Path) -> None:
    text = json.dumps(notebook("%%servicelab_answer nodeport\n" + SERVICE.replace("my-service", "my-\udcff")))
    assert "\\udcff" in text  # json writes the escape; Python's reader makes it a lone surrogate again
    with pytest.raises(BadInput, match="holds U\\+DCFF, a lone surrogate, which is not a character") as refused:
        answer_of(write(tmp_path, text))
    assert refused.value.line == 5  # the cell's line 5: "  name: my-\\udcff"
