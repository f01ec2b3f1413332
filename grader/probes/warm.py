"""Shells that stay open in an outside container (`docker exec -i CONTAINER sh`), running one probe script at a
time each: a batch then costs a write to a pipe, not a new `docker exec` (~0.1 s of the container runtime's own
set-up each, measured here). A pool per container and grading environment, so probes asked at once (a thread
of a check) get a shell each. A script that does not reach its end marker in time ends its shell: the next one
starts afresh. Closed with the environment; a grader that dies closes their stdin, and they exit.
"""

from __future__ import annotations

import collections
import contextlib
import os
import queue
import signal
import subprocess
import threading
import time
from typing import IO

from grader.base.errors import EnvError
from grader.base.run import ToolMissing, which
from grader.base.run import log as _log

STDERR_KEPT = 20  # lines of a shell's stderr kept to explain a failure
READERS_S = 5.0  # for the pipe readers to see the end of a killed client's pipes


class WarmShell:
    def __init__(self, container: str) -> None:
        self.container = container
        try:
            self.proc = subprocess.Popen(
                [which("docker"), "exec", "-i", container, "sh"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                encoding="utf-8",
                errors="replace",
                start_new_session=True,  # its own process group: close() ends the client and anything it started
            )
        except (OSError, ToolMissing) as err:
            raise EnvError(f"cannot run docker here: {err}") from err
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: collections.deque[str] = collections.deque(maxlen=STDERR_KEPT)
        assert self.proc.stdout is not None
        assert self.proc.stderr is not None
        self._readers = [
            threading.Thread(target=self._pump, args=(self.proc.stdout,), daemon=True, name="warm-out"),
            threading.Thread(target=self._drain, args=(self.proc.stderr,), daemon=True, name="warm-err"),
        ]
        for reader in self._readers:
            reader.start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line)
        self.lines.put(None)  # the shell (or docker exec) has ended

    def _drain(self, stream: IO[str]) -> None:
        for line in stream:
            self.stderr.append(line.rstrip("\n"))

    def run(self, script: str, end_marker: str, timeout_s: float) -> str | None:
        """The script's output up to and with its end marker; None when the script, the shell or the time ended
        first (then this shell is done for)."""
        assert self.proc.stdin is not None
        after = f"{end_marker}:after"  # the shell's own line once the script's subshell has ended
        try:  # a subshell: the script's own `exit` ends it, not this shell
            self.proc.stdin.write(f"(\n{script}\n)\necho '{after}'\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            return None
        out: list[str] = []
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                return None
            if line is None:
                return None  # the shell has gone: its answer, whole or not, is not to be trusted for a next one
            if line.rstrip("\n") == after:
                return "".join(out) if out and out[-1].rstrip("\n") == end_marker else None
            if not out or out[-1].rstrip("\n") != end_marker:
                out.append(line)
        return None

    def why_ended(self) -> str:
        code = self.proc.poll()
        said = " | ".join(self.stderr) or "nothing on stderr"
        return f"exit {code}: {said}" if code is not None else f"no end marker in time ({said})"

    def close(self) -> None:
        """End docker exec's client (the shell in the container then reads the end of its stdin) and its pipes."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        for reader in self._readers:
            reader.join(timeout=READERS_S)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()


class ShellPool:
    """Warm shells into one container, shared by the vantage points of an environment."""

    def __init__(self, container: str) -> None:
        self.container = container
        self._idle: list[WarmShell] = []
        self._lock = threading.Lock()

    def start_ahead(self) -> None:
        """Open one shell now, while the grading does other things (its docker exec set-up overlaps them)."""
        with self._lock:
            if not self._idle:
                self._idle.append(WarmShell(self.container))

    def run(self, script: str, end_marker: str, timeout_s: float) -> str:
        shell = self._idle_shell() or WarmShell(self.container)
        _log.debug("$ docker exec -i %s sh  <<< %s", self.container, script)
        out = shell.run(script, end_marker, timeout_s)
        if out is None:
            why = shell.why_ended()
            shell.close()
            raise EnvError(f"docker exec into {self.container} failed ({why})")
        with self._lock:
            self._idle.append(shell)
        return out

    def _idle_shell(self) -> WarmShell | None:
        """An idle shell still open (one whose container stopped meanwhile has ended: it is dropped)."""
        while True:
            with self._lock:
                shell = self._idle.pop() if self._idle else None
            if shell is None or shell.proc.poll() is None:
                return shell
            shell.close()

    def close(self) -> None:
        with self._lock:
            shells, self._idle = self._idle, []
        for shell in shells:
            shell.close()
