"""Run chains of jobs in worker processes: at most N at once, a chain's jobs in order on one worker.

Processes, not threads: pytest.main (which runs a lab's checks) is not thread-safe. Each worker opens its
`WorkerSpec` once (for grading: one Environment with its probe pods) and reuses it for every job it gets.

A worker that dies mid-job becomes that job's result (via `crashed`), never the end of the batch: a fresh
worker first cleans up after the dead one (by its run id), then carries on with the rest of the chain.

Interrupts: workers sit in their own process group, so a terminal's Ctrl-C reaches only this process. It
sends each worker one SIGTERM, which grader.base.interrupt turns into Interrupted (a KeyboardInterrupt: pytest
ends its session on one): the job unwinds through its finally blocks (namespace deleted, shielded from further
signals), the worker deletes whatever of its run is still there and closes its environment (probe pods).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Generic, Protocol, TypeVar, cast

from grader.base import interrupt

log = logging.getLogger("servicelab.workers")

J = TypeVar("J")
R = TypeVar("R")
J_contra = TypeVar("J_contra", contravariant=True)
R_co = TypeVar("R_co", covariant=True)

UNWIND_S = 180.0  # a worker's cleanup waits up to 90 s for a namespace's Services to go, then stops its probes
STOP_S = 60.0


class Worker(Protocol[J_contra, R_co]):
    """What a worker process opened: it runs jobs, and can remove what another (dead) worker left behind."""

    @property
    def run_id(self) -> str: ...

    def run(self, job: J_contra) -> R_co: ...

    def clean_up_after(self, run_id: str) -> None: ...


class WorkerSpec(Protocol[J_contra, R_co]):
    """Picklable recipe (it crosses into each worker process) for opening a Worker there."""

    def open(self) -> AbstractContextManager[Worker[J_contra, R_co]]: ...


@dataclass(frozen=True)
class _Ready:
    run_id: str


@dataclass(frozen=True)
class _CleanUp:
    run_id: str


@dataclass
class _Process(Generic[J]):
    process: BaseProcess
    conn: Connection
    run_id: str = ""
    current: J | None = None
    rest: deque[J] = field(default_factory=deque)


def run_chains(
    chains: Sequence[Sequence[J]],
    spec: WorkerSpec[J, R],
    jobs: int,
    *,
    crashed: Callable[[J, str], R],
    on_result: Callable[[R], None] = lambda _: None,
) -> list[R]:
    """Every job's result, in the order they finished."""
    pool = _Pool(spec, crashed, on_result)
    queue = deque(sorted(chains, key=len, reverse=True))  # longest first: the longest chain bounds the batch
    try:
        while queue or pool.busy():
            while queue and len(pool.busy()) < max(1, jobs):
                pool.start_chain(list(queue.popleft()))
            pool.serve_one_round()
    except BaseException:  # Ctrl-C, SIGTERM, or a bug here: workers must still clean up
        with interrupt.shielded():  # a second Ctrl-C waits until the workers have cleaned up
            pool.unwind()
        raise
    pool.stop()
    return pool.results


def _serve(conn: Connection, spec: WorkerSpec[J, R]) -> None:
    """A worker process's main: open the spec once, run jobs until told to stop (None) or the parent is gone."""
    os.setpgid(0, 0)  # the terminal's Ctrl-C reaches the parent only: it decides, and sends one SIGTERM
    interrupt.install()  # SIGTERM raises Interrupted (a KeyboardInterrupt); cleanups run shielded
    with spec.open() as worker:
        try:
            conn.send(_Ready(worker.run_id))
            while (message := cast("J | _CleanUp | None", _receive(conn))) is not None:
                if isinstance(message, _CleanUp):
                    worker.clean_up_after(message.run_id)
                    continue
                result = worker.run(message)
                try:
                    conn.send(result)
                except OSError:
                    return  # the parent is gone
        except KeyboardInterrupt:
            # The job unwound through its finally blocks; delete whatever of this run is still there.
            with interrupt.shielded():
                worker.clean_up_after(worker.run_id)


def _receive(conn: Connection) -> object:
    """The next message; None means stop (told so, or the parent is gone)."""
    try:
        message: object = conn.recv()
    except EOFError:
        return None
    return message


class _Pool(Generic[J, R]):
    def __init__(self, spec: WorkerSpec[J, R], crashed: Callable[[J, str], R], on_result: Callable[[R], None]) -> None:
        self.spec = spec
        self.crashed = crashed
        self.on_result = on_result
        self.procs: list[_Process[J]] = []
        self.results: list[R] = []
        self.context = multiprocessing.get_context("spawn")  # no inherited threads, locks or pytest state

    def busy(self) -> list[_Process[J]]:
        return [p for p in self.procs if p.current is not None]

    def start_chain(self, chain: list[J], clean_up_after: str = "") -> None:
        self.procs = [p for p in self.procs if p.current is not None or p.process.is_alive()]  # idle deaths
        proc = next((p for p in self.procs if p.current is None), None) or self._spawn()
        if clean_up_after:
            with contextlib.suppress(OSError):  # what a dead worker held may block the chain's next job
                proc.conn.send(_CleanUp(clean_up_after))
        proc.rest = deque(chain)
        self._next(proc)

    def serve_one_round(self) -> None:
        busy = self.busy()
        ready = set(wait([p.conn for p in busy] + [p.process.sentinel for p in busy]))
        for proc in busy:
            if proc.conn in ready or proc.process.sentinel in ready:
                self._collect(proc)

    def _spawn(self) -> _Process[J]:
        parent_end, child_end = self.context.Pipe()
        process = self.context.Process(target=_serve, args=(child_end, self.spec), name="servicelab-worker")
        process.start()
        child_end.close()  # so the parent sees EOF when the worker dies
        proc: _Process[J] = _Process(process, parent_end)
        self.procs.append(proc)
        return proc

    def _next(self, proc: _Process[J]) -> None:
        proc.current = proc.rest.popleft() if proc.rest else None
        if proc.current is not None:
            with contextlib.suppress(OSError):  # a dead worker is noticed by its sentinel
                proc.conn.send(proc.current)

    def _collect(self, proc: _Process[J]) -> None:
        try:
            while proc.current is not None and proc.conn.poll():
                message = proc.conn.recv()
                if isinstance(message, _Ready):
                    proc.run_id = message.run_id
                    continue
                self._record(message)
                self._next(proc)
        except (EOFError, OSError):
            pass  # the worker is gone; its sentinel says so below
        if proc.current is not None and not proc.process.is_alive():
            self._bury(proc)

    def _bury(self, proc: _Process[J]) -> None:
        proc.process.join()
        job, rest = proc.current, list(proc.rest)
        assert job is not None
        proc.current = None
        proc.conn.close()
        self.procs.remove(proc)
        log.warning("worker %s died (exit code %s)", proc.process.pid, proc.process.exitcode)
        self._record(self.crashed(job, f"worker process died (exit code {proc.process.exitcode})"))
        if rest:  # a worker that never said its run id had not touched the cluster yet
            self.start_chain(rest, clean_up_after=proc.run_id)

    def _record(self, result: R) -> None:
        self.results.append(result)
        self.on_result(result)

    def stop(self) -> None:
        """Normal end: each worker closes its environment (probe pods) and exits."""
        for proc in self.procs:
            with contextlib.suppress(OSError):
                proc.conn.send(None)
        if self._wait_exit(STOP_S):
            self.unwind()
        for proc in self.procs:
            proc.process.join()

    def unwind(self) -> None:
        """Interrupted: one SIGTERM each, then wait (with a deadline) while they delete what they created."""
        for proc in self.procs:
            if proc.process.is_alive() and proc.process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.process.pid, signal.SIGTERM)
        for proc in self._wait_exit(UNWIND_S):
            log.warning(
                "worker %s did not finish its cleanup in %.0fs: killed; its objects carry run label %s",
                proc.process.pid,
                UNWIND_S,
                proc.run_id,
            )
            proc.process.kill()
            proc.process.join()

    def _wait_exit(self, timeout_s: float) -> list[_Process[J]]:
        """Wait until every worker exited or the deadline passed; the ones still running."""
        deadline = time.monotonic() + timeout_s
        running = [p for p in self.procs if p.process.is_alive()]
        while running and (left := deadline - time.monotonic()) > 0:
            wait([p.process.sentinel for p in running], timeout=left)
            running = [p for p in running if p.process.is_alive()]
        return running
