"""The grading service's HTTP server: a whole class calling check() at the same moment is answered, not reset."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from wsgiref.types import StartResponse, WSGIEnvironment

import requests

from grader.classroom.service.server import make, redacted

HOLD = threading.Event()


def slow(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    HOLD.wait(5)  # every request waits, as a check() waits for its grading: the connections pile up
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def test_a_burst_of_connections_is_queued_not_reset() -> None:
    server = make(slow, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        with ThreadPoolExecutor(120) as pool:
            asked = [pool.submit(requests.get, url, timeout=30) for _ in range(120)]
            threading.Timer(1.0, HOLD.set).start()
            statuses = [future.result().status_code for future in asked]
    finally:
        server.shutdown()
        server.server_close()
    assert statuses == [200] * 120


def test_the_log_keeps_no_query_string() -> None:
    line = '"GET /services/grading/oauth_callback?code=abc&state=xyz HTTP/1.1" 302 0'
    assert redacted(line) == '"GET /services/grading/oauth_callback?... HTTP/1.1" 302 0'
