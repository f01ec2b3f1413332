"""Run Python in a classroom student's Jupyter kernel, as the hub's API allows a service to (the class e2e and
benchmark drive students this way).

    ran = run_as_student("http://172.18.0.2:31880/", hub_token, "ada", 'check("nodeport")')
    ran.stdout, ran.outputs, ran.error

The steps, each waited for with a deadline (no blind sleep):
1. the student's server runs: unless the user model says it is ready, POST /hub/api/users/<name>/server (201
   started, 202 starting), then GET /hub/api/users/<name> until its default server is `ready`;
2. a token of the student's for their server: POST /hub/api/users/<name>/tokens as the service (the service's role
   needs the `tokens` scope on the students; admin:users does not include it), scoped to access their server;
3. a kernel: POST /user/<name>/api/kernels through the proxy, with that token;
4. the code runs over the kernel's websocket (/user/<name>/api/kernels/<id>/channels, the Jupyter messaging
   protocol's JSON form): kernel_info_request until the kernel answers, then execute_request on the shell channel;
   iopub's stream, display_data, execute_result and error messages for it are collected until its status is idle;
5. the kernel is deleted (DELETE /user/<name>/api/kernels/<id>), whatever happened.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import requests

from grader.base.wait import wait_for

SERVER_S = 300.0  # a student's server: the pod scheduled, its image there, JupyterLab up
KERNEL_S = 60.0  # a kernel answers its first kernel_info_request
RUN_S = 900.0  # the code: a check() may wait on the grading service's queue
HTTP_S = 30.0
PROTOCOL = "5.3"
TOKEN_S = 3600  # the student's token lives an hour: longer than any one run


class JupyterError(AssertionError):
    """The hub, the proxy or a kernel did not do what a step needs; says which step and what it answered."""


@dataclass(frozen=True)
class KernelError:
    ename: str
    evalue: str
    traceback: list[str]


@dataclass
class Ran:
    """What one execute_request produced: stdout and stderr text, the rich outputs (each a mime bundle, from
    display_data and execute_result, in order), and the error the code raised, if it did."""

    stdout: str = ""
    stderr: str = ""
    outputs: list[dict[str, Any]] = field(default_factory=list)
    error: KernelError | None = None
    reply: str = ""  # the shell's execute_reply status: ok, error, aborted ('' if it came after idle)


class Channels(Protocol):
    """The websocket of a kernel's channels (websocket-client's WebSocket, or a fake)."""

    def send(self, payload: str) -> Any: ...

    def recv(self) -> Any: ...

    def settimeout(self, timeout: float | None) -> None: ...

    def close(self) -> None: ...


def _fail(step: str, answer: requests.Response) -> JupyterError:
    return JupyterError(f"{step}: HTTP {answer.status_code} {answer.text[:300]}")


@dataclass
class Hub:
    """The hub's REST API as a service (its token holds admin:users, admin:servers and tokens)."""

    url: str  # the proxy's public URL, e.g. http://172.18.0.2:31880/
    token: str
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        self.session.headers["Authorization"] = f"token {self.token}"

    def _api(self, path: str) -> str:
        return f"{self.url}/hub/api{path}"

    def user(self, name: str) -> dict[str, Any]:
        answer = self.session.get(self._api(f"/users/{quote(name)}"), timeout=HTTP_S)
        if answer.status_code != 200:
            raise _fail(f"GET the hub's user {name}", answer)
        model: dict[str, Any] = answer.json()
        return model

    def server_state(self, name: str) -> tuple[dict[str, Any] | None, str]:
        """(the default server's model once it is ready, else None; what the hub says of it)."""
        server = (self.user(name).get("servers") or {}).get("")
        if not server:
            return None, f"{name} has no server"
        if server.get("ready"):
            return server, f"{name}'s server is ready at {server.get('url')}"
        return None, f"{name}'s server is pending {server.get('pending')!r}"

    def ensure_server(self, name: str, timeout_s: float = SERVER_S) -> dict[str, Any]:
        """Start the student's default server unless it runs; its model once the hub reports it ready."""
        ready, _ = self.server_state(name)
        if ready is not None:
            return ready
        answer = self.session.post(self._api(f"/users/{quote(name)}/server"), timeout=HTTP_S)
        if answer.status_code == 400 and (running := self.server_state(name)[0]) is not None:
            return running  # the hub's 400 for a server that came up meanwhile (told by the user model, not words)
        if answer.status_code not in (201, 202):
            raise _fail(f"POST the hub to start {name}'s server", answer)
        started: dict[str, Any] = wait_for(
            lambda: self.server_state(name), what=f"{name}'s server ready", timeout_s=timeout_s, interval_s=1.0,
            max_interval_s=5.0,
        )  # fmt: skip
        return started

    def user_token(self, name: str) -> str:
        """A token of the student's for their own server, made by the service."""
        body = {
            "note": "servicelab e2e: the kernel API",
            "expires_in": TOKEN_S,
            "scopes": [f"access:servers!user={name}"],
        }
        answer = self.session.post(self._api(f"/users/{quote(name)}/tokens"), json=body, timeout=HTTP_S)
        if answer.status_code != 201:
            raise _fail(f"POST the hub for a token of {name}'s", answer)
        token: str = answer.json()["token"]
        return token


def message(msg_type: str, content: dict[str, Any], *, session: str, channel: str = "shell") -> dict[str, Any]:
    """A Jupyter message in the websocket's JSON form (the channel named in it)."""
    return {
        "header": {
            "msg_id": uuid.uuid4().hex,
            "msg_type": msg_type,
            "session": session,
            "username": "servicelab-e2e",
            "date": datetime.now(UTC).isoformat(),
            "version": PROTOCOL,
        },
        "parent_header": {},
        "metadata": {},
        "content": content,
        "channel": channel,
        "buffers": [],
    }


def _replies(ws: Channels, parent: str, deadline: float, waiting_for: str) -> Iterator[dict[str, Any]]:
    """The messages answering parent, until the deadline (each recv waits at most until then)."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise JupyterError(f"no {waiting_for} before the deadline")
        ws.settimeout(left)
        try:
            raw = ws.recv()
        except Exception as err:  # websocket-client's timeout and closed-connection errors, a fake's
            raise JupyterError(f"waiting for {waiting_for}: {type(err).__name__}: {err}") from err
        msg = json.loads(raw)
        if (msg.get("parent_header") or {}).get("msg_id") == parent:
            yield msg


def _kind(msg: dict[str, Any]) -> str:
    return str((msg.get("header") or {}).get("msg_type") or msg.get("msg_type") or "")


def wait_kernel(ws: Channels, *, session: str, timeout_s: float = KERNEL_S, ask_every_s: float = 5.0) -> dict[str, Any]:
    """Ask kernel_info until the kernel answers (a kernel that starts may drop the first asks); its reply's content."""
    deadline = time.monotonic() + timeout_s
    while True:
        ask = message("kernel_info_request", {}, session=session)
        ws.send(json.dumps(ask))
        ask_deadline = min(deadline, time.monotonic() + ask_every_s)  # asked again after that long a silence
        try:
            for msg in _replies(ws, ask["header"]["msg_id"], ask_deadline, "kernel_info_reply"):
                if _kind(msg) == "kernel_info_reply":
                    content: dict[str, Any] = msg.get("content") or {}
                    return content
        except JupyterError:
            if time.monotonic() >= deadline:
                raise


def execute(ws: Channels, code: str, *, session: str, timeout_s: float = RUN_S) -> Ran:
    """Run code in the kernel behind ws; what it printed, displayed and raised, once its status is idle."""
    ask = message(
        "execute_request",
        {"code": code, "silent": False, "store_history": False, "user_expressions": {}, "allow_stdin": False,
         "stop_on_error": True},
        session=session,
    )  # fmt: skip
    ws.send(json.dumps(ask))
    ran = Ran()
    stdout: list[str] = []
    stderr: list[str] = []
    for msg in _replies(ws, ask["header"]["msg_id"], time.monotonic() + timeout_s, "the code's idle status"):
        kind, content = _kind(msg), msg.get("content") or {}
        if msg.get("channel") == "shell" and kind == "execute_reply":
            ran.reply = str(content.get("status", ""))
        elif kind == "stream":
            (stdout if content.get("name") == "stdout" else stderr).append(str(content.get("text", "")))
        elif kind in ("display_data", "execute_result"):
            ran.outputs.append(dict(content.get("data") or {}))
        elif kind == "error":
            ran.error = KernelError(
                str(content.get("ename", "")), str(content.get("evalue", "")), list(content.get("traceback") or [])
            )
        elif kind == "status" and content.get("execution_state") == "idle":
            break
    ran.stdout, ran.stderr = "".join(stdout), "".join(stderr)
    return ran


@dataclass
class Server:
    """A student's Jupyter server through the proxy, with a token of theirs."""

    base: str  # e.g. http://172.18.0.2:31880/user/ada
    token: str
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.base = self.base.rstrip("/")
        self.session.headers["Authorization"] = f"token {self.token}"

    @contextmanager
    def kernel(self, name: str = "python3") -> Iterator[str]:
        """A new kernel's id; deleted afterwards, whatever happened."""
        answer = self.session.post(f"{self.base}/api/kernels", json={"name": name}, timeout=HTTP_S)
        if answer.status_code != 201:
            raise _fail("POST a kernel", answer)
        kernel: str = answer.json()["id"]
        try:
            yield kernel
        finally:
            gone = self.session.delete(f"{self.base}/api/kernels/{kernel}", timeout=HTTP_S)
            if gone.status_code not in (204, 404):
                raise _fail(f"DELETE kernel {kernel}", gone)

    def channels_url(self, kernel: str, session: str) -> str:
        parts = urlsplit(self.base)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return f"{scheme}://{parts.netloc}{parts.path}/api/kernels/{kernel}/channels?session_id={session}"

    def run(self, code: str, *, timeout_s: float = RUN_S) -> Ran:
        """Run code in a new kernel, then delete it."""
        return self.run_cells([code], timeout_s=timeout_s)[0]

    def run_cells(self, cells: list[str], *, timeout_s: float = RUN_S) -> list[Ran]:
        """Run each cell in turn in one new kernel, as a notebook's cells run, up to the first that raises; then
        delete the kernel."""
        from websocket import create_connection  # noqa: PLC0415 - websocket-client, a dependency of servicelab

        session = uuid.uuid4().hex
        ran: list[Ran] = []
        with self.kernel() as kernel:
            ws = create_connection(
                self.channels_url(kernel, session), header=[f"Authorization: token {self.token}"], timeout=HTTP_S
            )
            try:
                wait_kernel(ws, session=session)
                for cell in cells:
                    ran.append(execute(ws, cell, session=session, timeout_s=timeout_s))
                    if ran[-1].error is not None:
                        break
                return ran
            finally:
                ws.close()


def student_server(hub_url: str, hub_token: str, user: str) -> Server:
    """The student's server, started if it was not, with a token of theirs."""
    hub = Hub(hub_url, hub_token)
    server = hub.ensure_server(user)
    base = hub.url + str(server.get("url") or f"/user/{quote(user)}/")
    return Server(base, hub.user_token(user))


def run_as_student(hub_url: str, hub_token: str, user: str, code: str, *, timeout_s: float = RUN_S) -> Ran:
    """Make sure the student's server runs, then run code in a new kernel of theirs (deleted afterwards)."""
    return student_server(hub_url, hub_token, user).run(code, timeout_s=timeout_s)
