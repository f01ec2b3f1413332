"""The host vantage point: probes from this Python process (requests, sockets).

Not available where the host cannot route to the cluster's addresses (Docker Desktop on macOS/Windows),
which is n/a, not a failure. DNS of cluster names is not available from the host.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Callable

from grader.base.outcomes import NotApplicable
from grader.base.wait import WaitTimeout, wait_for
from grader.kube.portforward import get_request
from grader.probes.base import ProbePolicy, Vantage
from grader.probes.observed import HttpsAnswer
from grader.probes.shell import Op, Outcome


def https_exchange(address: str, port: int, server_name: str, path: str, timeout_s: float) -> HttpsAnswer:
    """GET path over TLS from address:port, asking for server_name (SNI and Host). The certificate is taken as
    presented, not verified against a CA: a check compares it with the one it expects."""
    url = f"https://{server_name}{path} at {address}:{port}"
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((address, port), timeout=timeout_s) as raw,
            context.wrap_socket(raw, server_hostname=server_name) as tls,
        ):
            certificate = tls.getpeercert(binary_form=True) or b""
            tls.sendall(get_request(path, server_name))
            response = http.client.HTTPResponse(tls)  # reads through makefile()
            response.begin()
            return HttpsAnswer(url, certificate, response.status, response.read(8192).decode(errors="replace"))
    except (OSError, http.client.HTTPException) as err:
        return HttpsAnswer(url, error=f"{type(err).__name__}: {err}"[:200])


class HostVantage(Vantage):
    def __init__(
        self,
        route_check: tuple[str, int] | None = None,
        policy: ProbePolicy | None = None,
        partner_ip: str | None = None,
    ) -> None:
        """route_check: an address:port that must accept a TCP connection for the host to count as routed."""
        super().__init__("host", policy, partner_ip)
        self.route_check = route_check

    def _find_unavailable_reason(self) -> str:
        if not self.route_check:
            return ""
        host, port = self.route_check
        try:
            socket.create_connection((host, port), timeout=2.0).close()
        except OSError as err:
            return f"this machine cannot route to the cluster network ({host}:{port}: {err})"
        return ""

    def _run_ops(self, ops: list[Op], per_try_s: float, timeout_s: float) -> list[Outcome]:
        return [self._one(op, per_try_s) for op in ops]

    def https_get(
        self,
        address: str,
        port: int,
        server_name: str,
        path: str,
        *,
        deadline_s: float,
        done: Callable[[HttpsAnswer], bool],
    ) -> HttpsAnswer:
        """https_exchange until done(answer) or the deadline (then the last answer). n/a where this machine cannot
        reach the cluster's addresses."""
        self.require()
        last: list[HttpsAnswer] = []

        def attempt() -> tuple[HttpsAnswer | None, str]:
            answer = https_exchange(address, port, server_name, path, self.policy.one_round_s)
            last[:] = [answer]
            return (answer if done(answer) else None), answer.observed

        try:
            return wait_for(attempt, what=f"https://{server_name}{path}", timeout_s=deadline_s)
        except WaitTimeout:
            return last[0]

    def _one(self, op: Op, per_try_s: float) -> Outcome:
        import requests  # noqa: PLC0415 - ~0.03 s: only when this downloads or probes

        if op.kind == "dns":
            raise NotApplicable("cluster DNS names cannot be looked up from the host", vantage=self.name)
        if op.kind == "tcp":
            try:
                socket.create_connection((op.target, op.port), timeout=per_try_s).close()
            except TimeoutError:
                return Outcome(124, "timed out", "")
            except OSError as err:
                return Outcome(1, str(err), "")
            return Outcome(0, "", "")
        headers = {"Host": op.host_header} if op.host_header else {}
        start = time.monotonic()
        try:
            resp = requests.get(op.target, headers=headers, timeout=per_try_s, allow_redirects=False)
        except requests.Timeout:
            return Outcome(124, f"timed out after {time.monotonic() - start:.1f}s", "")
        except requests.ConnectionError as err:
            return Outcome(1, "connection refused" if _refused(err) else str(err)[-200:], "")
        return Outcome(0, f"  HTTP/1.1 {resp.status_code} {resp.reason}", resp.text[:8192])


def _refused(err: BaseException) -> bool:
    """Whether the socket error under a requests error (requests -> urllib3 -> OSError) is a refused connection."""
    seen: set[int] = set()
    cause: BaseException | None = err
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, ConnectionRefusedError):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False
