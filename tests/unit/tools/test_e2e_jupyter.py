"""tests/e2e/_jupyter.py's Jupyter messaging, against a fake kernel websocket; its hub calls against a fake hub."""

from __future__ import annotations

import json
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "e2e"))

import _jupyter

SESSION = "s1"
Reaction = Callable[[dict[str, Any]], list[dict[str, Any]]]


def reply(to: dict[str, Any], msg_type: str, content: dict[str, Any], channel: str = "iopub") -> dict[str, Any]:
    """A kernel's message answering `to`, in the websocket's JSON form."""
    return {
        "header": {"msg_id": f"k-{msg_type}", "msg_type": msg_type, "session": "kernel"},
        "parent_header": to["header"],
        "msg_type": msg_type,
        "metadata": {},
        "content": content,
        "channel": channel,
        "buffers": [],
    }


@dataclass
class FakeChannels:
    """A kernel's websocket: each message sent gets the reaction for its type queued; recv takes the next one, and
    an empty queue is the websocket's timeout."""

    react: dict[str, Reaction]
    queue: deque[str] = field(default_factory=deque)
    sent: list[dict[str, Any]] = field(default_factory=list)
    timeouts: list[float | None] = field(default_factory=list)
    closed: bool = False

    def send(self, payload: str) -> None:
        msg = json.loads(payload)
        self.sent.append(msg)
        reaction = self.react.get(msg["header"]["msg_type"])
        self.queue.extend(json.dumps(m) for m in (reaction(msg) if reaction else []))

    def recv(self) -> str:
        if not self.queue:
            raise TimeoutError("timed out")
        return self.queue.popleft()

    def settimeout(self, timeout: float | None) -> None:
        self.timeouts.append(timeout)

    def close(self) -> None:
        self.closed = True


def kernel_info(ask: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        reply(ask, "status", {"execution_state": "busy"}),
        reply(ask, "kernel_info_reply", {"status": "ok", "implementation": "ipython"}, channel="shell"),
        reply(ask, "status", {"execution_state": "idle"}),
    ]


def a_check_cell(ask: dict[str, Any]) -> list[dict[str, Any]]:
    other = {"header": {"msg_id": "someone-else", "msg_type": "execute_request"}}
    return [
        reply(ask, "status", {"execution_state": "busy"}),
        reply(ask, "execute_input", {"code": ask["content"]["code"], "execution_count": 1}),
        reply(other, "stream", {"name": "stdout", "text": "not ours\n"}),  # another request's output
        reply(ask, "stream", {"name": "stdout", "text": "applied into namespace "}),
        reply(ask, "stream", {"name": "stdout", "text": "servicelab-student-ada\n"}),
        reply(ask, "stream", {"name": "stderr", "text": "a warning\n"}),
        reply(ask, "display_data", {"data": {"text/html": "<div>PASS</div>", "text/plain": "PASS"}, "metadata": {}}),
        reply(ask, "execute_result", {"data": {"text/plain": "1.0"}, "execution_count": 1, "metadata": {}}),
        reply(ask, "execute_reply", {"status": "ok", "execution_count": 1}, channel="shell"),
        reply(ask, "status", {"execution_state": "idle"}),
        reply(other, "status", {"execution_state": "idle"}),  # after ours: never read
    ]


def test_a_cell_is_run_and_its_outputs_collected_until_idle() -> None:
    ws = FakeChannels({"kernel_info_request": kernel_info, "execute_request": a_check_cell})
    assert _jupyter.wait_kernel(ws, session=SESSION) == {"status": "ok", "implementation": "ipython"}
    ran = _jupyter.execute(ws, 'check("nodeport")', session=SESSION, timeout_s=30)
    assert ran == _jupyter.Ran(
        stdout="applied into namespace servicelab-student-ada\n",
        stderr="a warning\n",
        outputs=[{"text/html": "<div>PASS</div>", "text/plain": "PASS"}, {"text/plain": "1.0"}],
        error=None,
        reply="ok",
    )
    execute = ws.sent[-1]
    assert (execute["channel"], execute["header"]["msg_type"], execute["header"]["session"]) == (
        "shell",
        "execute_request",
        SESSION,
    )
    assert execute["content"]["code"] == 'check("nodeport")'
    assert len(ws.queue) == 1  # the other request's idle, left unread
    assert all(t is not None and 0 < t <= 30 for t in ws.timeouts[-3:])  # every recv bounded by the deadline


def test_an_error_is_kept_with_its_traceback() -> None:
    def raises(ask: dict[str, Any]) -> list[dict[str, Any]]:
        error = {"ename": "NotGraded", "evalue": "ENV-ERROR: no service", "traceback": ["NotGraded: no service"]}
        return [
            reply(ask, "error", error),
            reply(ask, "execute_reply", {"status": "error", **error}, channel="shell"),
            reply(ask, "status", {"execution_state": "idle"}),
        ]

    ran = _jupyter.execute(FakeChannels({"execute_request": raises}), "check('nodeport')", session=SESSION)
    assert ran.error == _jupyter.KernelError("NotGraded", "ENV-ERROR: no service", ["NotGraded: no service"])
    assert (ran.reply, ran.stdout, ran.outputs) == ("error", "", [])


def test_a_kernel_that_never_goes_idle_fails_with_what_it_waited_for() -> None:
    def hangs(ask: dict[str, Any]) -> list[dict[str, Any]]:
        return [reply(ask, "status", {"execution_state": "busy"})]

    with pytest.raises(_jupyter.JupyterError, match="waiting for the code's idle status: TimeoutError"):
        _jupyter.execute(FakeChannels({"execute_request": hangs}), "while True: pass", session=SESSION)


def test_a_starting_kernel_is_asked_again() -> None:
    asks: list[int] = []

    def second_time(ask: dict[str, Any]) -> list[dict[str, Any]]:
        asks.append(1)
        return kernel_info(ask) if len(asks) > 1 else []  # the first ask is lost while the kernel starts

    ws = FakeChannels({"kernel_info_request": second_time})
    assert _jupyter.wait_kernel(ws, session=SESSION, timeout_s=5, ask_every_s=0.01)["status"] == "ok"
    assert len(asks) == 2


def test_a_kernel_that_never_answers_fails_at_the_deadline() -> None:
    with pytest.raises(_jupyter.JupyterError, match="kernel_info_reply"):
        _jupyter.wait_kernel(FakeChannels({}), session=SESSION, timeout_s=0.05, ask_every_s=0.01)


# --- the hub ---------------------------------------------------------------------------------------------------
@dataclass
class FakeHub:
    """requests.Session.request, answered from the hub's state: the server is ready at the third read."""

    calls: list[tuple[str, str, Any]] = field(default_factory=list)
    reads_until_ready: int = 3
    post_status: int = 202

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        self.calls.append((method, url, kwargs.get("json")))
        answer = requests.Response()
        answer.status_code, body = self.answer(method, url.split("/hub/api", 1)[1])
        answer._content = json.dumps(body).encode()
        return answer

    def answer(self, method: str, path: str) -> tuple[int, Any]:
        if (method, path) == ("GET", "/users/ada"):
            self.reads_until_ready -= 1
            started = any(c[0] == "POST" and c[1].endswith("/server") for c in self.calls)
            ready = started and self.reads_until_ready <= 0
            server = {"name": "", "ready": ready, "pending": None if ready else "spawn", "url": "/user/ada/"}
            return 200, {"name": "ada", "servers": {"": server} if started else {}}
        if (method, path) == ("POST", "/users/ada/server"):
            return self.post_status, {}
        if (method, path) == ("POST", "/users/ada/tokens"):
            return 201, {"token": "ada-token", "id": "a1"}
        return 404, {"status": 404, "message": "Not Found"}


def test_the_students_server_is_started_and_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeHub()
    hub = _jupyter.Hub("http://hub.example:31880/", "service-token")
    monkeypatch.setattr(hub.session, "request", fake.request)
    server = hub.ensure_server("ada", timeout_s=30)
    assert server["url"] == "/user/ada/"
    assert [c[0] for c in fake.calls] == ["GET", "POST", "GET", "GET"]
    assert hub.user_token("ada") == "ada-token"
    assert fake.calls[-1][2]["scopes"] == ["access:servers!user=ada"]
    assert hub.session.headers["Authorization"] == "token service-token"


def test_a_refused_start_says_what_the_hub_answered(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeHub(post_status=403)
    hub = _jupyter.Hub("http://hub.example:31880", "service-token")
    monkeypatch.setattr(hub.session, "request", fake.request)
    with pytest.raises(_jupyter.JupyterError, match=r"POST the hub to start ada's server: HTTP 403"):
        hub.ensure_server("ada", timeout_s=30)


def test_the_channels_url_goes_through_the_proxy() -> None:
    server = _jupyter.Server("https://hub.example/user/ada/", "t")
    assert server.channels_url("k1", "s1") == "wss://hub.example/user/ada/api/kernels/k1/channels?session_id=s1"
