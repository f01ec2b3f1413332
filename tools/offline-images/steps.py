"""Small shared helpers for the offline image build: logging, named steps and running commands.

Every command's output goes to the current step's log file under <cache>/logs, so a failure is
one line on the terminal naming the step and that file (see StepFailed).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

_START = time.monotonic()
_state: dict[str, str] = {"step": "start", "log_dir": ""}
ARTEFACTS = {"built": 0, "reused": 0}  # this run's: a build that reused nothing is a cold one


def artefact(*, reused: bool) -> None:
    """Count one artefact (a program, a root filesystem, an image) as built or taken from the cache."""
    ARTEFACTS["reused" if reused else "built"] += 1


def elapsed_s() -> float:
    return time.monotonic() - _START


def log(message: str) -> None:
    print(f"[offline-images {time.monotonic() - _START:7.1f}s] {message}", flush=True)


class StepFailed(Exception):
    """A build step failed; str() is the one line a person needs: the step, why, and its log."""

    def __init__(self, reason: str) -> None:
        self.step = current_step()
        self.log_path = step_log()
        super().__init__(f"step '{self.step}' failed: {reason} (log: {self.log_path})")


def set_log_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    _state["log_dir"] = str(path)


def current_step() -> str:
    return _state["step"]


def step_log() -> Path:
    slug = re.sub(r"[^A-Za-z0-9.]+", "-", current_step()).strip("-") or "build"
    base = Path(_state["log_dir"]) if _state["log_dir"] else cache_root() / "logs"
    return base / f"{slug}.log"


@contextmanager
def step(name: str) -> Iterator[None]:
    """Name what runs inside, for its log file and for the failure line."""
    previous = _state["step"]
    _state["step"] = name
    step_log().parent.mkdir(parents=True, exist_ok=True)
    step_log().write_text("")  # one run's output per step
    try:
        yield
    except StepFailed:
        raise
    except Exception as err:  # outside run() (disk full, a missing file): the trace goes to the log
        with step_log().open("a") as out:
            traceback.print_exc(file=out)
        raise StepFailed(repr(err)) from err
    finally:
        _state["step"] = previous


def run(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    capture: bool = False,
    stdin: IO[bytes] | None = None,
    timeout: float = 3600,
) -> str:
    """Run a command, its output appended to the step's log; return stdout if captured."""
    command = shlex.join(argv)
    print(f"  $ {command}", flush=True)
    path = step_log()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as out:
        out.write(f"$ {command}\n".encode())
        out.flush()
        try:
            proc = subprocess.run(
                list(argv),
                cwd=cwd,
                env=dict(env) if env else None,
                stdin=stdin,
                stdout=subprocess.PIPE if capture else out,
                stderr=out,
                timeout=timeout,
                check=False,
            )
        except FileNotFoundError as err:
            raise StepFailed(f"{argv[0]} not found ({err.strerror})") from err
        except subprocess.TimeoutExpired as err:
            raise StepFailed(f"`{_short(argv)}` still running after {timeout:.0f}s") from err
    if proc.returncode != 0:
        if capture:  # go writes some errors to stdout (`go mod download -json`)
            with path.open("ab") as out:
                out.write(proc.stdout)
        raise StepFailed(f"`{_short(argv)}` exited {proc.returncode}")
    return proc.stdout.decode(errors="replace") if capture else ""


def _short(argv: Sequence[str]) -> str:
    """The command's first words: the full line is in the log."""
    text = shlex.join(argv[:3])
    return text if len(argv) <= 3 else f"{text} ..."


def cache_root() -> Path:
    default = "/var/cache/servicelab-build" if os.geteuid() == 0 else "~/.cache/servicelab-build"
    return Path(os.environ.get("SERVICELAB_BUILD_CACHE", default)).expanduser()


def docker_has_image(ref: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", ref], capture_output=True, check=False).returncode == 0


def docker_label(ref: str, label: str) -> str | None:
    """The image's label value; None when there is no such image."""
    proc = subprocess.run(
        ["docker", "image", "inspect", "--format", f'{{{{ index .Config.Labels "{label}" }}}}', ref],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() if proc.returncode == 0 else None
