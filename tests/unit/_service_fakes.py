"""Fakes for the grading service (grader.classroom.service): a TokenReview table, a grading function that
records what it was asked and can be held, reports in servicelab.result/v1's shape, and WSGI calls."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

HOLD_S = 10.0  # the longest a held fake grading waits to be let go (a test that forgets fails, never hangs)


def report(lab: str, namespace: str, statuses: dict[str, str], *, points: int = 1, message: str = "") -> dict[str, Any]:
    """A servicelab.result/v1 report with one check per entry of statuses (check id -> status)."""
    checks = [
        {
            "id": check,
            "title": f"check {check}",
            "points": points,
            "earned": points if status == "pass" else 0,
            "status": status,
            "message": message if status == "fail" else "",
        }
        for check, status in statuses.items()
    ]
    env_error = any(c["status"] == "env-error" for c in checks)
    score = sum(c["earned"] for c in checks)
    top = sum(c["points"] for c in checks)
    verdict = "ENV-ERROR" if env_error else ("PASS" if score == top and top else "FAIL")
    return {
        "schema": "servicelab.result/v1",
        "lab": lab,
        "namespace": namespace,
        "verdict": verdict,
        "score": None if env_error else score,
        "max_score": None if env_error else top,
        "diagnosis": "the probe pod did not start" if env_error else None,
        "checks": checks,
    }


@dataclass
class FakeReviewer:
    """TokenReview as a table: token -> username; any other token authenticates nobody."""

    users: dict[str, str] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def __call__(self, token: str) -> str | None:
        self.asked.append(token)
        return self.users.get(token)


@dataclass
class FakeGrading:
    """The grading function: records (namespace, lab) as each grading starts (and the student's variables it was
    given, in `given`), answers with answer(namespace, lab); while `held`, every grading waits until release()."""

    answer: Callable[[str, str], dict[str, Any]] = lambda ns, lab: report(lab, ns, {"a": "pass", "b": "pass"})
    held: bool = False
    started: list[tuple[str, str]] = field(default_factory=list)
    given: list[dict[str, str]] = field(default_factory=list)
    most_at_once: int = 0
    most_per_namespace: int = 0
    _gate: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _now: dict[str, int] = field(default_factory=dict)
    _progress: threading.Condition = field(default_factory=threading.Condition)

    def release(self) -> None:
        self._gate.set()

    def wait_started(self, count: int) -> None:
        """Until count gradings have started (at most HOLD_S)."""
        with self._progress:
            assert self._progress.wait_for(lambda: len(self.started) >= count, HOLD_S), f"{self.started}"

    def __call__(self, namespace: str, lab: str, variables: Mapping[str, str] | None = None) -> dict[str, Any]:
        with self._lock:
            self.started.append((namespace, lab))
            self.given.append(dict(variables or {}))
            self._now[namespace] = self._now.get(namespace, 0) + 1
            self.most_per_namespace = max(self.most_per_namespace, self._now[namespace])
            self.most_at_once = max(self.most_at_once, sum(self._now.values()))
        with self._progress:
            self._progress.notify_all()
        try:
            if self.held:
                assert self._gate.wait(HOLD_S), "a held grading was never released"
            return self.answer(namespace, lab)
        finally:
            with self._lock:
                self._now[namespace] -= 1


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


def call(app: Any, method: str, path: str, *, token: str | None = None, body: Any = None, query: str = "") -> Response:
    """One request to a WSGI application, as a server would pass it."""
    raw = json.dumps(body).encode() if body is not None else b""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "CONTENT_LENGTH": str(len(raw)),
        "wsgi.input": io.BytesIO(raw),
    }
    if token is not None:
        environ["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    said: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        said["status"], said["headers"] = int(status.split(maxsplit=1)[0]), dict(headers)

    chunks = app(environ, start_response)
    return Response(said["status"], said["headers"], b"".join(chunks))
