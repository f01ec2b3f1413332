"""grader.kube.portforward: an HTTP GET inside a pod over a (fake) portforward websocket, and the HTTP framing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
import websocket
from _kube_fakes import FakeHttp, fake_kube

from grader.kube.client import KubeError, KubeUnreachable
from grader.kube.portforward import PodHttpAnswer, http_response

PORT = b"\x90\x1f"  # 8080, little-endian: what opens each channel
CONFIG = b'{"routers": {}}'


class FakePortForward:
    """Plays the server's frames (channel byte + data) and then a close; records what was sent; with hang,
    never answers. Reading past the frames given is a close, as the runtime's stream ends."""

    frames: ClassVar[list[bytes]] = []
    refuse: Exception | None = None
    hang = False
    connected_to: ClassVar[list[str]] = []
    sent: ClassVar[list[bytes]] = []
    reads: ClassVar[list[int]] = []

    def __init__(self, **_: Any) -> None:
        self.queue: Iterator[bytes] = iter(self.frames)
        self.timeout = 0.0

    def connect(self, url: str, *, header: list[str], subprotocols: list[str], timeout: float) -> None:
        assert subprotocols == ["v4.channel.k8s.io"]
        self.connected_to.append(url)
        if self.refuse is not None:
            raise self.refuse

    def send_binary(self, data: bytes) -> None:
        self.sent.append(data)

    def settimeout(self, timeout: float) -> None:
        self.timeout = timeout

    def recv_data_frame(self, control: bool) -> tuple[int, Any]:
        if self.hang:
            time.sleep(self.timeout)
            raise websocket.WebSocketTimeoutException("timed out")
        self.reads.append(1)
        data = next(self.queue, None)
        if data is None:
            return websocket.ABNF.OPCODE_CLOSE, None
        return websocket.ABNF.OPCODE_BINARY, type("Frame", (), {"data": data})()

    def shutdown(self) -> None:
        pass


@pytest.fixture
def sock(monkeypatch: pytest.MonkeyPatch) -> type[FakePortForward]:
    monkeypatch.setattr(websocket, "WebSocket", FakePortForward)
    for name in ("frames", "connected_to", "sent", "reads"):
        monkeypatch.setattr(FakePortForward, name, [])
    monkeypatch.setattr(FakePortForward, "refuse", None)
    monkeypatch.setattr(FakePortForward, "hang", False)
    return FakePortForward


def _get(monkeypatch: pytest.MonkeyPatch, timeout: float = 5) -> PodHttpAnswer:
    kube = fake_kube(monkeypatch, FakeHttp())
    return kube.pod_http_get("traefik-1", "traefik", 8080, "/api/rawdata", timeout=timeout)


def test_a_chunked_answer_is_taken_as_soon_as_its_last_chunk_came(
    monkeypatch: pytest.MonkeyPatch, sock: type[FakePortForward]
) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    sock.frames = [
        b"\x00" + PORT,
        b"\x01" + PORT,
        b"\x00" + head + b"6\r\n" + CONFIG[:6] + b"\r\n",
        b"\x00" + f"{len(CONFIG) - 6:x}\r\n".encode() + CONFIG[6:] + b"\r\n0\r\n\r\n",
        b"\x00never read: the runtime keeps the stream about a second after the pod closed",
    ]
    answer = _get(monkeypatch)
    assert answer == PodHttpAnswer(200, CONFIG)
    assert len(sock.reads) == 4
    assert sock.connected_to == [
        "wss://fake-apiserver:6443/api/v1/namespaces/traefik/pods/traefik-1/portforward?ports=8080"
    ]
    (sent,) = sock.sent
    assert sent[0] == 0  # the data channel of the one port
    assert sent[1:].startswith(b"GET /api/rawdata HTTP/1.1\r\nHost: localhost:8080\r\nConnection: close\r\n")


def test_an_answer_with_a_length_ends_at_its_length(
    monkeypatch: pytest.MonkeyPatch, sock: type[FakePortForward]
) -> None:
    sock.frames = [b"\x00" + PORT + b"HTTP/1.1 404 Not Found\r\nContent-Length: 19\r\n\r\n404 page not found\n"]
    assert _get(monkeypatch) == PodHttpAnswer(404, b"404 page not found\n")
    assert len(sock.reads) == 1


def test_nothing_listening_is_the_runtimes_error(monkeypatch: pytest.MonkeyPatch, sock: type[FakePortForward]) -> None:
    said = b"error forwarding port 8080 to pod abc: IPv4: dial tcp4 127.0.0.1:8080: connect: connection refused"
    sock.frames = [b"\x00" + PORT, b"\x01" + PORT, b"\x01" + said]
    with pytest.raises(KubeError, match="connection refused"):
        _get(monkeypatch)


def test_no_server_is_unreachable(monkeypatch: pytest.MonkeyPatch, sock: type[FakePortForward]) -> None:
    sock.refuse = ConnectionRefusedError(111, "Connection refused")
    with pytest.raises(KubeUnreachable, match="Connection refused"):
        _get(monkeypatch)


def test_a_refused_upgrade_is_the_apis_error(monkeypatch: pytest.MonkeyPatch, sock: type[FakePortForward]) -> None:
    body = b'{"kind":"Status","status":"Failure","message":"pods \\"traefik-1\\" not found","reason":"NotFound"}'
    sock.refuse = websocket.WebSocketBadStatusException("Handshake status 404", 404, "Not Found", {}, body)
    with pytest.raises(KubeError) as err:
        _get(monkeypatch)
    assert (err.value.status, err.value.reason) == (404, "NotFound")


def test_a_stream_that_never_answers_is_unreachable_within_the_deadline(
    monkeypatch: pytest.MonkeyPatch, sock: type[FakePortForward]
) -> None:
    sock.hang = True
    start = time.monotonic()
    with pytest.raises(KubeUnreachable, match="hung past"):
        _get(monkeypatch, timeout=0.3)
    assert time.monotonic() - start < 2


@pytest.mark.parametrize(
    ("data", "closed", "expected"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", False, None),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello, and more", False, PodHttpAnswer(200, b"hello")),
        (b"HTTP/1.0 200 OK\r\n\r\nuntil the close", False, None),
        (b"HTTP/1.0 200 OK\r\n\r\nuntil the close", True, PodHttpAnswer(200, b"until the close")),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\n5;x=1\r\nhello\r\n0\r\n",
            False,
            PodHttpAnswer(200, b"hello"),
        ),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", True, None),
        (b"HTTP/1.1 200 OK\r\nContent-Len", True, None),
        (b"not http at all\r\n\r\n", True, None),
    ],
)
def test_http_framing(data: bytes, closed: bool, expected: PodHttpAnswer | None) -> None:
    assert http_response(data, closed=closed) == expected
