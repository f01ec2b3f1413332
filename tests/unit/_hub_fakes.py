"""A fake JupyterHub over real HTTP (a server in a thread): for the grading service's browser login
(grader.classroom.service.huboauth) its OAuth token endpoint and /hub/api/user, and a browser that keeps cookies
across WSGI calls; for `classroom up` (grader.classroom.hubusers) its users' API as an admin:users service sees
it."""

from __future__ import annotations

import io
import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

CLIENT_ID = "service-grading"
CLIENT_SECRET = "grading-api-token"  # the service's API token in the hub
REDIRECT_URI = "/services/grading/oauth_callback"


@dataclass
class FakeHub:
    """users: name -> admin. A code is issued by authorize(name) (what the hub's authorize page does after its
    login); the token endpoint trades it once, as JupyterHub does, checking the client and the redirect URI."""

    users: dict[str, bool] = field(default_factory=dict)
    codes: dict[str, str] = field(default_factory=dict)  # code -> user
    tokens: dict[str, str] = field(default_factory=dict)  # access token -> user
    exchanges: list[dict[str, str]] = field(default_factory=list)  # each token request's form
    asked_user: list[str] = field(default_factory=list)  # each /user request's Authorization header
    url: str = ""
    service_token: str = "service-token"  # a service whose role has admin:users
    posted: list[dict[str, Any]] = field(default_factory=list)  # each POST /users body

    def user_model(self, authorization: str, name: str) -> tuple[int, dict[str, Any]]:
        if authorization != f"token {self.service_token}":
            return 403, {"status": 403, "message": "Missing or invalid credentials."}
        if name not in self.users:
            return 404, {"status": 404, "message": "Not Found"}
        return 200, {"kind": "user", "name": name, "admin": self.users[name]}

    def create_users(self, authorization: str, body: dict[str, Any]) -> tuple[int, Any]:
        """As JupyterHub's POST /users: makes the names it lacks, 409 when it has them all."""
        if authorization != f"token {self.service_token}":
            return 403, {"status": 403, "message": "Missing or invalid credentials."}
        self.posted.append(body)
        new = [name for name in body["usernames"] if name not in self.users]
        if not new:
            return 409, {"status": 409, "message": "All 1 users already exist"}
        for name in new:
            self.users[name] = bool(body.get("admin"))
        return 201, [{"kind": "user", "name": name, "admin": self.users[name]} for name in new]

    def authorize(self, name: str) -> str:
        code = secrets.token_hex(8)
        self.codes[code] = name
        return code

    def token_request(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        self.exchanges.append(form)
        client_ok = form.get("client_id") == CLIENT_ID and form.get("client_secret") == CLIENT_SECRET
        if not client_ok:
            return 401, {"error": "invalid_client"}
        if form.get("grant_type") != "authorization_code" or form.get("redirect_uri") != REDIRECT_URI:
            return 400, {"error": "invalid_request"}
        name = self.codes.pop(form.get("code", ""), None)
        if name is None:
            return 400, {"error": "invalid_grant"}
        token = secrets.token_hex(16)
        self.tokens[token] = name
        return 200, {"access_token": token, "token_type": "Bearer"}

    def user_request(self, authorization: str) -> tuple[int, dict[str, Any]]:
        self.asked_user.append(authorization)
        scheme, _, token = authorization.partition(" ")
        name = self.tokens.get(token) if scheme.lower() in ("bearer", "token") else None
        if name is None:
            return 403, {"status": 403, "message": "Missing or invalid credentials."}
        return 200, {"kind": "user", "name": name, "admin": self.users[name], "groups": [], "scopes": []}


@contextmanager
def running(hub: FakeHub) -> Iterator[FakeHub]:
    """The fake hub's API on a free local port: hub.url is http://127.0.0.1:<port>/hub/api."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: Any) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw_body = self.rfile.read(length).decode()
            form = {k: v[-1] for k, v in parse_qs(raw_body).items()}
            if urlsplit(self.path).path == "/hub/api/oauth2/token":
                self._answer(*hub.token_request(form))
            elif urlsplit(self.path).path == "/hub/api/users":
                body = json.loads(raw_body)
                self._answer(*hub.create_users(self.headers.get("Authorization", ""), body))
            else:
                self._answer(404, {"message": "Not Found"})

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path == "/hub/api/user":
                self._answer(*hub.user_request(self.headers.get("Authorization", "")))
            elif path.startswith("/hub/api/users/"):
                self._answer(*hub.user_model(self.headers.get("Authorization", ""), path.rsplit("/", 1)[1]))
            else:
                self._answer(404, {"message": "Not Found"})

        def log_message(self, format: str, *args: Any) -> None:  # the base class's parameter name
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hub.url = f"http://127.0.0.1:{server.server_address[1]}/hub/api"
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class Page:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str:
        return next((v for k, v in self.headers if k.lower() == name.lower()), "")

    def set_cookies(self) -> list[str]:
        return [v for k, v in self.headers if k.lower() == "set-cookie"]

    @property
    def text(self) -> str:
        return self.body.decode()


@dataclass
class Browser:
    """Calls a WSGI application as a browser would: keeps the cookies it is given (one path: the service's)."""

    jar: dict[str, str] = field(default_factory=dict)

    def get(self, app: Any, target: str, *, authorization: str | None = None) -> Page:
        path, _, query = target.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_LENGTH": "0",
            "REMOTE_ADDR": "10.0.0.7",
            "wsgi.input": io.BytesIO(b""),
        }
        if self.jar:
            environ["HTTP_COOKIE"] = "; ".join(f"{k}={v}" for k, v in self.jar.items())
        if authorization is not None:
            environ["HTTP_AUTHORIZATION"] = authorization
        said: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]]) -> None:
            said["status"], said["headers"] = int(status.split(maxsplit=1)[0]), headers

        body = b"".join(app(environ, start_response))
        page = Page(said["status"], said["headers"], body)
        for cookie in page.set_cookies():
            name, _, rest = cookie.partition("=")
            value = rest.split(";", 1)[0]
            if "Max-Age=0" in cookie:
                self.jar.pop(name, None)
            else:
                self.jar[name] = value
        return page
