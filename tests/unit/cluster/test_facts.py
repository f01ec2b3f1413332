"""The cluster facts that come from docker (the kind subnet, the outside containers' addresses and states),
with a stand-in `docker` that logs its calls: one inspect for the three containers, read ahead in a thread
when an environment opens, and used by discover() on a kind cluster only."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from _grader_fakes import FakeKube

from grader.cluster import facts
from grader.cluster.facts import DockerReads, _pod_cidrs, discover, read_docker, read_docker_ahead

NETWORK = [{"IPAM": {"Config": [{"Subnet": "fc00:f853::/64"}, {"Subnet": "172.18.0.0/16"}]}}]


def _container(name: str, ip: str, running: bool = True) -> dict[str, Any]:
    return {
        "Name": f"/{name}",
        "State": {"Running": running},
        "NetworkSettings": {"Networks": {"kind": {"IPAddress": ip}}},
    }


@pytest.fixture
def docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `docker` answering from tmp_path/containers.json; every call is logged in tmp_path/calls."""
    containers = {
        "servicelab-partner": _container("servicelab-partner", "172.18.0.9"),
        "servicelab-outside": _container("servicelab-outside", "172.18.0.10"),
        "servicelab-internet": _container("servicelab-internet", "172.18.0.11", running=False),
    }
    (tmp_path / "containers.json").write_text(json.dumps(containers))
    (tmp_path / "network.json").write_text(json.dumps(NETWORK))
    script = tmp_path / "docker"
    script.write_text(
        f"""#!{sys.executable}
import json, sys
from pathlib import Path
here = Path({str(tmp_path)!r})
with (here / "calls").open("a") as log:
    log.write(" ".join(sys.argv[1:]) + "\\n")
if sys.argv[1:3] == ["network", "inspect"]:
    print((here / "network.json").read_text())
    sys.exit(0)
known = json.loads((here / "containers.json").read_text())
names = sys.argv[2:]
print(json.dumps([known[n] for n in names if n in known]))
sys.exit(0 if all(n in known for n in names) else 1)
"""
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    facts._AHEAD.clear()
    return tmp_path


def _calls(docker: Path) -> list[str]:
    return (docker / "calls").read_text().splitlines() if (docker / "calls").exists() else []


def test_one_inspect_gives_addresses_and_states(docker: Path) -> None:
    reads = read_docker()
    assert str(reads.subnet) == "172.18.0.0/16"
    assert reads.ips == {
        "servicelab-partner": "172.18.0.9",
        "servicelab-outside": "172.18.0.10",
        "servicelab-internet": "172.18.0.11",
    }
    assert reads.reasons == {
        "servicelab-partner": "",
        "servicelab-outside": "",
        "servicelab-internet": "container 'servicelab-internet' is not running",
    }
    assert _calls(docker) == [
        "inspect servicelab-partner servicelab-outside servicelab-internet",
        "network inspect kind",
    ]


def test_a_missing_container_is_asked_about_one_by_one(docker: Path) -> None:
    known = json.loads((docker / "containers.json").read_text())
    del known["servicelab-outside"]
    (docker / "containers.json").write_text(json.dumps(known))
    reads = read_docker()
    assert reads.ips == {"servicelab-partner": "172.18.0.9", "servicelab-internet": "172.18.0.11"}
    assert reads.reasons == {}  # the vantage points find out their state themselves
    assert len(_calls(docker)) == 5


def _kind_nodes() -> FakeKube:
    node = {
        "metadata": {"name": "servicelab-worker", "labels": {}},
        "spec": {"providerID": "kind://docker/servicelab/servicelab-worker"},
        "status": {"addresses": [{"type": "InternalIP", "address": "172.18.0.3"}]},
    }
    return FakeKube({"nodes": [node]})


def test_discover_takes_what_was_read_ahead(docker: Path) -> None:
    read_docker_ahead()
    read_docker_ahead()  # once per process until discover() takes it
    found = discover(_kind_nodes())  # type: ignore[arg-type]
    assert found.partner_ip == "172.18.0.9"
    assert found.container_reasons["servicelab-outside"] == ""
    assert found.variables["STATIC_IP"].startswith("172.18.255.")
    assert len(_calls(docker)) == 2  # the reads ahead, not a second time
    assert not facts._AHEAD


@pytest.mark.parametrize(
    ("entry", "is_kind"),
    [("kind-servicelab", True), (None, True), ("aks-class", False), ("kind-other", False)],
)
def test_kind_nodes_reached_under_another_clusters_name_are_not_the_lab_cluster(
    docker: Path, entry: str | None, is_kind: bool
) -> None:
    kube = _kind_nodes()
    kube.cluster_entry = entry
    found = discover(kube)  # type: ignore[arg-type]
    assert found.is_kind is is_kind
    assert (found.not_kind == "") is is_kind
    if not is_kind:
        assert f"'{entry}', not kind's 'kind-servicelab'" in found.not_kind
        assert _calls(docker) == []  # the outside containers are not looked for


def test_the_kind_cluster_is_named_by_the_nodes_provider_id() -> None:
    assert facts.kind_cluster_of([{"spec": {"providerID": "kind://docker/class-a/class-a-worker"}}]) == "class-a"
    assert facts.kind_cluster_of([{"spec": {"providerID": "azure:///subscriptions/x/vm-0"}}]) is None
    assert facts.kind_cluster_of([{"spec": {}}]) is None
    assert facts.kind_cluster_of([{"spec": {"providerID": "kind://docker"}}]) == ""


def test_not_a_kind_cluster_asks_docker_nothing(docker: Path) -> None:
    facts._AHEAD["docker"] = pending = facts.Future[DockerReads]()  # a read ahead that never ends
    found = discover(FakeKube({"nodes": []}))  # type: ignore[arg-type]
    assert found.container_reasons == {}
    assert not pending.done()
    assert not facts._AHEAD


def test_the_pod_network_is_read_from_the_nodes() -> None:
    nodes = [
        {"spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24", "fd00:10:244:1::/64"]}},
        {"spec": {"podCIDR": "10.244.0.0/24"}},  # a server that fills in only the old field
        {"spec": {}},  # a node not given a range (yet)
    ]
    assert _pod_cidrs(nodes) == ("10.244.0.0/24", "10.244.1.0/24", "fd00:10:244:1::/64")
