"""Small shared helpers for the offline image build: logging and running commands."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

_START = time.monotonic()


def log(message: str) -> None:
    print(f"[offline-images {time.monotonic() - _START:7.1f}s] {message}", flush=True)


class StepFailed(RuntimeError):
    pass


def run(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    capture: bool = False,
    input_bytes: bytes | None = None,
    timeout: float = 3600,
) -> str:
    """Run a command; stream its output unless captured; raise StepFailed with the tail on error."""
    print(f"  $ {shlex.join(argv)}", flush=True)
    proc = subprocess.run(
        list(argv),
        cwd=cwd,
        env=dict(env) if env else None,
        input=input_bytes,
        stdout=subprocess.PIPE if capture else sys.stdout,
        stderr=subprocess.PIPE if capture else sys.stderr,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace")[-2000:] if capture and proc.stderr else ""
        raise StepFailed(f"`{shlex.join(argv)}` exited {proc.returncode}\n{tail}")
    return proc.stdout.decode(errors="replace") if capture else ""


def cache_root() -> Path:
    default = "/var/cache/servicelab-build" if os.geteuid() == 0 else "~/.cache/servicelab-build"
    return Path(os.environ.get("SERVICELAB_BUILD_CACHE", default)).expanduser()


def docker_has_image(ref: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", ref], capture_output=True, check=False).returncode == 0
