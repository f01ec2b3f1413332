"""`kubectl exec` in process: the pod's exec subresource over a websocket (channel protocol v4).

Built on websocket-client, as kubernetes.stream is, with the Session's TLS settings and credentials, but
with our own deadline: kubernetes.stream connects without a timeout and its read loop can wait forever on
a stream that never closes (kubernetes-client/python#602). Every socket operation here is bounded by
what is left of the caller's deadline.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, urlencode

from grader.base.run import Result
from grader.kube.api import Session, auth_header
from grader.kube.errors import KubeUnreachable, api_error

V4 = "v4.channel.k8s.io"  # binary frames: one byte channel (1 stdout, 2 stderr, 3 the exit Status), then data
STDOUT, STDERR, STATUS = 1, 2, 3


def exec_in_pod(
    session: Session,
    pod: str,
    namespace: str,
    command: Sequence[str],
    *,
    timeout: float,
    container: str | None = None,
    user: str | None = None,
) -> Result:
    """Run command in the pod: its exit code and output, as `kubectl exec` gives them (an API refusal is
    exit 1 with kubectl's message on stderr). KubeUnreachable when no server answered or past the deadline."""
    from websocket import WebSocket, WebSocketBadStatusException, WebSocketException  # noqa: PLC0415

    deadline = time.monotonic() + timeout
    argv = ["kubectl", "exec", pod, "-n", namespace, *(["-c", container] if container else []), "--", *command]
    cfg = session.client().configuration
    query = [
        *(("command", c) for c in command),
        ("stdout", "true"),
        ("stderr", "true"),
        *([("container", container)] if container else []),
    ]
    path = f"/api/v1/namespaces/{quote(namespace, safe='')}/pods/{quote(pod, safe='')}/exec"
    url = (
        cfg.host.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
        + path
        + "?"
        + urlencode(query, quote_via=quote)
    )
    header = [f"{k}: {v}" for k, v in auth_header(cfg).items()] + ([f"Impersonate-User: {user}"] if user else [])
    ws: Any = WebSocket(sslopt=ssl_options(cfg), skip_utf8_validation=True)
    try:
        ws.connect(url, header=header, subprotocols=[V4], timeout=max(0.01, deadline - time.monotonic()))
        channels = _read(ws, deadline)
    except WebSocketBadStatusException as err:  # the API refused the upgrade: no such pod, forbidden, ...
        return Result(argv, 1, "", f"{api_error(err.status_code, err.resp_body or b'')}\n")
    except (WebSocketException, OSError) as err:
        if time.monotonic() >= deadline:
            raise KubeUnreachable(f"exec in {namespace}/{pod} hung past {timeout:.0f}s") from err
        session.reset()
        raise KubeUnreachable(f"exec in {namespace}/{pod}: unable to connect to the server {cfg.host}: {err}") from err
    finally:
        ws.shutdown()  # no close handshake: the server has closed already, or we are giving up
    stdout, stderr = (channels.get(c, b"").decode(errors="replace") for c in (STDOUT, STDERR))
    if STATUS not in channels:
        raise KubeUnreachable(f"exec in {namespace}/{pod}: the stream ended without an exit status")
    code, why = exit_code(channels[STATUS])
    return Result(argv, code, stdout, stderr + why)


def next_frame(ws: Any, deadline: float) -> tuple[int, bytes] | None:
    """The next frame that carries data, as (channel, payload); None once the server closed the stream. Every
    read is bounded by the deadline (a stream can otherwise hang forever: kubernetes-client/python#602)."""
    from websocket import ABNF, WebSocketConnectionClosedException, WebSocketTimeoutException  # noqa: PLC0415

    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise WebSocketTimeoutException("deadline passed")
        ws.settimeout(left)
        try:
            opcode, frame = ws.recv_data_frame(True)
        except WebSocketConnectionClosedException:
            return None  # closed without a close frame: what arrived is all there is
        if opcode == ABNF.OPCODE_CLOSE:
            return None
        if opcode in (ABNF.OPCODE_BINARY, ABNF.OPCODE_TEXT) and frame.data:
            data = frame.data if isinstance(frame.data, bytes) else frame.data.encode()
            return data[0], data[1:]


def _read(ws: Any, deadline: float) -> dict[int, bytes]:
    """Frames until the server closes the stream."""
    channels: dict[int, bytearray] = {}
    while (frame := next_frame(ws, deadline)) is not None:
        channels.setdefault(frame[0], bytearray()).extend(frame[1])
    return {channel: bytes(data) for channel, data in channels.items()}


def exit_code(status: bytes) -> tuple[int, str]:
    """The exit code from the Status on the error channel, and what kubectl would add to stderr."""
    try:
        doc = json.loads(status)
    except ValueError:
        return 1, f"error: {status.decode(errors='replace')}\n"
    if doc.get("status") == "Success":
        return 0, ""
    causes = (doc.get("details") or {}).get("causes") or []
    code = next((str(c.get("message")) for c in causes if c.get("reason") == "ExitCode"), "")
    if doc.get("reason") == "NonZeroExitCode" and code.isdigit():
        return int(code), f"command terminated with exit code {code}\n"
    return 1, f"error: {doc.get('message') or 'exec failed'}\n"  # e.g. the command does not exist


def ssl_options(cfg: Any) -> dict[str, Any]:
    """websocket-client's TLS options from the client's Configuration (as kubernetes.stream builds them)."""
    import ssl  # noqa: PLC0415

    opts: dict[str, Any] = {"cert_reqs": ssl.CERT_REQUIRED if cfg.verify_ssl else ssl.CERT_NONE}
    if cfg.verify_ssl and cfg.ssl_ca_cert:
        opts["ca_certs"] = cfg.ssl_ca_cert
    if cfg.verify_ssl and cfg.assert_hostname is not None:
        opts["check_hostname"] = cfg.assert_hostname
    if cfg.cert_file:
        opts["certfile"] = cfg.cert_file
    if cfg.key_file:
        opts["keyfile"] = cfg.key_file
    if getattr(cfg, "tls_server_name", None):  # newer clients only
        opts["server_hostname"] = cfg.tls_server_name
    return opts
