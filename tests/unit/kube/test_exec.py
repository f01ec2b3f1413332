"""grader.kube.client: exec over a (fake) websocket, a real client against nothing, and the lazy import."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import websocket
from _kube_fakes import FakeHttp, fake_kube

from grader.kube.client import Kube, KubeUnreachable
from grader.kube.exec import exit_code

REPO = Path(__file__).parents[3]
SUCCESS = json.dumps({"metadata": {}, "status": "Success"}).encode()
EXIT_3 = json.dumps(
    {
        "status": "Failure",
        "reason": "NonZeroExitCode",
        "message": "command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3",
        "details": {"causes": [{"reason": "ExitCode", "message": "3"}]},
    }
).encode()


class FakeSocket:
    """Plays frames (channel byte + data) and then a close; with hang, never answers."""

    frames: ClassVar[list[bytes]] = []
    refuse: Exception | None = None
    hang = False
    connected_to: ClassVar[list[tuple[str, list[str]]]] = []

    def __init__(self, **_: Any) -> None:
        self.queue: Iterator[bytes] = iter(self.frames)
        self.timeout = 0.0

    def connect(self, url: str, *, header: list[str], subprotocols: list[str], timeout: float) -> None:
        assert subprotocols == ["v4.channel.k8s.io"]
        self.connected_to.append((url, header))
        if self.refuse is not None:
            raise self.refuse

    def settimeout(self, timeout: float) -> None:
        self.timeout = timeout

    def recv_data_frame(self, control: bool) -> tuple[int, Any]:
        if self.hang:
            time.sleep(self.timeout)
            raise websocket.WebSocketTimeoutException("timed out")
        data = next(self.queue, None)
        if data is None:
            return websocket.ABNF.OPCODE_CLOSE, None
        return websocket.ABNF.OPCODE_BINARY, type("Frame", (), {"data": data})()

    def shutdown(self) -> None:
        pass


@pytest.fixture
def sock(monkeypatch: pytest.MonkeyPatch) -> type[FakeSocket]:
    monkeypatch.setattr(websocket, "WebSocket", FakeSocket)
    monkeypatch.setattr(FakeSocket, "frames", [])
    monkeypatch.setattr(FakeSocket, "connected_to", [])
    return FakeSocket


def test_exec_gives_output_and_the_exit_code_from_the_status_channel(
    monkeypatch: pytest.MonkeyPatch, sock: type[FakeSocket]
) -> None:
    sock.frames = [b"\x01", b"\x01hello ", b"\x02oops\n", b"\x01world\n", b"\x03" + EXIT_3]
    kube = fake_kube(monkeypatch, FakeHttp())
    result = kube.exec("probe", "ns1", ["sh", "-c", "echo hello world; exit 3"], timeout=5)
    assert (result.code, result.stdout) == (3, "hello world\n")
    assert result.stderr == "oops\ncommand terminated with exit code 3\n"  # as kubectl prints it
    url, _ = sock.connected_to[0]
    assert url == (
        "wss://fake-apiserver:6443/api/v1/namespaces/ns1/pods/probe/exec?command=sh&command=-c&"
        "command=echo%20hello%20world%3B%20exit%203&stdout=true&stderr=true"
    )


def test_exec_that_hangs_is_unreachable_at_the_deadline(
    monkeypatch: pytest.MonkeyPatch, sock: type[FakeSocket]
) -> None:
    sock.hang = True
    kube = fake_kube(monkeypatch, FakeHttp())
    start = time.monotonic()
    with pytest.raises(KubeUnreachable, match="hung past"):
        kube.exec("probe", "ns1", ["sleep", "60"], timeout=0.3)
    assert time.monotonic() - start < 2


def test_exec_refused_by_the_api_is_exit_1_with_kubectls_message(
    monkeypatch: pytest.MonkeyPatch, sock: type[FakeSocket]
) -> None:
    body = json.dumps({"kind": "Status", "reason": "NotFound", "message": 'pods "probe" not found'}).encode()
    sock.refuse = websocket.WebSocketBadStatusException("Handshake status 404", 404, "Not Found", {}, body)
    result = fake_kube(monkeypatch, FakeHttp()).exec("probe", "ns1", ["true"], timeout=5)
    assert (result.code, result.stderr) == (1, 'Error from server (NotFound): pods "probe" not found\n')


def test_exec_with_no_server_is_unreachable(monkeypatch: pytest.MonkeyPatch, sock: type[FakeSocket]) -> None:
    sock.refuse = ConnectionRefusedError(111, "Connection refused")
    with pytest.raises(KubeUnreachable, match="Connection refused"):
        fake_kube(monkeypatch, FakeHttp()).exec("probe", "ns1", ["true"], timeout=5)


@pytest.mark.parametrize(
    ("status", "code", "stderr"),
    [
        (SUCCESS, 0, ""),
        (EXIT_3, 3, "command terminated with exit code 3\n"),
        (
            json.dumps({"status": "Failure", "reason": "InternalError", "message": 'exec: "nope": not found'}).encode(),
            1,
            'error: exec: "nope": not found\n',
        ),
    ],
)
def test_exit_code(status: bytes, code: int, stderr: str) -> None:
    assert exit_code(status) == (code, stderr)


def _dead_kubeconfig(tmp_path: Path) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: gone\n  cluster:\n    server: https://127.0.0.1:1\n"
        "contexts:\n- name: gone\n  context:\n    cluster: gone\n    user: u\n    namespace: team\n"
        "current-context: gone\nusers:\n- name: u\n  user:\n    token: secret-token\n"
    )
    return str(path)


def test_the_real_client_against_a_closed_port_is_unreachable_at_once(tmp_path: Path) -> None:
    kube = Kube(kubeconfig=_dead_kubeconfig(tmp_path))
    start = time.monotonic()
    with pytest.raises(KubeUnreachable, match=re.escape("unable to connect to the server https://127.0.0.1:1")):
        kube.get("pod", "p", "ns1")
    assert time.monotonic() - start < 5
    api = kube._api
    assert api.namespace == "team"  # the context's namespace, as kubectl uses it
    from grader.kube.api import auth_header  # noqa: PLC0415

    assert auth_header(api.client().configuration) == {"Authorization": "Bearer secret-token"}


@pytest.mark.parametrize("setup", ["no such context", "no kubeconfig"])
def test_a_missing_context_or_kubeconfig_is_unreachable(tmp_path: Path, setup: str) -> None:
    kube = (
        Kube(context="kind-nope", kubeconfig=_dead_kubeconfig(tmp_path))
        if setup == "no such context"
        else Kube(kubeconfig=str(tmp_path / "absent"))
    )
    with pytest.raises(KubeUnreachable, match="no usable kubeconfig"):
        kube.server_version()


def test_refusing_bad_input_never_imports_the_kubernetes_client(tmp_path: Path) -> None:
    folder = tmp_path / "answer"
    folder.mkdir()
    (folder / "manifest.yaml").write_text("apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {bogus: 1}\n")
    code = (
        "import sys; from grader import cli; "
        f"code = cli.main(['grade', 'clusterip', '--manifests', {str(folder)!r}, '--kubeconfig', '/dev/null']); "
        "print(code, 'kubernetes' in sys.modules, 'websocket' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO, timeout=120
    ).stdout.split()
    assert out[-3:] == ["2", "False", "False"]  # exit 2 (bad input); neither the client nor websocket loaded
