"""The offline build's content keys: a changed input rebuilds exactly what depends on it."""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[3] / "tools" / "offline-images"
sys.path.insert(0, str(TOOLS))

import components as c  # noqa: E402
import gobuild  # noqa: E402
import keys  # noqa: E402
from gobuild import GoProgram  # noqa: E402

from grader.cluster import versions  # noqa: E402

GO = "go1.26.8"
BUSYBOX = "busybox-key"
ETCD_IMAGE = f"registry.k8s.io/etcd:{c.PINS.etcd.lstrip('v')}-0"
METALLB_IMAGE = f"quay.io/metallb/controller:{c.PINS.metallb}"


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    """A copy of our own sources (netd, pause, netd.yaml), free to edit."""
    for name in ("netd", "pause"):
        shutil.copytree(TOOLS / name, tmp_path / name)
    shutil.copyfile(TOOLS / "netd.yaml", tmp_path / "netd.yaml")
    return tmp_path


def _keys(sources: Path, pins: c.Pins = c.PINS) -> keys.BuildKeys:
    return keys.compute(pins, sources, GO, BUSYBOX)


def test_netd_source_change_rebuilds_netd_not_kubernetes(sources: Path) -> None:
    before = _keys(sources)
    main = sources / "netd" / "main.go"
    main.write_text(main.read_text() + "\n// changed\n")
    after = _keys(sources)
    assert after.programs["netd"] != before.programs["netd"]
    assert after.programs["kubernetes"] == before.programs["kubernetes"]
    assert {k for k in before.programs if before.programs[k] != after.programs[k]} == {"netd"}
    assert after.images["servicelab.local/netd:v1.36.3-r1"] != before.images["servicelab.local/netd:v1.36.3-r1"]
    assert (
        after.images["registry.k8s.io/kube-apiserver:v1.36.3"]
        == before.images["registry.k8s.io/kube-apiserver:v1.36.3"]
    )
    assert after.node_image() != before.node_image()


def test_etcd_pin_changes_etcd_its_image_and_the_node_only(sources: Path) -> None:
    before = _keys(sources)
    after = _keys(sources, replace(c.PINS, etcd="v3.6.9"))
    assert after.programs["etcd"] != before.programs["etcd"]
    assert {k for k in before.programs if before.programs[k] != after.programs[k]} == {"etcd"}
    assert after.images["registry.k8s.io/etcd:3.6.9-0"] != before.images[ETCD_IMAGE]
    assert after.images[METALLB_IMAGE] == before.images[METALLB_IMAGE]
    assert after.programs["metallb"] == before.programs["metallb"]
    assert after.node_image() != before.node_image()


@pytest.mark.parametrize("pin", ["coredns", "pause", "crictl", "metallb", "traefik", "kind"])
def test_every_pin_reaches_the_node_tag(sources: Path, pin: str) -> None:
    before = _keys(sources)
    after = _keys(sources, replace(c.PINS, **{pin: getattr(c.PINS, pin) + ".1"}))
    assert after.programs[pin] != before.programs[pin]
    assert after.node_image() != before.node_image()


def test_node_packages_change_node_rootfs_and_tag_but_no_go_key(sources: Path) -> None:
    before = _keys(sources)
    after = _keys(sources, replace(c.PINS, node_packages=(*c.PINS.node_packages, "vim-tiny")))
    assert after.node_rootfs != before.node_rootfs
    assert after.node_image() != before.node_image()
    assert after.programs == before.programs
    assert after.images == before.images
    assert after.base == before.base


def test_pod_network_manifest_changes_the_node_tag_only(sources: Path) -> None:
    before = _keys(sources)
    (sources / "netd.yaml").write_text((sources / "netd.yaml").read_text() + "# changed\n")
    after = _keys(sources)
    assert (after.programs, after.images) == (before.programs, before.images)
    assert after.node_image() != before.node_image()


def test_same_inputs_same_keys_wherever_the_sources_are(sources: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(sources, elsewhere)
    assert _keys(sources) == _keys(elsewhere) == _keys(TOOLS)
    shuffled = replace(c.PINS, node_packages=tuple(reversed(c.PINS.node_packages)))
    assert _keys(sources, shuffled).node_image() == _keys(sources).node_image()


def test_go_key_ignores_dict_order_but_not_content(sources: Path) -> None:
    binaries = {"controller": "go.universe.tf/metallb/controller", "speaker": "go.universe.tf/metallb/speaker"}
    program = GoProgram(name="metallb", module="go.universe.tf/metallb", version="v0.15.2", binaries=binaries)
    reordered = replace(program, binaries=dict(reversed(binaries.items())))
    assert keys.go_key(program, GO) == keys.go_key(reordered, GO)
    assert keys.go_key(replace(program, ldflags="-s"), GO) != keys.go_key(program, GO)
    assert keys.go_key(program, "go1.27.0") != keys.go_key(program, GO)


KUBE_ROUTER_IMAGE = f"docker.io/cloudnativelabs/kube-router:{c.PINS.kube_router}"


def test_kube_router_pin_changes_kube_router_its_image_and_the_node_only(sources: Path) -> None:
    before = _keys(sources)
    after = _keys(sources, replace(c.PINS, kube_router="v2.10.1"))
    assert {k for k in before.programs if before.programs[k] != after.programs[k]} == {"kube-router"}
    assert "docker.io/cloudnativelabs/kube-router:v2.10.1" in after.images
    assert after.images[METALLB_IMAGE] == before.images[METALLB_IMAGE]
    assert after.node_image() != before.node_image()


def test_the_engine_image_is_preloaded_under_the_name_online_clusters_pull() -> None:
    tags = [tag for spec in c.image_specs() for tag in spec.tags]
    assert versions.KUBE_ROUTER_IMAGE == KUBE_ROUTER_IMAGE
    assert KUBE_ROUTER_IMAGE in tags
    assert "ipset" in c.PINS.base_packages  # its policy controller keeps addresses in ipsets


def test_a_replaced_dependency_enters_the_wrapper_and_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    upstream = tmp_path / "go.mod"
    upstream.write_text("module example.com/up\n\ngo 1.26.0\n")
    spec = {
        "Go": "1.26.0",
        "Require": [{"Path": "github.com/vishvananda/netlink", "Version": "v1.3.2-0.20260505210927-99e979749d3e"}],
        "Replace": [
            {
                "Old": {"Path": "github.com/vishvananda/netlink"},
                "New": {"Path": "example.com/fork", "Version": "v1.0.0"},
            },
            {"Old": {"Path": "example.com/other"}, "New": {"Path": "example.com/other", "Version": "v0.2.0"}},
        ],
    }
    monkeypatch.setattr(gobuild, "run", lambda argv, **_: json.dumps(spec))
    program = GoProgram(
        name="up",
        module="example.com/up",
        version="v1.0.0",
        binaries={"up": "example.com/up/cmd/up"},
        replaces={"github.com/vishvananda/netlink": "v1.3.2-0.20251022194116-03b8f90390d9"},
    )
    gomod = gobuild._wrapper_gomod(program, tmp_path)
    assert (
        "\tgithub.com/vishvananda/netlink => github.com/vishvananda/netlink v1.3.2-0.20251022194116-03b8f90390d9\n"
        in gomod
    )
    assert "example.com/fork" not in gomod  # ours wins over upstream's replace of the same module
    assert "\texample.com/other => example.com/other v0.2.0\n" in gomod
    plain = replace(program, replaces={})
    assert keys.go_key(program, GO) != keys.go_key(plain, GO)
    assert "\tgithub.com/vishvananda/netlink => example.com/fork v1.0.0\n" in gobuild._wrapper_gomod(plain, tmp_path)
