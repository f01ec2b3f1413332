"""Browsers to the class page through the hub's login: JupyterHub as the OAuth 2 provider (authorization code).

The grading service is registered in the hub as service `grading` with a `url`, so the hub's proxy routes
/services/grading/ to it (keeping the prefix) and the hub knows it as OAuth client `service-grading`, whose secret
is the service's API token and whose one redirect URI is /services/grading/oauth_callback. A browser without our
session cookie is sent to the hub's /hub/api/oauth2/authorize; the hub logs the person in (its own login page and
cookie), and sends the browser back to the callback with a code; the service trades the code for a token at
/hub/api/oauth2/token, asks /hub/api/user who that is (an OAuth token may always read its own user's name and
`admin`), and keeps the answer in a signed session cookie. Written from the hub's documented protocol with the
standard library: JupyterHub is not installed where the service runs.

Settings (the environment, like the other SERVICELAB_* variables):
    SERVICELAB_HUB_API_URL      where the service reaches the hub's API, e.g. http://<node>:<nodePort>/hub/api
    SERVICELAB_HUB_PUBLIC_URL   the hub as the browser knows it; empty (the default): the same origin the browser
                                used to reach the service, which through the hub's proxy is the hub's
    JUPYTERHUB_API_TOKEN        the service's API token in the hub (the OAuth client's secret)
    SERVICELAB_SESSION_SECRET   signs the cookies; generated when absent (sessions then end with the process)
Without SERVICELAB_HUB_API_URL or JUPYTERHUB_API_TOKEN there is no browser login: the Bearer tokens only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode
from wsgiref.types import WSGIEnvironment

from grader.classroom.service.auth import Unauthenticated, refuse

SERVICE = "grading"  # its name in the hub's services
PREFIX = f"/services/{SERVICE}"  # where the hub's proxy routes it, prefix kept
CALLBACK = "/oauth_callback"  # below the prefix
CLIENT_ID = f"service-{SERVICE}"  # the hub's OAuth client id for a service: service-<name>
REDIRECT_URI = f"{PREFIX}{CALLBACK}"  # the hub's default for a service with a url; it compares the exact text
COOKIE_PATH = f"{PREFIX}/"
SESSION_COOKIE = "servicelab-grading-session"
STATE_COOKIE = "servicelab-grading-oauth-state"
SESSION_S = 3600  # then the hub is asked again (no prompt while the hub's own login lasts): admin rights follow
STATE_S = 600  # a login started and not finished within it starts again
HUB_TIMEOUT_S = 10.0
MIN_SECRET = 16  # bytes

log = logging.getLogger("servicelab.service.huboauth")


class HubUnreachable(Exception):
    """503: the hub's API did not answer."""


@dataclass(frozen=True)
class Visitor:
    """A person the hub logged in, as the session cookie remembers them."""

    name: str
    admin: bool


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class HubSettings:
    api_url: str  # ends without a slash: .../hub/api
    public_url: str  # "" or the hub's public address without a trailing slash
    api_token: str
    secret: bytes = field(repr=False)


def settings_from_env(env: Mapping[str, str]) -> HubSettings | None:
    """The browser login's settings, None when the hub is not configured (no API address or no token)."""
    api_url = env.get("SERVICELAB_HUB_API_URL", "").strip().rstrip("/")
    token = env.get("JUPYTERHUB_API_TOKEN", "").strip()
    if not api_url or not token:
        return None
    secret_text = env.get("SERVICELAB_SESSION_SECRET", "").strip()
    if not secret_text:
        log.info("SERVICELAB_SESSION_SECRET not set: a new one, sessions end when the service stops")
    secret = secret_text.encode() if secret_text else secrets.token_bytes(32)
    if len(secret) < MIN_SECRET:
        raise ValueError(f"SERVICELAB_SESSION_SECRET is {len(secret)} bytes: at least {MIN_SECRET} (or unset)")
    return HubSettings(api_url, env.get("SERVICELAB_HUB_PUBLIC_URL", "").strip().rstrip("/"), token, secret)


# --- signed values ----------------------------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Values a browser keeps and cannot forge: JSON, its purpose and expiry inside, with an HMAC-SHA256 of it.
    The purpose (`kind`) is signed too, so a state cookie is never taken for a session."""

    def __init__(self, secret: bytes, clock: Callable[[], float] = time.time) -> None:
        if len(secret) < MIN_SECRET:
            raise ValueError(f"the session secret is at least {MIN_SECRET} bytes")
        self._secret = secret
        self._clock = clock

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())

    def sign(self, kind: str, data: dict[str, Any], max_age_s: int) -> str:
        payload = _b64(json.dumps({**data, "kind": kind, "exp": int(self._clock()) + max_age_s}).encode())
        return f"{payload}.{self._mac(payload)}"

    def unsign(self, kind: str, value: str) -> dict[str, Any] | None:
        """The data, None when the value is not ours, not of this kind, or expired."""
        payload, _, mac = value.partition(".")
        if not payload or not hmac.compare_digest(mac.encode(), self._mac(payload).encode()):
            return None
        try:
            data = json.loads(_unb64(payload))
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("kind") != kind:
            return None
        expires = data.get("exp")
        if not isinstance(expires, int) or expires < self._clock():
            return None
        return data


# --- cookies ----------------------------------------------------------------------------------------------------
def cookies(environ: WSGIEnvironment) -> dict[str, str]:
    """The request's cookies (the first of a name wins). A plain split: http.cookies gives up on a whole header
    over one value it does not like, and other applications on the hub's origin set cookies too."""
    found: dict[str, str] = {}
    for part in str(environ.get("HTTP_COOKIE", "")).split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name and name not in found:
            found[name] = value.strip().strip('"')
    return found


def _set_cookie(environ: WSGIEnvironment, name: str, value: str, max_age_s: int) -> tuple[str, str]:
    # Secure when the browser came over HTTPS (the proxy says so): on the kind cluster the hub is plain HTTP
    https = str(environ.get("HTTP_X_FORWARDED_PROTO", environ.get("wsgi.url_scheme", ""))).lower() == "https"
    attributes = f"Path={COOKIE_PATH}; Max-Age={max_age_s}; HttpOnly; SameSite=Lax" + ("; Secure" if https else "")
    return ("Set-Cookie", f"{name}={value}; {attributes}")


def _redirect(location: str, *headers: tuple[str, str]) -> Reply:
    return Reply(302, [("Location", location), *headers], f"see {location}\n".encode())


def local_target(target: str) -> str:
    """Where to go after the login: a path under the prefix, never elsewhere (no open redirect)."""
    if not target.startswith(f"{PREFIX}/") or target.startswith("//") or "\\" in target:
        return f"{PREFIX}/class"
    return target


# --- the flow ---------------------------------------------------------------------------------------------------
class HubLogin:
    """The OAuth client side: send a browser to the hub, take it back, remember who it is."""

    def __init__(self, settings: HubSettings, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.signer = Signer(settings.secret, clock)

    def visitor(self, environ: WSGIEnvironment) -> Visitor | None:
        """Who the session cookie says the browser is; None without a valid one (none, tampered, expired)."""
        value = cookies(environ).get(SESSION_COOKIE)
        data = self.signer.unsign("session", value) if value else None
        if data is None or not isinstance(data.get("name"), str) or not data["name"]:
            return None
        return Visitor(data["name"], data.get("admin") is True)

    def login(self, environ: WSGIEnvironment, target: str) -> Reply:
        """302 to the hub's authorize endpoint; the state (and where to go afterwards) in a signed cookie."""
        state = secrets.token_urlsafe(24)
        query = urlencode(
            {"client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI, "response_type": "code", "state": state}
        )
        remembered = self.signer.sign("state", {"state": state, "next": local_target(target)}, STATE_S)
        return _redirect(
            f"{self.settings.public_url}/hub/api/oauth2/authorize?{query}",
            _set_cookie(environ, STATE_COOKIE, remembered, STATE_S),
        )

    def callback(self, environ: WSGIEnvironment) -> Reply:
        """The hub sent the browser back: check the state, trade the code, ask who it is, set the session.
        Forbidden (logged) for a state that is not this browser's; Unauthenticated when the hub says no."""
        query = {k: v[-1] for k, v in parse_qs(str(environ.get("QUERY_STRING", ""))).items()}
        if "error" in query:
            raise Unauthenticated(f"the hub did not log you in ({query['error']}): open {PREFIX}/class again")
        value = cookies(environ).get(STATE_COOKIE)
        remembered = self.signer.unsign("state", value) if value else None
        given = query.get("state", "")
        if remembered is None or not given or not hmac.compare_digest(str(remembered.get("state")), given):
            refuse(
                f"a browser at {environ.get('REMOTE_ADDR', '?')}",
                "finish a hub login",
                "its OAuth state is not the one this browser was given (a forged, stale or other browser's link)",
            )
        code = query.get("code", "")
        if not code:
            raise Unauthenticated(f"the hub sent no login code: open {PREFIX}/class again")
        token = self._token_for(code)
        who = self._user(token)
        log.info("hub user %s logged in to the grading service (admin: %s)", who.name, who.admin)
        session = self.signer.sign("session", {"name": who.name, "admin": who.admin}, SESSION_S)
        return _redirect(
            local_target(str(remembered.get("next", ""))),
            _set_cookie(environ, SESSION_COOKIE, session, SESSION_S),
            _set_cookie(environ, STATE_COOKIE, "", 0),
        )

    # --- the hub's API ------------------------------------------------------------------------------------------
    def _token_for(self, code: str) -> str:
        form = {
            "client_id": CLIENT_ID,
            "client_secret": self.settings.api_token,
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
        }
        status, answer = self._call(
            "POST",
            "/oauth2/token",
            data=urlencode(form).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        token = answer.get("access_token") if status == 200 else None
        if not isinstance(token, str) or not token:
            raise Unauthenticated(f"the hub refused the login code (HTTP {status}): open {PREFIX}/class again")
        return token

    def _user(self, token: str) -> Visitor:
        status, answer = self._call("GET", "/user", headers={"Authorization": f"Bearer {token}"})
        name = answer.get("name") if status == 200 else None
        if not isinstance(name, str) or not name or answer.get("kind", "user") != "user":
            raise Unauthenticated(f"the hub did not say who you are (HTTP {status})")
        return Visitor(name, answer.get("admin") is True)

    def _call(
        self, method: str, path: str, *, data: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """(status, the JSON object answered or {}); HubUnreachable when no answer came."""
        url = f"{self.settings.api_url}{path}"
        request = urllib.request.Request(
            url, data=data, method=method, headers={"Accept": "application/json", **(headers or {})}
        )
        try:
            with urllib.request.urlopen(request, timeout=HUB_TIMEOUT_S) as answer:
                status, raw = answer.status, answer.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        except (urllib.error.URLError, OSError) as err:
            raise HubUnreachable(f"the hub's API at {url}: {getattr(err, 'reason', err)}") from err
        try:
            parsed = json.loads(raw or b"{}")
        except ValueError:
            parsed = {}
        return status, parsed if isinstance(parsed, dict) else {}
