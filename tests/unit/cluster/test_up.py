"""Cluster setup logic that needs no cluster: addresses, configs, the internet container, tool lookup."""

from __future__ import annotations

import hashlib
import ipaddress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests
import yaml

from grader.base import names
from grader.base.images import BUSYBOX
from grader.base.run import Result
from grader.cluster import docker, doctor, metallb, tools, up, vantage, versions
from grader.cluster.net import LabAddresses, class_bands, lab_addresses
from grader.cluster.preflight import Preflight
from grader.cluster.readiness import NodeBoot, nodes_ready, rollout_ready, settled_since_boot
from grader.cluster.sources import fixture


@pytest.mark.parametrize(
    ("subnet", "public", "internal", "static"),
    [
        ("172.18.0.0/16", "172.18.255.200-172.18.255.219", "172.18.255.220-172.18.255.239", "172.18.255.210"),
        ("192.168.16.0/20", "192.168.31.200-192.168.31.219", "192.168.31.220-192.168.31.239", "192.168.31.210"),
        ("10.5.7.0/24", "10.5.7.200-10.5.7.219", "10.5.7.220-10.5.7.239", "10.5.7.210"),
    ],
)
def test_pools_are_carved_from_the_top_of_the_kind_subnet(subnet: str, public: str, internal: str, static: str) -> None:
    addresses = lab_addresses(subnet)
    assert addresses.public_range == public
    assert addresses.internal_range == internal
    assert addresses.static_ip == static
    assert addresses.internal_first <= addresses.internal_static_ip <= addresses.internal_last


def test_the_internet_container_has_no_route_to_the_internal_pool_nor_a_classrooms_internal_band() -> None:
    _, command, _, _ = vantage._spec(vantage.INTERNET_CONTAINER, lab_addresses("172.18.0.0/16"))
    routes = [part.strip() for part in command[2].split(";") if "blackhole" in part]
    covered = {str(address) for route in routes for address in ipaddress.ip_network(route.rsplit(" ", 1)[-1])}
    band = class_bands("172.18.0.0/16")
    assert set(band.internal) | {f"172.18.255.{i}" for i in range(220, 240)} == covered
    assert not covered & set(band.static)  # a student's STATIC_IP is public: the internet reaches it
    _, small, _, _ = vantage._spec(vantage.INTERNET_CONTAINER, lab_addresses("10.5.7.0/24"))
    assert small[2].count("blackhole") == 2  # the internal pool only: no classroom band fits a /24


def test_the_addresses_a_pool_holds_are_found_in_ranges_and_cidrs() -> None:
    pools = [
        {"spec": {"addresses": ["172.18.254.10-172.18.254.12", "172.18.253.7/32"]}},
        {"spec": {"addresses": ["fc00::/126"]}},
        {"spec": {}},
    ]
    candidates = ["172.18.254.9", "172.18.254.10", "172.18.254.12", "172.18.254.13", "172.18.253.7", "fc00::3"]
    assert metallb.in_pools(pools, candidates) == {"172.18.254.10", "172.18.254.12", "172.18.253.7", "fc00::3"}
    assert metallb.in_pools([], candidates) == set()


def test_a_subnet_too_small_for_the_pools_is_refused() -> None:
    with pytest.raises(ValueError, match="too small"):
        lab_addresses("172.18.0.0/25")


def test_kind_config_names_the_cluster_and_keeps_the_shape() -> None:
    config = yaml.safe_load(up.kind_config("class-a"))
    assert config["name"] == "class-a"
    assert [node["role"] for node in config["nodes"]] == ["control-plane", "worker", "worker"]
    ports = {m["containerPort"]: m["hostPort"] for m in config["nodes"][0]["extraPortMappings"]}
    assert ports == {30007: 30007, 30080: 30080}  # containerPort == hostPort == nodePort
    assert "failCgroupV1: false" in config["kubeadmConfigPatches"][0]


def test_metallb_pools_keep_the_static_ips_out_of_every_auto_assign_pool() -> None:
    addresses = lab_addresses("172.18.0.0/16")
    docs = list(yaml.safe_load_all(metallb.pools_manifest(addresses)))
    pools = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "IPAddressPool"}
    assert pools["public"] == {
        "addresses": ["172.18.255.200-172.18.255.209", "172.18.255.211-172.18.255.219"],
        "autoAssign": True,
    }
    assert pools["internal"] == {
        "addresses": ["172.18.255.220-172.18.255.229", "172.18.255.231-172.18.255.239"],
        "autoAssign": False,
    }
    assert pools["static"] == {"addresses": ["172.18.255.210/32"], "autoAssign": False}
    assert pools["internal-static"] == {"addresses": ["172.18.255.230/32"], "autoAssign": False}
    assert addresses.internal_static_ip == "172.18.255.230"
    advertisement = next(d for d in docs if d["kind"] == "L2Advertisement")
    assert advertisement["spec"]["ipAddressPools"] == list(metallb.POOLS)


def test_a_static_ip_at_the_edge_of_its_span_leaves_one_range() -> None:
    edge = LabAddresses("10.0.0.1", "10.0.0.5", "10.0.0.11", "10.0.0.15", "10.0.0.1", "10.0.0.15")
    assert edge.public_auto_ranges == ["10.0.0.2-10.0.0.5"]
    assert edge.internal_ranges == ["10.0.0.11-10.0.0.14"]


def test_the_internal_translation_names_this_clusters_internal_static_ip() -> None:
    text = fixture("aks/annotations.yaml", INTERNAL_STATIC_IP="172.18.255.230")
    assert "'172.18.255.230'" in text
    assert "${" not in text


def test_internet_container_blackholes_exactly_the_internal_pool() -> None:
    addresses = lab_addresses("172.18.0.0/16")
    _image, command, _aliases, options = vantage._spec(names.INTERNET_CONTAINER, addresses)
    assert options == ["--init", "--cap-add", "NET_ADMIN"]
    script = command[-1]
    assert "ip route add blackhole 172.18.255.220/30" in script
    assert "ip route add blackhole 172.18.255.224/28" in script
    assert "255.200" not in script  # the public pool stays reachable


@pytest.mark.parametrize(
    ("labels", "running", "made"),
    [
        ({vantage.REVISION_LABEL: "2"}, True, False),  # current: left alone
        ({}, True, True),  # made before the revision label (sleep as PID 1, no init): made again
        ({vantage.REVISION_LABEL: "1"}, True, True),
        ({vantage.REVISION_LABEL: "2"}, False, True),  # stopped
    ],
)
def test_an_outside_client_from_an_older_spec_is_made_again(
    monkeypatch: pytest.MonkeyPatch, labels: dict[str, str], running: bool, made: bool
) -> None:
    calls: list[tuple[str, ...]] = []
    state = {"State": {"Running": running}, "Config": {"Labels": labels}}
    monkeypatch.setattr(vantage.docker, "container_state", lambda name: state)
    monkeypatch.setattr(vantage.docker, "remove_container", lambda name: calls.append(("rm", name)))
    monkeypatch.setattr(vantage.docker, "has_image", lambda ref: True)
    monkeypatch.setattr(
        vantage.docker, "run_container", lambda name, image, args, aliases, options: calls.append(("run", *options))
    )
    assert vantage.ensure(names.OUTSIDE_CONTAINER, lab_addresses("172.18.0.0/16")) is made
    if made:
        assert calls == [("rm", names.OUTSIDE_CONTAINER), ("run", "--label", f"{vantage.REVISION_LABEL}=2", "--init")]
    else:
        assert calls == []


def test_node_image_prefers_the_request_then_the_offline_image(monkeypatch: pytest.MonkeyPatch) -> None:
    assert up.node_image("my/node:v1") == "my/node:v1"
    monkeypatch.setattr(up.tools, "offline_build", lambda: None)
    monkeypatch.setattr(up.docker, "has_image", lambda ref: False)
    assert up.node_image(None) == versions.ONLINE_NODE_IMAGE
    # loaded from a bundle: the offline node image's stable name
    monkeypatch.setattr(up.docker, "has_image", lambda ref: ref == versions.OFFLINE_NODE_IMAGE)
    assert up.node_image(None) == versions.OFFLINE_NODE_IMAGE
    # built here: the tag the build's record names (a hash of all the node's inputs)
    built = up.tools.OfflineBuild("servicelab.local/node:v1.36.3-0123456789ab", [], Path("/bin"), {})
    monkeypatch.setattr(up.tools, "offline_build", lambda: built)
    monkeypatch.setattr(up.docker, "has_image", lambda ref: True)
    assert up.node_image(None) == built.node_image


def test_kind_download_is_refused_when_the_checksum_differs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    class Answer:
        def __init__(self, content: bytes) -> None:
            self.content = content
            self.text = content.decode()

    published = hashlib.sha256(b"the real kind").hexdigest()
    answers = {
        versions.KIND_RELEASE_URL + ".sha256sum": Answer(f"{published}  kind-linux-amd64\n".encode()),
        versions.KIND_RELEASE_URL: Answer(b"something else"),
    }
    monkeypatch.setattr(requests, "get", lambda url, timeout: answers[url])
    monkeypatch.setattr(tools.platform, "system", lambda: "Linux")
    monkeypatch.setattr(tools.platform, "machine", lambda: "x86_64")
    with pytest.raises(tools.EnvError, match="sha256"):
        tools._download_kind(tmp_path / "kind")
    assert not (tmp_path / "kind").exists()
    answers[versions.KIND_RELEASE_URL] = Answer(b"the real kind")
    assert tools._download_kind(tmp_path / "kind").read_bytes() == b"the real kind"


class FakeKube:
    def __init__(self, objects: dict[tuple[str, str], dict[str, object]], nodes: list[dict[str, object]]) -> None:
        self.objects = objects
        self.nodes = nodes

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, object] | None:
        return self.objects.get((kind, name))

    def list(self, kind: str) -> list[dict[str, object]]:
        return self.nodes


def test_rollout_readiness_reports_what_it_saw() -> None:
    kube = FakeKube(
        {("deployment", "traefik"): {"spec": {"replicas": 1}, "status": {"readyReplicas": 0, "updatedReplicas": 1}}}, []
    )
    ready, state = rollout_ready(kube, "traefik", "deployment", "traefik")  # type: ignore[arg-type]
    assert ready is None
    assert state == "deployment traefik/traefik: 0/1 ready"
    ready, state = rollout_ready(kube, "x", "daemonset", "speaker")  # type: ignore[arg-type]
    assert ready is None
    assert "does not exist" in state


def test_nodes_ready_counts_only_ready_nodes() -> None:
    def node(name: str, ready: str) -> dict[str, object]:
        return {"metadata": {"name": name}, "status": {"conditions": [{"type": "Ready", "status": ready}]}}

    kube = FakeKube({}, [node("a", "True"), node("b", "False"), node("c", "True")])
    assert nodes_ready(kube, 3) == (None, "2/3 nodes Ready (want 3)")  # type: ignore[arg-type]
    assert nodes_ready(kube, 2)[0] == ["a", "c"]  # type: ignore[arg-type]


BOOT = datetime(2026, 12, 4, 16, 33, 8, 20447, tzinfo=UTC)  # docker's StartedAt of the node containers


class RestartedCluster:
    """What the API server holds of a cluster whose node containers just restarted."""

    def __init__(self, heartbeat: str, ip: str, pods: list[dict[str, Any]]) -> None:
        ready = {"type": "Ready", "status": "True", "lastHeartbeatTime": heartbeat}
        self.node = {
            "metadata": {"name": "w1"},
            "status": {"conditions": [ready], "addresses": [{"type": "InternalIP", "address": ip}]},
        }
        self.pods = pods

    def list(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        return [self.node] if kind == "nodes" else self.pods


def _pod(started: str | None, ready: str = "True", phase: str = "Running") -> dict[str, Any]:
    state = {"running": {"startedAt": started}} if started else {"waiting": {"reason": "CrashLoopBackOff"}}
    return {
        "metadata": {"name": "speaker-x"},
        "spec": {"nodeName": "w1"},
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": ready}],
            "containerStatuses": [{"name": "speaker", "state": state}],
        },
    }


@pytest.mark.parametrize(
    ("heartbeat", "ip", "pod", "why"),
    [
        ("2026-12-04T15:58:15Z", "172.18.0.3", _pod("2026-12-04T16:33:40Z"), "has not reported Ready since"),
        ("2026-12-04T16:33:17Z", "172.18.0.2", _pod("2026-12-04T16:33:40Z"), "is not yet its address 172.18.0.3"),
        ("2026-12-04T16:33:17Z", "172.18.0.3", _pod("2026-12-04T15:58:20Z"), "from before the node restarted"),
        ("2026-12-04T16:33:17Z", "172.18.0.3", _pod(None), "container speaker is not running"),
        ("2026-12-04T16:33:17Z", "172.18.0.3", _pod("2026-12-04T16:33:40Z", ready="False"), "not Ready"),
    ],
)
def test_a_restarted_cluster_is_not_settled_while_the_api_holds_the_last_boot(
    heartbeat: str, ip: str, pod: dict[str, Any], why: str
) -> None:
    kube = RestartedCluster(heartbeat, ip, [pod])
    settled, state = settled_since_boot(kube, {"w1": NodeBoot(BOOT, "172.18.0.3")}, ["metallb-system"])  # type: ignore[arg-type]
    assert settled is None
    assert why in state


def test_a_restarted_cluster_settles_once_all_is_from_this_boot() -> None:
    pods = [_pod("2026-12-04T16:33:08Z"), _pod(None, ready="False", phase="Succeeded")]  # same second as the boot
    kube = RestartedCluster("2026-12-04T16:33:17Z", "172.18.0.3", pods)
    settled, _ = settled_since_boot(kube, {"w1": NodeBoot(BOOT, "172.18.0.3")}, ["metallb-system"])  # type: ignore[arg-type]
    assert settled is True


def test_docker_times_keep_microseconds() -> None:
    assert docker.parse_docker_time("2026-12-04T16:33:08.020447911Z") == BOOT
    assert docker.parse_docker_time("2026-12-04T16:33:08Z") == BOOT.replace(microsecond=0)


class _StoppedKind:
    """A kind cluster whose node containers stopped; `made` records a delete or a create."""

    made: ClassVar[list[str]] = []

    def __init__(self, binary: str, name: str) -> None:
        self.name, self.context = name, f"kind-{name}"

    def exists(self) -> bool:
        return True

    def node_containers(self) -> list[str]:
        return ["servicelab-worker", "servicelab-control-plane"]

    def delete(self) -> None:
        self.made.append("deleted")

    def create(self, image: str, config: str) -> None:
        self.made.append("created")


def _stopped_cluster(monkeypatch: pytest.MonkeyPatch, refuses: str | None) -> list[str]:
    running: set[str] = set()
    started: list[str] = []

    def state(name: str) -> dict[str, Any]:
        when = "2026-12-05T06:00:00.123456789Z"
        return {"State": {"Running": name in running, "StartedAt": when}, "NetworkSettings": {"Networks": {}}}

    def fake_run(argv: list[str], timeout: float, check: bool) -> Any:
        started.append(argv[-1])
        ok = argv[-1] != refuses
        if ok:
            running.add(argv[-1])
        return Result(argv, 0 if ok else 1, "", "")

    monkeypatch.setattr(up, "preflight", lambda: Preflight(kind_binary="kind"))
    monkeypatch.setattr(up, "Kind", _StoppedKind)
    monkeypatch.setattr(_StoppedKind, "made", [])
    monkeypatch.setattr(up, "node_image", lambda requested: "node:test")
    monkeypatch.setattr(up, "check_ports_free", lambda: None)
    monkeypatch.setattr(up.docker, "container_state", state)
    monkeypatch.setattr(up, "run", fake_run)
    return started


def test_a_stopped_cluster_is_started_control_plane_first_and_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    started = _stopped_cluster(monkeypatch, refuses=None)
    state = up.UpState()
    said = up._create_cluster(up.UpOptions(say=lambda line: None), state)
    assert started == ["servicelab-control-plane", "servicelab-worker"]
    assert said == "cluster 'servicelab' exists: started servicelab-worker, servicelab-control-plane"
    assert _StoppedKind.made == []
    assert set(state.boots) == {"servicelab-worker", "servicelab-control-plane"}  # waited out as a restart


def test_a_node_that_will_not_start_gets_the_cluster_made_again(monkeypatch: pytest.MonkeyPatch) -> None:
    _stopped_cluster(monkeypatch, refuses="servicelab-worker")
    said = up._create_cluster(up.UpOptions(say=lambda line: None), up.UpState())
    assert _StoppedKind.made == ["deleted", "created"]
    assert said.startswith("created (recreated)")


def test_current_spec_of_each_container() -> None:
    made_now = {"Config": {"Labels": {vantage.REVISION_LABEL: "2"}}}
    assert vantage.current(names.OUTSIDE_CONTAINER, made_now)
    assert not vantage.current(names.OUTSIDE_CONTAINER, {"Config": {"Labels": {}}})
    assert vantage.current(names.PARTNER_CONTAINER, made_now)
    assert not vantage.current(names.PARTNER_CONTAINER, {"Config": {"Labels": {}}})  # agnhost netexec: made again
    older_busybox = {"Config": {"Labels": {vantage.REVISION_LABEL: "2"}, "Image": "docker.io/library/busybox:1.36.1"}}
    assert not vantage.current(names.OUTSIDE_CONTAINER, older_busybox)  # Debian's 1.35 under that tag: made again
    assert vantage.current(names.OUTSIDE_CONTAINER, {**made_now, "Config": {**made_now["Config"], "Image": BUSYBOX}})


def test_doctor_names_an_outside_client_from_an_older_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    states = {
        names.OUTSIDE_CONTAINER: {"State": {"Running": True}, "Config": {"Labels": {}}},  # made before --init
        names.INTERNET_CONTAINER: {"State": {"Running": False}, "Config": {"Labels": {vantage.REVISION_LABEL: "2"}}},
        names.PARTNER_CONTAINER: {"State": {"Running": True}, "Config": {"Labels": {vantage.REVISION_LABEL: "2"}}},
    }
    monkeypatch.setattr(doctor.docker, "container_state", states.get)
    found = doctor._Doctor("servicelab", [])
    doctor._containers(found)
    (finding,) = found.findings
    assert not finding.ok
    assert finding.detail == "servicelab-outside made from an older spec; servicelab-internet not running"
    assert "older spec again" in finding.fix
