"""CLI exit codes and the notebook API's silence, without a cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader import cli
from grader.base.errors import EnvError

DEMO = Path(__file__).parents[2] / "data" / "labs" / "demo"


def test_unknown_lab_is_bad_input_without_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["grade", "no-such-lab"]) == 2
    err = capsys.readouterr().err
    assert "no lab 'no-such-lab'" in err
    assert "Traceback" not in err


def test_broken_lab_is_bad_input_with_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lab = tmp_path / "broken"
    lab.mkdir()
    (lab / "lab.yaml").write_text("id: broken\ntitle: x\nsurprise: 1\n")
    assert cli.main(["grade", str(lab)]) == 2
    assert "lab.yaml:3: unknown key 'surprise'" in capsys.readouterr().err


def test_unreachable_context_is_environment_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["grade", str(DEMO), "--context", "servicelab-no-such-context"])
    assert code == 3
    assert "ENV-ERROR" in capsys.readouterr().out


def test_check_solutions_with_unreachable_context(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check-solutions", str(DEMO), "--context", "servicelab-no-such-context"]) == 3
    assert "ENV-ERROR" in capsys.readouterr().out


def test_notebook_check_raises_env_error_and_writes_no_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    from grader import check  # noqa: PLC0415 - the public notebook API

    with pytest.raises(EnvError) as raised:
        check(str(DEMO), context="servicelab-no-such-context")
    out, err = capfd.readouterr()
    assert err == ""
    assert out == ""  # the line is the cell's error, which IPython shows in place of a traceback
    assert raised.value._render_traceback_() == [str(raised.value)]  # type: ignore[attr-defined]
    assert str(raised.value).startswith("ENV-ERROR: the lab cluster does not answer: start the lab cluster with")


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "grade" in out
    assert "check-solutions" in out
