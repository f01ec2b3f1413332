"""No command endpoint anywhere a tenant can reach: the servers the labs run answer what the labs ask and
nothing else.

agnhost netexec serves /shell?cmd=, /exit, /shutdown and /upload: a pod of one learner could run commands in
another learner's pods and in the partner container outside the cluster, or stop it. Every lab pod runs agnhost
serve-hostname (its name on every path) or busybox httpd (a /hostname file and the CGI /cgi-bin/clientip), and
the partner container busybox httpd. The httpd ones are run here with the busybox the offline images are built
from (Debian's busybox-static, the same httpd as upstream 1.37.0), when this machine has it.
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from grader.base import images, names
from grader.base.wait import wait_for
from grader.cluster import vantage
from grader.cluster.net import lab_addresses

REPO = Path(__file__).resolve().parents[3]
MANIFEST_ROOTS = ("labs", "tests/data", "tests/hostile", "fixtures")
TEXT_ROOTS = ("labs", "notebooks/source", "tests/data")
ETL_STARTER = REPO / "labs/external-traffic-local/starter/web.yaml"
COMMAND_PATHS = ("/shell?cmd=touch%20{marker}", "/shell?shellCommand=touch%20{marker}", "/exit?code=3", "/shutdown")
APPLETS = ("sh", "httpd", "hostname", "printf", "mkdir", "cat", "chmod")


def _manifests() -> Iterator[tuple[Path, dict[str, Any]]]:
    for root in MANIFEST_ROOTS:
        for path in sorted((REPO / root).rglob("*.yaml")):
            if path.name == "case.yaml":
                continue
            for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
                if isinstance(doc, dict):
                    yield path, doc


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc.get("spec") or {}
    pod = (spec.get("template") or {}).get("spec") or {} if doc.get("kind") == "Deployment" else spec
    if doc.get("kind") not in ("Deployment", "Pod"):
        return []
    return [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]


def test_every_agnhost_container_runs_serve_hostname_and_nothing_runs_netexec() -> None:
    agnhost = 0
    for path, doc in _manifests():
        for container in _containers(doc):
            run = [*(container.get("command") or []), *(container.get("args") or [])]
            assert not any("netexec" in str(word) for word in run), f"{path}: {run}"
            if container.get("image") == images.AGNHOST:
                agnhost += 1
                assert not container.get("command"), f"{path}: agnhost's entrypoint picks the mode"
                assert run[:1] == ["serve-hostname"], f"{path}: agnhost runs {run}"
    assert agnhost > 30  # every lab's starter, the readiness answers, the hostile cases


def test_no_lab_text_tells_a_learner_to_run_netexec() -> None:
    said = [
        str(path.relative_to(REPO))
        for root in TEXT_ROOTS
        for path in sorted((REPO / root).rglob("*"))
        if path.suffix in (".md", ".ipynb", ".yaml") and "netexec" in path.read_text(encoding="utf-8")
    ]
    assert said == []


def test_the_partner_container_is_busybox_httpd() -> None:
    image, command, aliases, options = vantage._spec(names.PARTNER_CONTAINER, lab_addresses("172.18.0.0/16"))
    assert image == images.BUSYBOX
    assert command[:2] == ["sh", "-c"]
    assert command[2] == vantage.partner_script()
    assert "exec httpd -f -p 80 -h /srv" in command[2]
    assert aliases == (names.PARTNER_HOST,)
    assert "--init" in options  # docker's init reaps the CGI children and passes SIGTERM on


def _etl_docs() -> tuple[dict[str, Any], dict[str, Any]]:
    docs = {d["kind"]: d for d in yaml.safe_load_all(ETL_STARTER.read_text(encoding="utf-8"))}
    return docs["ConfigMap"], docs["Deployment"]


def test_the_lab_pod_and_the_partner_answer_clientip_with_one_script() -> None:
    config_map, deployment = _etl_docs()
    assert config_map["data"]["clientip"] == vantage.CLIENTIP_CGI
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == images.BUSYBOX
    assert container["volumeMounts"] == [{"name": "cgi", "mountPath": "/srv/cgi-bin"}]
    assert pod["volumes"] == [
        {"name": "cgi", "configMap": {"name": config_map["metadata"]["name"], "defaultMode": 0o555}}
    ]


# --- the httpd servers, run ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def busybox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of busybox applet links (what the busybox images have in /bin)."""
    found = shutil.which("busybox") or ("/bin/busybox" if Path("/bin/busybox").exists() else None)
    if found is None:
        pytest.skip("no busybox on this machine (apt-get install busybox-static)")
    have = subprocess.run([found, "--list"], capture_output=True, text=True, check=False).stdout.split()
    if not set(APPLETS) <= set(have):
        pytest.skip(f"this busybox lacks {sorted(set(APPLETS) - set(have))}")
    folder = tmp_path_factory.mktemp("bin")
    for applet in APPLETS:
        (folder / applet).symlink_to(found)
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(host: str, port: int, path: str, method: str = "GET") -> tuple[int, str, int]:
    """(status, body, the client's own port)."""
    conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        conn.request(method, path, body=b"x" if method == "POST" else None)
        mine = int(conn.sock.getsockname()[1])
        answer = conn.getresponse()
        return answer.status, answer.read().decode(), mine
    finally:
        conn.close()


def _serving(host: str, port: int) -> tuple[bool | None, str]:
    try:
        status, body, _ = _get(host, port, "/hostname")
    except OSError as err:
        return None, str(err)
    return (True if status == 200 else None), f"{status} {body}"


@pytest.fixture
def serve(busybox: Path) -> Iterator[Any]:
    """Start a shell script under busybox; stopped (the one process this test started) at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start(script: str, port: int) -> None:
        env = {"PATH": str(busybox), "HOME": "/"}
        started.append(subprocess.Popen([str(busybox / "sh"), "-c", script], env=env))
        wait_for(lambda: _serving("127.0.0.1", port), what="busybox httpd answers", timeout_s=10)

    yield start
    for process in started:
        process.kill()
        process.wait(timeout=10)


def _answers_only_what_the_labs_ask(port: int, marker: Path) -> None:
    status, body, _ = _get("127.0.0.1", port, "/hostname")
    assert (status, body) == (200, socket.gethostname())  # the name alone, no newline, as netexec answered
    status, body, mine = _get("127.0.0.1", port, "/cgi-bin/clientip")
    assert (status, body) == (200, f"127.0.0.1:{mine}")  # an IPv4 caller on httpd's IPv6 socket, unmapped
    if socket.has_ipv6:
        try:
            status, body, mine = _get("::1", port, "/cgi-bin/clientip")
        except OSError:
            pass  # no IPv6 loopback here
        else:
            assert (status, body) == (200, f"[::1]:{mine}")
    for path in COMMAND_PATHS:
        assert _get("127.0.0.1", port, path.format(marker=marker))[0] == 404, path
    assert _get("127.0.0.1", port, "/upload")[0] == 404
    assert _get("127.0.0.1", port, "/upload", "POST")[0] == 501  # POST only to a CGI script
    assert not marker.exists()
    assert _get("127.0.0.1", port, "/hostname")[0] == 200  # still serving: nothing stopped it


def test_the_partner_answers_hostname_and_clientip_and_runs_nothing(serve: Any, tmp_path: Path) -> None:
    port = _free_port()
    serve(vantage.partner_script(str(tmp_path / "srv"), port), port)
    _answers_only_what_the_labs_ask(port, tmp_path / "ran")
    assert os.stat(tmp_path / "srv/cgi-bin/clientip").st_mode & 0o777 == 0o555


def test_the_external_traffic_local_pod_answers_hostname_and_clientip_and_runs_nothing(
    serve: Any, tmp_path: Path
) -> None:
    config_map, deployment = _etl_docs()
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    shell, flag, script = container["command"]
    assert (shell, flag) == ("sh", "-c")
    cgi = tmp_path / "srv/cgi-bin/clientip"
    cgi.parent.mkdir(parents=True)
    cgi.write_text(config_map["data"]["clientip"])
    cgi.chmod(0o555)  # the ConfigMap volume's defaultMode
    port = _free_port()
    assert " -p 8080 " in script
    assert script.count("/srv") == 2
    serve(script.replace("/srv", str(tmp_path / "srv")).replace(" -p 8080 ", f" -p {port} "), port)
    _answers_only_what_the_labs_ask(port, tmp_path / "ran")
