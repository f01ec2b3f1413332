"""https_exchange: what a TLS server presents for the name asked, and what it answers, from a real local server
that serves the Gateway lab's own certificate."""

from __future__ import annotations

import base64
import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from grader.catalogue.locate import find_lab
from grader.probes.host import https_exchange


class _Hostname(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"{self.headers['Host']} {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


@pytest.fixture(scope="module")
def lab_pem(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    secret = yaml.safe_load((find_lab("gateway") / "starter" / "shop-tls.yaml").read_text())
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "tls.crt", folder / "tls.key"
    cert.write_bytes(base64.b64decode(secret["data"]["tls.crt"]))
    key.write_bytes(base64.b64decode(secret["data"]["tls.key"]))
    return cert, key


@pytest.fixture
def server(lab_pem: tuple[Path, Path]) -> Iterator[int]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*lab_pem)
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _Hostname)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_it_returns_the_certificate_presented_and_the_answer(server: int, lab_pem: tuple[Path, Path]) -> None:
    answer = https_exchange("127.0.0.1", server, "shop.example", "/store", timeout_s=5)
    assert answer.certificate == ssl.PEM_cert_to_DER_cert(lab_pem[0].read_text())
    assert (answer.status, answer.body) == (200, "shop.example /store")
    assert answer.observed == "HTTP 200"


def test_nothing_listening_is_an_error_with_no_certificate() -> None:
    answer = https_exchange("127.0.0.1", 1, "shop.example", "/", timeout_s=2)
    assert answer.certificate == b""
    assert answer.status is None
    assert "ConnectionRefusedError" in answer.error
