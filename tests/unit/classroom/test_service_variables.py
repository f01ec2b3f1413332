"""The grading service's variables file (grader.classroom.service.variables): each student's own values, read
again when `classroom up` rewrites it, the last good values kept when it turns bad."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from grader.classroom.service.__main__ import main
from grader.classroom.service.variables import BadVariables, VariablesFile, parse_variables


def _write(path: Path, data: object, *, bump: int = 0) -> None:
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + bump))  # a rewrite within one clock tick still shows


def test_each_student_gets_their_own_and_a_later_rewrite_is_read(tmp_path: Path) -> None:
    path = tmp_path / "variables.json"
    _write(path, {"ann": {"NODE_PORT": "30412"}})
    variables = VariablesFile(path)
    assert variables("ann") == {"NODE_PORT": "30412"}
    assert variables("bo") == {}
    _write(path, {"ann": {"NODE_PORT": "30412"}, "bo": {"NODE_PORT": "31050"}}, bump=10**9)
    assert variables("bo") == {"NODE_PORT": "31050"}


def test_a_file_that_turns_bad_keeps_the_last_good_values(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "variables.json"
    _write(path, {"ann": {"NODE_PORT": "30412"}})
    variables = VariablesFile(path)
    _write(path, '{"ann": {"NODE_PO', bump=10**9)  # half written
    assert variables("ann") == {"NODE_PORT": "30412"}
    assert "keeping the variables last read" in caplog.text
    path.unlink()
    assert variables("ann") == {"NODE_PORT": "30412"}


@pytest.mark.parametrize(
    ("text", "said"),
    [("[]", "not a JSON object"), ('{"ann": {"NODE_PORT": 30412}}', "student 'ann'"), ("{", "not JSON")],
)
def test_a_malformed_file_says_what_is_wrong(text: str, said: str) -> None:
    with pytest.raises(BadVariables, match=said):
        parse_variables(text, "variables.json")


def test_the_service_will_not_start_on_a_bad_variables_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "variables.json"
    path.write_text('{"ann": "30412"}')
    assert main(["--variables-file", str(path), "--gradebook", str(tmp_path / "g.sqlite")]) == 2
    assert "--variables-file" in capsys.readouterr().err
    assert main(["--variables-file", str(tmp_path / "missing.json")]) == 2


def test_the_values_handed_over_in_the_environment_are_read_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SERVICELAB_VARIABLES_JSON", '["not", "a", "mapping"]')  # what the container beside kind gets
    assert main(["--gradebook", str(tmp_path / "g.sqlite")]) == 2
