"""The busybox probe script and its parsers (run for real with this machine's busybox where present)."""

from __future__ import annotations

import http.server
import shutil
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from _grader_fakes import LocalBusyboxVantage

from grader.probes.shell import (
    Failure,
    Op,
    Outcome,
    build_script,
    failure_of,
    failure_reason,
    http_status,
    parse_nslookup,
    parse_output,
)

NSLOOKUP_A = """Server:\t\t10.96.0.10
Address:\t10.96.0.10:53

Name:\tweb.lab.svc.cluster.local
Address: 10.96.44.7
"""
NSLOOKUP_CNAME = """Server:\t\t10.96.0.10
Address:\t10.96.0.10:53

partner.lab.svc.cluster.local\tcanonical name = api.partner.example
"""
NSLOOKUP_NX = """Server:\t\t10.96.0.10
Address:\t10.96.0.10:53

** server can't find nope.lab.svc.cluster.local: NXDOMAIN
"""


def test_nslookup_a_skips_the_server_address() -> None:
    assert parse_nslookup(NSLOOKUP_A) == (["10.96.44.7"], [], "")


def test_nslookup_cname_and_nxdomain() -> None:
    assert parse_nslookup(NSLOOKUP_CNAME) == ([], ["api.partner.example"], "")
    assert parse_nslookup(NSLOOKUP_NX)[2] == "NXDOMAIN"


def test_http_status_takes_the_last_response_line() -> None:
    out = Outcome(0, "Connecting to a\n  HTTP/1.1 301 Moved\nConnecting to b\n  HTTP/1.1 200 OK", "")
    assert http_status(out) == 200
    assert http_status(Outcome(1, "wget: server returned error: HTTP/1.1 404 Not Found", "")) == 404


@pytest.mark.parametrize(
    ("err", "rc", "failure", "reason"),
    [
        ("wget: can't connect to remote host (1.2.3.4): Connection refused", 1, Failure.REFUSED, "connection refused"),
        ("", 143, Failure.TIMEOUT, "timed out after 3s"),
        ("wget: download timed out", 1, Failure.TIMEOUT, "timed out after 3s"),
        ("wget: bad address 'x.example'", 1, Failure.NO_NAME, "name does not resolve"),
        ("nc: can't connect to remote host (1.2.3.4): No route to host", 1, Failure.NO_ROUTE, "no route to host"),
        ("wget: error getting response: Connection reset by peer", 1, Failure.RESET, "connection reset"),
        (
            "wget: server returned error: HTTP/1.1 503 Service Unavailable",
            1,
            Failure.OTHER,
            "server returned error: HTTP/1.1 503 Service Unavailable",
        ),
    ],
)
def test_failure_reasons(err: str, rc: int, failure: Failure, reason: str) -> None:
    assert failure_of(Outcome(rc, err, "")) is failure  # what the probe loop decides by (grader.probes.streaks)
    assert failure_reason(Outcome(rc, err, ""), 3.0) == reason  # what the learner reads


def test_script_quotes_every_argument_and_ends_with_marker() -> None:
    script = build_script([Op("http", "http://x/'; rm -rf /", host_header="a b")], 3, "n0nce")
    assert "'http://x/'\"'\"'; rm -rf /'" in script
    assert "'Host: a b'" in script
    assert script.rstrip().endswith("exit 0")


def test_parse_output_without_end_marker_is_none() -> None:
    assert parse_output("@@n:0:rc\n0\n", 1, "n") is None


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"pod-a" if self.path == "/hostname" else b"nope"
        self.send_response(200 if self.path == "/hostname" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def server() -> Iterator[int]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.skipif(shutil.which("busybox") is None, reason="needs a busybox binary on PATH")
def test_real_busybox_batch(server: int) -> None:
    vantage = LocalBusyboxVantage()
    closed = _free_port()
    ok, missing, refused = vantage.http_batch(
        [f"http://127.0.0.1:{server}/hostname", f"http://127.0.0.1:{server}/other", f"http://127.0.0.1:{closed}/"],
        deadline_s=1.5,
    )
    assert (ok.status, ok.body, ok.ok) == (200, "pod-a", True)
    assert (missing.status, missing.ok) == (404, False)
    assert refused.status is None
    assert refused.error == "connection refused"
    assert len(refused.attempts) >= 1
    assert vantage.tcp_connect("127.0.0.1", server).connected
    assert not vantage.tcp_connect("127.0.0.1", closed, deadline_s=0.5).connected
    seen = vantage.collect_hostnames(f"http://127.0.0.1:{server}/hostname", expect={"pod-a"})
    assert seen.ok


@pytest.mark.skipif(shutil.which("busybox") is None, reason="needs a busybox binary on PATH")
def test_a_sub_second_try_ends_a_silent_target_and_keeps_an_answer(server: int) -> None:
    vantage = LocalBusyboxVantage()
    with socket.socket() as silent:  # listens, never answers: wget waits on it until the try ends
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        ops = [
            Op("http", f"http://127.0.0.1:{silent.getsockname()[1]}/"),
            Op("http", f"http://127.0.0.1:{server}/hostname"),
        ]
        start = time.monotonic()
        quiet, answer = vantage._run_ops(ops, 0.3, 5.0)
        took = time.monotonic() - start
    assert quiet.rc == 143
    assert failure_reason(quiet, 0.3) == "timed out after 0.3s"
    assert (answer.rc, http_status(answer), answer.body) == (0, 200, "pod-a")
    assert 0.3 <= took < 1.0  # busybox `timeout` would have taken a whole second


def test_whole_seconds_keep_busybox_timeout() -> None:
    assert "timeout 2 wget" in build_script([Op("http", "http://x/")], 2.0, "n")
    sub = build_script([Op("http", "http://x/")], 0.3, "n")
    assert "timeout" not in sub
    assert "-lt 6 ]" in sub  # 0.3 s in 0.05 s ticks
