"""kubectl as a subprocess, for the few things the API client does not do; its failures as our errors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from grader.base.run import Result, RunError, run
from grader.kube.errors import KubeError, KubeUnreachable

KUBECTL_FIX = "install kubectl (https://kubernetes.io/docs/tasks/tools/) or run 'servicelab up', which provides one"

_UNREACHABLE_MARKERS = (
    "connection refused",
    "unable to connect to the server",
    "no such host",
    "i/o timeout",
    "was refused",
    "context was not found",
    "no configuration has been provided",
    "couldn't get current server api group list",
    "tls handshake timeout",
)


@dataclass(frozen=True)
class KubectlTarget:
    """Which cluster and user kubectl talks to, and how long one request may take."""

    kubeconfig: str | None
    context: str | None
    impersonate: str | None
    request_timeout_s: float


def run_kubectl(
    target: KubectlTarget,
    args: Sequence[str],
    *,
    timeout: float | None = None,
    input_text: str | None = None,
    check: bool = True,
) -> Result:
    """Run kubectl with target's kubeconfig, context and user; KubeUnreachable when no server answered."""
    argv = [
        "kubectl",
        *(["--kubeconfig", target.kubeconfig] if target.kubeconfig else []),
        *(["--context", target.context] if target.context else []),
        *(["--as", target.impersonate] if target.impersonate else []),
        f"--request-timeout={int(target.request_timeout_s)}s",
        *args,
    ]
    try:
        return run(argv, timeout=timeout or target.request_timeout_s + 10, input_text=input_text, check=check)
    except RunError as err:
        text = (err.stderr + err.stdout).lower()
        # "Error from server" means the API server answered (e.g. a webhook behind it refused a connection).
        answered = "error from server" in text
        if err.timed_out or (not answered and any(marker in text for marker in _UNREACHABLE_MARKERS)):
            raise KubeUnreachable(str(err)) from err
        lines = [line for line in err.stderr.strip().splitlines() if line.strip()]
        raise KubeError("\n".join(lines[-5:]) if lines else str(err), err) from err
