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

import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

from grader.kube.api import Session, auth_header
from grader.kube.errors import KubeError, KubeUnreachable, api_error
from grader.kube.exec import V4, next_frame, ssl_options

DATA, ERROR = 0, 1
T = TypeVar("T")
PORT_PREFIX = 2  # bytes of the port number that open each channel


@dataclass(frozen=True)
class PodHttpAnswer:
    status: int
    body: bytes


def get_request(path: str, host: str) -> bytes:
    """One HTTP/1.1 GET that asks the server to close the connection after its answer."""
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()


def http_get_in_pod(
    session: Session, pod: str, namespace: str, port: int, path: str, *, timeout: float, user: str | None = None
) -> PodHttpAnswer:
    """GET path from the pod's port as seen from inside the pod. KubeError when the API or the runtime refuses
    (no such pod, nothing listening on the port); KubeUnreachable when nothing answered in time."""
    request = get_request(path, f"localhost:{port}")

    def exchange(ws: Any, deadline: float) -> tuple[bytes, bytes, bool]:
        ws.send_binary(bytes([DATA]) + request)
        return _read(ws, deadline)

    data, error, closed = _forwarded(session, pod, namespace, port, exchange, timeout=timeout, user=user)
    return _whole(data, error, closed, f"port-forward to {namespace}/{pod}:{port}")


def https_get_in_pod(
    session: Session,
    pod: str,
    namespace: str,
    port: int,
    *,
    server_name: str,
    path: str,
    timeout: float,
    user: str | None = None,
) -> tuple[bytes, PodHttpAnswer]:
    """(the certificate the pod's TLS server presented for server_name, DER; its answer to GET path with Host
    server_name): TLS spoken through the pod's portforward stream, the certificate taken as presented (a check
    compares it with the one it expects). Errors as http_get_in_pod's; a TLS failure is a KubeError."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    request = get_request(path, server_name)
    where = f"TLS through port-forward to {namespace}/{pod}:{port}"

    def exchange(ws: Any, deadline: float) -> tuple[bytes, bytes, bool]:
        stream = _TlsStream(ws, deadline, incoming, outgoing)
        try:
            if stream.until(tls.do_handshake) == b"":
                raise KubeError(f"{where}: the stream ended during the TLS handshake: {stream.errors.decode()}")
            tls.write(request)
            stream.flush()
            plain = bytearray()
            while http_response(bytes(plain), closed=False) is None:
                chunk = stream.until(lambda: tls.read(65536))
                if not chunk:
                    break
                plain += chunk
        except ssl.SSLError as err:
            raise KubeError(f"{where}: {err}") from err
        return bytes(plain), bytes(stream.errors), stream.closed

    data, error, closed = _forwarded(session, pod, namespace, port, exchange, timeout=timeout, user=user)
    return tls.getpeercert(binary_form=True) or b"", _whole(data, error, closed, where)


class _TlsStream:
    """The portforward stream under an in-memory TLS session: what TLS wants sent goes out on the data channel,
    what arrives there (after the port number that opens it) goes in; the error channel is kept."""

    def __init__(self, ws: Any, deadline: float, incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO) -> None:
        self.ws, self.deadline, self.incoming, self.outgoing = ws, deadline, incoming, outgoing
        self.prefix = {DATA: PORT_PREFIX, ERROR: PORT_PREFIX}
        self.errors = bytearray()
        self.closed = False

    def flush(self) -> None:
        if pending := self.outgoing.read():
            self.ws.send_binary(bytes([DATA]) + pending)

    def until(self, step: Callable[[], T]) -> T | bytes:
        """step() once TLS has what it needs; b"" when the stream ended first."""
        while True:
            try:
                result = step()
            except ssl.SSLWantReadError:
                self.flush()
                if not self._feed():
                    return b""
                continue
            except ssl.SSLZeroReturnError:
                return b""
            self.flush()
            return result

    def _feed(self) -> bool:
        """Take the next frames until the data channel brought bytes; False once the stream closed."""
        while (frame := next_frame(self.ws, self.deadline)) is not None:
            channel, payload = frame
            skip = min(self.prefix.get(channel, 0), len(payload))
            self.prefix[channel] = self.prefix.get(channel, 0) - skip
            payload = payload[skip:]
            if channel == ERROR:
                self.errors += payload
            elif channel == DATA and payload:
                self.incoming.write(payload)
                return True
        self.closed = True
        self.incoming.write_eof()
        return False


def _forwarded(
    session: Session,
    pod: str,
    namespace: str,
    port: int,
    exchange: Callable[[Any, float], tuple[bytes, bytes, bool]],
    *,
    timeout: float,
    user: str | None,
) -> tuple[bytes, bytes, bool]:
    """exchange(ws, deadline) over the pod's portforward stream for one port: (data, error text, closed)."""
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
    ws: Any = WebSocket(sslopt=ssl_options(cfg), skip_utf8_validation=True)
    try:
        ws.connect(url, header=header, subprotocols=[V4], timeout=max(0.01, deadline - time.monotonic()))
        return exchange(ws, deadline)
    except WebSocketBadStatusException as err:  # the API refused the upgrade: no such pod, forbidden, ...
        raise api_error(err.status_code, err.resp_body or b"") from err
    except (WebSocketException, OSError) as err:
        if isinstance(err, WebSocketTimeoutException) or time.monotonic() >= deadline:
            raise KubeUnreachable(f"port-forward to {namespace}/{pod}:{port} hung past {timeout:.0f}s") from err
        session.reset()
        raise KubeUnreachable(f"port-forward to {namespace}/{pod}:{port}: {err}") from err
    finally:
        ws.shutdown()  # no close handshake: the server has closed already, or we have all we want


def _whole(data: bytes, error: bytes, closed: bool, where: str) -> PodHttpAnswer:
    answer = http_response(data, closed=closed)
    if answer is None:
        said = error.decode(errors="replace").strip()
        raise KubeError(f"{where}: " + (said or f"the stream ended without a whole HTTP response ({len(data)} bytes)"))
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
