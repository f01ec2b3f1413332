"""An HTTP GET to a port that a pod serves on its own loopback only: the pod's portforward subresource over a
websocket (channel protocol v4), the way `kubectl port-forward` reaches it.

The container runtime connects to localhost inside the pod's network namespace, so a server bound to
127.0.0.1 answers here and to no other pod (Traefik's API, fixtures/traefik). As in grader.kube.exec, every
socket operation is bounded by what is left of the caller's deadline.

The stream: for the one port asked, channel 0 carries the data and channel 1 the runtime's errors; the server
opens each with the port number (2 bytes, little-endian). The runtime ends the stream about a second after the
pod's side closes, so the response is taken as soon as it is whole (Content-Length or the last chunk).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from grader.kube.api import Session, auth_header
from grader.kube.errors import KubeError, KubeUnreachable, api_error
from grader.kube.exec import V4, next_frame, ssl_options

DATA, ERROR = 0, 1
PORT_PREFIX = 2  # bytes of the port number that open each channel


@dataclass(frozen=True)
class PodHttpAnswer:
    status: int
    body: bytes


def http_get_in_pod(
    session: Session, pod: str, namespace: str, port: int, path: str, *, timeout: float, user: str | None = None
) -> PodHttpAnswer:
    """GET path from the pod's port as seen from inside the pod. KubeError when the API or the runtime refuses
    (no such pod, nothing listening on the port); KubeUnreachable when nothing answered in time."""
    from websocket import (  # noqa: PLC0415
        WebSocket,
        WebSocketBadStatusException,
        WebSocketException,
        WebSocketTimeoutException,
    )

    deadline = time.monotonic() + timeout
    cfg = session.client().configuration
    where = f"/api/v1/namespaces/{quote(namespace, safe='')}/pods/{quote(pod, safe='')}/portforward?ports={port}"
    url = cfg.host.replace("https://", "wss://", 1).replace("http://", "ws://", 1) + where
    header = [f"{k}: {v}" for k, v in auth_header(cfg).items()] + ([f"Impersonate-User: {user}"] if user else [])
    request = f"GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n".encode()
    ws: Any = WebSocket(sslopt=ssl_options(cfg), skip_utf8_validation=True)
    try:
        ws.connect(url, header=header, subprotocols=[V4], timeout=max(0.01, deadline - time.monotonic()))
        ws.send_binary(bytes([DATA]) + request)
        data, error, closed = _read(ws, deadline)
    except WebSocketBadStatusException as err:  # the API refused the upgrade: no such pod, forbidden, ...
        raise api_error(err.status_code, err.resp_body or b"") from err
    except (WebSocketException, OSError) as err:
        if isinstance(err, WebSocketTimeoutException) or time.monotonic() >= deadline:
            raise KubeUnreachable(f"port-forward to {namespace}/{pod}:{port} hung past {timeout:.0f}s") from err
        session.reset()
        raise KubeUnreachable(f"port-forward to {namespace}/{pod}:{port}: {err}") from err
    finally:
        ws.shutdown()  # no close handshake: the server has closed already, or we have all we want
    answer = http_response(data, closed=closed)
    if answer is None:
        said = error.decode(errors="replace").strip()
        raise KubeError(
            f"port-forward to {namespace}/{pod}:{port}: "
            + (said or f"the stream ended without a whole HTTP response ({len(data)} bytes)")
        )
    return answer


def _read(ws: Any, deadline: float) -> tuple[bytes, bytes, bool]:
    """(data, error text, whether the server closed the stream): frames until the HTTP response is whole or
    the server closes, each read bounded by the deadline."""
    channels: dict[int, bytearray] = {DATA: bytearray(), ERROR: bytearray()}
    while (frame := next_frame(ws, deadline)) is not None:
        channel, payload = frame
        channels.setdefault(channel, bytearray()).extend(payload)
        if channel == DATA and http_response(_payload(channels[DATA]), closed=False) is not None:
            return _payload(channels[DATA]), _payload(channels[ERROR]), False
    return _payload(channels[DATA]), _payload(channels[ERROR]), True


def _payload(channel: bytearray) -> bytes:
    return bytes(channel[PORT_PREFIX:])


def http_response(data: bytes, *, closed: bool) -> PodHttpAnswer | None:
    """The HTTP/1.1 response in data once it is whole; None while more is to come (or, closed, if it never
    became whole). A response with neither Content-Length nor chunks ends where the server closed."""
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split()
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        return None
    status = int(parts[1])
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = _dechunked(rest)
        return None if body is None else PodHttpAnswer(status, body)
    length = headers.get("content-length", "")
    if length.isdigit():
        return PodHttpAnswer(status, rest[: int(length)]) if len(rest) >= int(length) else None
    return PodHttpAnswer(status, rest) if closed else None


def _dechunked(data: bytes) -> bytes | None:
    """A chunked body's content once its last (empty) chunk has come, else None."""
    body = bytearray()
    at = 0
    while True:
        end = data.find(b"\r\n", at)
        if end < 0:
            return None
        size_text = data[at:end].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return None
        if size == 0:
            return bytes(body)
        start = end + 2
        if len(data) < start + size + 2:
            return None
        body += data[start : start + size]
        at = start + size + 2
