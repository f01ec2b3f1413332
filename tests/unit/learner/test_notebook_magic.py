"""`%%servicelab_answer LAB` in Jupyter: the cell's YAML is applied like apply(); a mistake is a message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from grader.base.errors import BadInput
from grader.learner import notebook


class FakeShell:
    def __init__(self) -> None:
        self.user_ns: dict[str, Any] = {}
        self.magics: dict[str, Callable[[str, str], None]] = {}

    def register_magic_function(self, fn: Callable[[str, str], None], magic_kind: str, magic_name: str) -> None:
        assert magic_kind == "cell"
        self.magics[magic_name] = fn


@pytest.fixture
def shell() -> FakeShell:
    opened = FakeShell()
    notebook.load_ipython_extension(opened)
    return opened


def test_the_cell_is_applied_and_kept_as_manifest(shell: FakeShell, monkeypatch: pytest.MonkeyPatch) -> None:
    applied: list[tuple[str, str]] = []
    monkeypatch.setattr(notebook, "apply", lambda text, lab: applied.append((lab, text)) or [])
    shell.magics["servicelab_answer"](" nodeport ", "kind: Service\n")
    assert applied == [("nodeport", "kind: Service\n")]
    assert shell.user_ns["manifest"] == "kind: Service\n"


def test_a_refused_manifest_is_a_message_not_a_traceback(
    shell: FakeShell, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse(text: str, lab: str) -> list[str]:
        raise BadInput("not valid YAML", file="your manifest", line=3)

    monkeypatch.setattr(notebook, "apply", refuse)
    shell.magics["servicelab_answer"]("nodeport", "kind: [")
    out = capsys.readouterr()
    assert "not applied: your manifest:3: not valid YAML" in out.out
    assert not out.err


def test_the_lab_id_is_needed(shell: FakeShell, capsys: pytest.CaptureFixture[str]) -> None:
    shell.magics["servicelab_answer"]("", "kind: Service")
    assert "needs the lab id" in capsys.readouterr().out
