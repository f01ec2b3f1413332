"""The class page behind the hub's login: a browser sent to the hub's OAuth, the code traded with a fake hub over
real HTTP, a signed session; a hub admin sees the pages, anyone else 403 (logged, kept); forged states and
tampered cookies refused; the Bearer tokens work as before, at / and under /services/grading/."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from _hub_fakes import CLIENT_SECRET, Browser, FakeHub, Page, running
from _service_fakes import FakeGrading, FakeReviewer, call, report

from grader.classroom import grading, hubservice
from grader.classroom import manifests as m
from grader.classroom.service import huboauth
from grader.classroom.service.app import GradingService
from grader.classroom.service.auth import Authenticator, instructor_token
from grader.classroom.service.gradebook import Gradebook

TEACHER = "teacher-secret"
STUDENT_TOKEN = "t-ann"
SECRET = b"0123456789abcdef0123456789abcdef"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with running(FakeHub(users={"teacher": True, "ann": False})) as fake:
        yield fake


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(tmp_path: Path, hub: FakeHub, clock: Clock) -> Iterator[GradingService]:
    settings = huboauth.HubSettings(hub.url, "", CLIENT_SECRET, SECRET)
    app = GradingService(
        Gradebook(tmp_path / "gradebook.sqlite"),
        Authenticator(
            FakeReviewer({STUDENT_TOKEN: "system:serviceaccount:servicelab-student-ann:default"}),
            instructor_token(TEACHER),
        ),
        FakeGrading(lambda ns, lab: report(lab, ns, {"exists": "pass", "reach": "pass"})),
        known_lab={"clusterip"}.__contains__,
        assignment_of={"clusterip": "01-clusterip"}.__getitem__,
        browser=huboauth.HubLogin(settings, clock=clock),
    )
    yield app
    app.close()


def _query(location: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(location).query).items()}


def _log_in(service: GradingService, hub: FakeHub, browser: Browser, who: str, page: str = "/class") -> Page:
    """Open the page without a session, go through the (fake) hub's authorize as `who`, come back; the callback's
    answer."""
    sent = browser.get(service, f"{huboauth.PREFIX}{page}")
    assert sent.status == 302, sent.text
    state = _query(sent.header("Location"))["state"]
    return browser.get(service, f"{huboauth.PREFIX}/oauth_callback?code={hub.authorize(who)}&state={state}")


def test_a_browser_without_a_session_is_sent_to_the_hubs_authorize_with_its_state_in_a_cookie(
    service: GradingService, hub: FakeHub
) -> None:
    sent = Browser().get(service, "/services/grading/class")
    assert sent.status == 302
    location = sent.header("Location")
    assert urlsplit(location).path == "/hub/api/oauth2/authorize"  # the same origin: the hub's, through its proxy
    asked = _query(location)
    assert asked["client_id"] == "service-grading"
    assert asked["redirect_uri"] == "/services/grading/oauth_callback"
    assert asked["response_type"] == "code"
    assert len(asked["state"]) >= 32
    [cookie] = sent.set_cookies()
    assert cookie.startswith(f"{huboauth.STATE_COOKIE}=")
    assert "Path=/services/grading/; Max-Age=600; HttpOnly; SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP on the kind cluster
    assert hub.exchanges == []  # nothing asked of the hub yet
    again = Browser().get(service, "/services/grading/class")
    assert _query(again.header("Location"))["state"] != asked["state"]  # a fresh state each time


def test_the_public_url_when_set_is_where_the_browser_goes_and_https_makes_the_cookie_secure(hub: FakeHub) -> None:
    login = huboauth.HubLogin(huboauth.HubSettings(hub.url, "https://class.example.org", CLIENT_SECRET, SECRET))
    sent = login.login({"HTTP_X_FORWARDED_PROTO": "https"}, "/services/grading/export.csv")
    headers = dict(sent.headers)
    assert headers["Location"].startswith("https://class.example.org/hub/api/oauth2/authorize?")
    assert _query(headers["Location"])["redirect_uri"] == "/services/grading/oauth_callback"  # the hub's own origin
    assert headers["Set-Cookie"].endswith("; Secure")


def test_an_admin_logs_in_through_the_hub_and_sees_the_class_page_and_the_exports(
    service: GradingService, hub: FakeHub
) -> None:
    graded = call(service, "POST", "/grade", token=STUDENT_TOKEN, body={"lab": "clusterip"}, query="wait=true")
    assert graded.status == 200
    browser = Browser()
    back = _log_in(service, hub, browser, "teacher", page="/export.csv?x=1")
    assert back.status == 302
    assert back.header("Location") == "/services/grading/export.csv?x=1"  # where the browser was going
    [exchange] = hub.exchanges
    assert exchange == {
        "client_id": "service-grading",
        "client_secret": CLIENT_SECRET,
        "grant_type": "authorization_code",
        "code": exchange["code"],
        "redirect_uri": "/services/grading/oauth_callback",
    }
    assert hub.asked_user[0].startswith("Bearer ")  # the person's token, not the service's
    session = next(c for c in back.set_cookies() if c.startswith(huboauth.SESSION_COOKIE))
    assert "Path=/services/grading/; Max-Age=3600; HttpOnly; SameSite=Lax" in session
    assert huboauth.STATE_COOKIE not in browser.jar  # used once, cleared

    page = browser.get(service, "/services/grading/class")
    assert page.status == 200, page.text
    assert page.header("Content-Type").startswith("text/html")
    assert "<td>ann</td>" in page.text
    assert "href='export.csv'" in page.text  # relative: under the prefix here
    grades = browser.get(service, "/services/grading/export.csv")
    assert grades.status == 200
    assert grades.text.splitlines()[1].startswith("ann,clusterip,2,2,")
    assert browser.get(service, "/services/grading/export/nbgrader").status == 200
    assert len(hub.exchanges) == 1  # the session holds: the hub is asked once
    assert browser.get(service, "/services/grading/").header("Location") == "/services/grading/class"


def test_a_hub_user_who_is_no_admin_is_403_logged_and_kept(
    service: GradingService, hub: FakeHub, caplog: pytest.LogCaptureFixture
) -> None:
    browser = Browser()
    assert _log_in(service, hub, browser, "ann").status == 302
    with caplog.at_level(logging.WARNING, "servicelab.service.audit"):
        refused = browser.get(service, "/services/grading/class")
        assert browser.get(service, "/services/grading/export/nbgrader").status == 403
    assert refused.status == 403
    assert "only the class's instructors" in json.loads(refused.body)["error"]
    messages = [r.getMessage() for r in caplog.records]
    assert "who=hub user ann what=read the class page" in messages[0]
    assert "what=export the gradebook" in messages[1]
    assert [(who, what) for _, who, what, _ in service.book.refusals()] == [
        ("hub user ann", "read the class page"),
        ("hub user ann", "export the gradebook"),
    ]


def test_a_state_that_is_not_this_browsers_is_refused_and_no_code_is_traded(
    service: GradingService, hub: FakeHub, caplog: pytest.LogCaptureFixture
) -> None:
    browser = Browser()
    browser.get(service, "/services/grading/class")  # this browser's state cookie
    code = hub.authorize("teacher")
    with caplog.at_level(logging.WARNING, "servicelab.service.audit"):
        forged = browser.get(service, f"/services/grading/oauth_callback?code={code}&state=someone-elses")
        stranger = Browser().get(service, f"/services/grading/oauth_callback?code={code}&state=x")  # no cookie
    assert (forged.status, stranger.status) == (403, 403)
    assert "OAuth state" in json.loads(forged.body)["error"]
    assert hub.exchanges == []
    assert huboauth.SESSION_COOKIE not in browser.jar
    assert len(caplog.records) == 2
    assert all("what=finish a hub login" in r.getMessage() for r in caplog.records)
    assert len(service.book.refusals()) == 2


def test_a_tampered_or_borrowed_cookie_is_no_session(service: GradingService, hub: FakeHub) -> None:
    browser = Browser()
    _log_in(service, hub, browser, "ann")
    payload, _, mac = browser.jar[huboauth.SESSION_COOKIE].partition(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert data["name"] == "ann"
    assert data["admin"] is False
    raised = base64.urlsafe_b64encode(json.dumps({**data, "admin": True}).encode()).rstrip(b"=").decode()
    for forged in (f"{raised}.{mac}", f"{payload}.{mac[:-2]}xx", "", "no-dot", f"{payload}."):
        page = Browser({huboauth.SESSION_COOKIE: forged}).get(service, "/services/grading/class")
        assert page.status == 302, forged  # back to the hub's login: not a session
        assert urlsplit(page.header("Location")).path == "/hub/api/oauth2/authorize"
    state = Browser()
    state.get(service, "/services/grading/class")  # a signed value of another kind: the state
    page = Browser({huboauth.SESSION_COOKIE: state.jar[huboauth.STATE_COOKIE]}).get(service, "/services/grading/class")
    assert page.status == 302
    other_key = huboauth.Signer(b"another-secret-of-32-bytes......").sign("session", {"name": "x", "admin": True}, 60)
    assert Browser({huboauth.SESSION_COOKIE: other_key}).get(service, "/services/grading/class").status == 302


def test_a_session_ends_after_an_hour_and_the_hub_is_asked_again(
    service: GradingService, hub: FakeHub, clock: Clock
) -> None:
    browser = Browser()
    _log_in(service, hub, browser, "teacher")
    assert browser.get(service, "/services/grading/class").status == 200
    clock.now += huboauth.SESSION_S + 1
    assert browser.get(service, "/services/grading/class").status == 302


def test_the_hub_refusing_the_code_is_401_and_an_unreachable_hub_503(service: GradingService, hub: FakeHub) -> None:
    browser = Browser()
    sent = browser.get(service, "/services/grading/class")
    state = _query(sent.header("Location"))["state"]
    refused = browser.get(service, f"/services/grading/oauth_callback?code=never-issued&state={state}")
    assert refused.status == 401
    assert "refused the login code (HTTP 400)" in json.loads(refused.body)["error"]
    declined = browser.get(service, "/services/grading/oauth_callback?error=access_denied")
    assert declined.status == 401
    gone = huboauth.HubLogin(huboauth.HubSettings("http://127.0.0.1:9/hub/api", "", CLIENT_SECRET, SECRET))
    service.browser = gone
    state = _query(browser.get(service, "/services/grading/class").header("Location"))["state"]
    down = browser.get(service, f"/services/grading/oauth_callback?code=c&state={state}")
    assert down.status == 503
    assert down.header("Retry-After") == "5"


def test_bearer_tokens_work_as_before_at_both_prefixes(service: GradingService, hub: FakeHub) -> None:
    for prefix in ("", "/services/grading"):
        graded = call(
            service, "POST", f"{prefix}/grade", token=STUDENT_TOKEN, body={"lab": "clusterip"}, query="wait=true"
        )
        assert graded.status == 200, graded.text
        assert call(service, "GET", f"{prefix}/class", token=TEACHER).status == 200
        assert call(service, "GET", f"{prefix}/export.csv", token=TEACHER).status == 200
        assert call(service, "GET", f"{prefix}/class", token=STUDENT_TOKEN).status == 403
        assert call(service, "GET", f"{prefix}/results", token=STUDENT_TOKEN).status == 200
        assert call(service, "GET", f"{prefix}/healthz").status == 200
    assert call(service, "GET", "/class", token="wrong").status == 401  # a token given is a token judged
    assert hub.exchanges == []
    # a browser reaching the container directly (no prefix) is sent to the hub's login too
    assert Browser().get(service, "/class").status == 302


def test_without_the_hub_configured_the_pages_take_tokens_only(tmp_path: Path) -> None:
    app = GradingService(
        Gradebook(tmp_path / "gradebook.sqlite"),
        Authenticator(FakeReviewer({}), instructor_token(TEACHER)),
        FakeGrading(),
        known_lab=lambda lab: True,
    )
    try:
        assert Browser().get(app, "/services/grading/class").status == 401
        assert Browser().get(app, "/services/grading/oauth_callback?code=c&state=s").status == 404
        assert call(app, "GET", "/services/grading/class", token=TEACHER).status == 200
    finally:
        app.close()


def test_after_the_login_only_a_page_of_the_service_is_a_target() -> None:
    assert huboauth.local_target("/services/grading/class?x=1") == "/services/grading/class?x=1"
    for elsewhere in ("//evil.example/x", "https://evil.example/", "/hub/admin", "/services/grading", "/\\evil"):
        assert huboauth.local_target(elsewhere) == "/services/grading/class", elsewhere


def test_settings_come_from_the_environment() -> None:
    assert huboauth.settings_from_env({}) is None
    assert huboauth.settings_from_env({"SERVICELAB_HUB_API_URL": "http://n:31880/hub/api"}) is None
    made = huboauth.settings_from_env(
        {"SERVICELAB_HUB_API_URL": "http://n:31880/hub/api/", "JUPYTERHUB_API_TOKEN": "tok"}
    )
    assert made is not None
    assert (made.api_url, made.public_url, made.api_token, len(made.secret)) == (
        "http://n:31880/hub/api",
        "",
        "tok",
        32,
    )
    assert "tok" not in repr(made.secret)
    with pytest.raises(ValueError, match="at least 16"):
        huboauth.settings_from_env(
            {
                "SERVICELAB_HUB_API_URL": "http://n/hub/api",
                "JUPYTERHUB_API_TOKEN": "t",
                "SERVICELAB_SESSION_SECRET": "x",
            }
        )


def test_the_hubs_side_the_service_entry_roles_walls_and_the_containers_settings() -> None:
    entry = hubservice.service_entry(m.GRADING_URL)
    assert entry == {
        "name": "grading",
        "url": "http://grading.servicelab-classroom.svc.cluster.local",
        "oauth_no_confirm": True,
        "oauth_client_allowed_scopes": [],
        "display": False,
        "timeout": 10,
    }
    assert "api_token" not in entry  # from the hub's environment, never in the ConfigMap
    [role] = hubservice.load_roles()  # the hub's default role for every user, so the hub's config lists no names
    assert role["name"] == "user"
    assert role["scopes"] == ["self", "access:services!service=grading"]
    assert "users" not in role
    policy = grading.hub_egress(m.hosts(("172.18.0.9",)))
    assert policy["metadata"]["name"].startswith(m.PREFIX)
    assert policy["metadata"]["namespace"] == m.HUB_NAMESPACE
    assert policy["metadata"]["labels"][m.CLASSROOM_KEY] == m.HUB_NAMESPACE
    assert policy["spec"] == {
        "podSelector": {"matchLabels": m.HUB_POD_LABELS},
        "policyTypes": ["Egress"],
        "egress": [{"to": [{"ipBlock": {"cidr": "172.18.0.9/32"}}], "ports": [{"protocol": "TCP", "port": 8080}]}],
    }
    settings = hubservice.container_settings("http://172.18.0.3:31880/", "tok", "s" * 32)
    assert settings == {
        "SERVICELAB_HUB_API_URL": "http://172.18.0.3:31880/hub/api",
        "JUPYTERHUB_API_TOKEN": "tok",
        "SERVICELAB_SESSION_SECRET": "s" * 32,
    }
    assert huboauth.settings_from_env(settings) is not None
