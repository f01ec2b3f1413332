"""The real grading function: what check() does (grade the objects already in a namespace, in place), in worker
processes of the service, with the service's own rights (its kubeconfig, or the ServiceAccount it runs as).

Processes, not threads: pytest.main, which runs a lab's checks, is not thread-safe. Each process opens one
Environment (its probe pods, started on first use) and keeps it for every grading it gets; the queue
(fairqueue) runs at most one grading per worker thread, and each worker thread holds one process. A process that
dies, or takes longer than timeout_s, is ended and replaced: that grading fails with the reason, the next one
gets a fresh process.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from grader.base import interrupt
from grader.base.errors import EnvError, ServicelabError
from grader.catalogue.labs import load_lab
from grader.classroom.service.fairqueue import NotGradable
from grader.grading.environment import Environment, environment
from grader.grading.session import grade
from grader.reports import json as json_report

log = logging.getLogger("servicelab.service.live")

DEFAULT_TIMEOUT_S = 600.0
STOP_S = 60.0


@dataclass(frozen=True)
class LiveSpec:
    """Picklable: which cluster the worker processes grade on."""

    context: str | None = None
    kubeconfig: str | None = None
    probe_image: str | None = None


def grade_in_place(
    env: Environment, namespace: str, lab: str, variables: Mapping[str, str] | None = None
) -> tuple[str, Any]:
    """One grading in a worker process, with the student's own variables (their node port) for this grading only:
    ("report", servicelab.result/v1) or ("refused", why)."""
    try:
        spec = load_lab(lab)
        result = grade(spec, env, namespace=namespace, variables=variables)  # in place: what check() grades
    except EnvError as err:
        return ("refused", f"ENV-ERROR: {err.diagnosis}")
    except ServicelabError as err:  # e.g. the namespace does not exist yet: apply the answer first
        return ("refused", err.render())
    return ("report", json_report.to_dict(result))


def _serve(conn: Connection, spec: LiveSpec) -> None:
    interrupt.install()  # SIGTERM unwinds: the grading's finally blocks run, then the environment closes
    with environment(spec.context, spec.kubeconfig, probe_image=spec.probe_image) as env:
        while True:
            try:
                message = conn.recv()
            except EOFError:
                return  # the service is gone
            if message is None:
                return
            namespace, lab, variables = message
            try:
                answer = grade_in_place(env, namespace, lab, variables)
            except Exception as err:  # the grader's own bug: this grading's error, the process goes on
                answer = ("refused", f"the grader failed: {type(err).__name__}: {err}")
            conn.send(answer)


@dataclass
class _Process:
    process: BaseProcess
    conn: Connection


class LiveGrader:
    """Callable (namespace, lab, variables) -> report; one process per calling thread, started on its first
    grading."""

    def __init__(self, spec: LiveSpec, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.spec = spec
        self.timeout_s = timeout_s
        self._context = multiprocessing.get_context("spawn")  # no inherited threads, locks or sockets
        self._mine = threading.local()
        self._all: list[_Process] = []
        self._lock = threading.Lock()

    def __call__(self, namespace: str, lab: str, variables: Mapping[str, str] | None = None) -> dict[str, Any]:
        proc = self._process()
        try:
            proc.conn.send((namespace, lab, dict(variables or {})))
            if not proc.conn.poll(self.timeout_s):
                self._end(proc)
                raise NotGradable(f"grading took longer than {self.timeout_s:.0f}s: stopped; run check() again")
            kind, value = proc.conn.recv()
        except (EOFError, OSError) as err:
            self._end(proc)
            raise NotGradable(f"the grading process died ({err or 'no answer'}): run check() again") from err
        if kind == "refused":
            raise NotGradable(str(value))
        report: dict[str, Any] = value
        return report

    def _process(self) -> _Process:
        proc: _Process | None = getattr(self._mine, "proc", None)
        if proc is not None and proc.process.is_alive():
            return proc
        parent, child = self._context.Pipe()
        process = self._context.Process(target=_serve, args=(child, self.spec), name="servicelab-grading")
        process.start()
        child.close()  # so this end sees EOF when the process dies
        proc = _Process(process, parent)
        self._mine.proc = proc
        with self._lock:
            self._all.append(proc)
        return proc

    def _end(self, proc: _Process) -> None:
        proc.process.terminate()  # SIGTERM: the environment closes (probe pods) on the way out
        proc.process.join(STOP_S)
        if proc.process.is_alive():
            proc.process.kill()
            proc.process.join()
        with contextlib.suppress(OSError):
            proc.conn.close()
        self._mine.proc = None
        with self._lock:
            self._all = [p for p in self._all if p is not proc]

    def close(self) -> None:
        """Each process closes its environment and exits."""
        with self._lock:
            procs, self._all = self._all, []
        for proc in procs:
            with contextlib.suppress(OSError):
                proc.conn.send(None)
        for proc in procs:
            proc.process.join(STOP_S)
            if proc.process.is_alive():
                proc.process.kill()
                proc.process.join()
