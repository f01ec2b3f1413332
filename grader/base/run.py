"""The one way servicelab runs another program (kind, docker, kubectl).

Every call finds its binary, logs a command a person can paste, has a time cap and, on
failure, raises an error that carries the exit code and the output.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from grader.base.errors import EnvironmentFault

log = logging.getLogger("servicelab.run")

DEFAULT_TIMEOUT_S = 120.0
QUERY_TIMEOUT_S = 20.0  # a question to a local daemon (docker version, docker inspect): it answers at once if it works


class ToolMissing(EnvironmentFault, RuntimeError):
    """A program servicelab needs is not on PATH."""

    def __init__(self, program: str, fix: str = "") -> None:
        self.program = program
        hint = f": {fix}" if fix else ""
        super().__init__(f"'{program}' was not found on PATH{hint}")


class RunError(EnvironmentFault, RuntimeError):
    """A command exited non-zero or overran its time cap."""

    def __init__(self, argv: Sequence[str], code: int | None, stdout: str, stderr: str) -> None:
        self.argv = list(argv)
        self.code = code
        self.stdout = stdout
        self.stderr = stderr
        what = "timed out" if code is None else f"exited {code}"
        detail = (stderr or stdout).strip().splitlines()[-5:]
        super().__init__(f"`{shlex.join(self.argv)}` {what}" + ("\n  " + "\n  ".join(detail) if detail else ""))


@dataclass(frozen=True)
class Result:
    argv: list[str]
    code: int
    stdout: str
    stderr: str


def which(program: str, fix: str = "") -> str:
    path = shutil.which(program)
    if path is None:
        raise ToolMissing(program, fix)
    return path


def run(
    argv: Sequence[str],
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    check: bool = True,
    input_text: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Result:
    """Run argv (no shell) and capture its output as text."""
    full = [which(argv[0]), *argv[1:]]
    log.debug("$ %s", shlex.join(argv))
    try:
        proc = subprocess.run(
            full,
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **env} if env else None,
            check=False,
            start_new_session=True,  # a terminal's Ctrl-C reaches servicelab only, which then cleans up
        )
    except subprocess.TimeoutExpired as exc:
        raise RunError(argv, None, _text(exc.stdout), _text(exc.stderr)) from exc
    if check and proc.returncode != 0:
        raise RunError(argv, proc.returncode, proc.stdout, proc.stderr)
    return Result(list(argv), proc.returncode, proc.stdout, proc.stderr)


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data
