"""`classroom up`'s choices that read the cluster, and `classroom down`'s selection, on a fake API."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from _classroom_fakes import MARKED, FakeKube, _obj

from grader.base.errors import BadInput
from grader.classroom import deploy
from grader.classroom import manifests as m
from grader.classroom.values import Values
from grader.kube.client import Obj

VALUES = Values(students=("alice",), instructors=("teacher",), labs=("clusterip",))
DEFAULT = {"storageclass.kubernetes.io/is-default-class": "true"}


def _classes(*classes: Obj) -> Any:
    return FakeKube({"storageclasses.storage.k8s.io": list(classes)})


def test_auto_state_is_a_pvc_unless_the_class_is_the_in_tree_host_path_one() -> None:
    host_path = _obj("standard", provisioner="kubernetes.io/host-path")
    host_path["metadata"]["annotations"] = DEFAULT
    assert deploy.hub_state(_classes(host_path), VALUES, "v.yaml") == "emptyDir"
    local_path = _obj("standard", provisioner="rancher.io/local-path")
    local_path["metadata"]["annotations"] = DEFAULT
    assert deploy.hub_state(_classes(local_path), VALUES, "v.yaml") == "pvc"
    assert deploy.hub_state(_classes(), VALUES, "v.yaml") == "emptyDir"  # no default class
    named = replace(VALUES, storage_class="managed-csi")
    assert deploy.hub_state(_classes(_obj("managed-csi", provisioner="disk.csi.azure.com")), named, "v.yaml") == "pvc"


def test_a_pvc_no_class_can_serve_is_bad_input() -> None:
    host_path = _obj("standard", provisioner="kubernetes.io/host-path")
    host_path["metadata"]["annotations"] = DEFAULT
    with pytest.raises(BadInput, match="hub_state: pvc needs a default StorageClass") as caught:
        deploy.hub_state(_classes(host_path), replace(VALUES, hub_state="pvc"), "v.yaml")
    assert caught.value.file == "v.yaml"
    assert deploy.hub_state(_classes(host_path), replace(VALUES, hub_state="emptyDir"), "v.yaml") == "emptyDir"


def test_images_come_from_the_values_else_from_the_offline_build_on_kind(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SERVICELAB_BUILD_CACHE", str(tmp_path))
    named = replace(VALUES, hub_image="r/hub:1", singleuser_image="r/user:1")
    assert deploy._images(named, "v.yaml", on_kind=False) == ("r/hub:1", "r/user:1")
    with pytest.raises(BadInput, match="no image for the hub") as caught:
        deploy._images(VALUES, "v.yaml", on_kind=False)
    assert caught.value.fix == "name both images (in a registry the cluster pulls from) under images:"
    with pytest.raises(BadInput, match=r"build\.py --classroom"):
        deploy._images(VALUES, "v.yaml", on_kind=True)  # no build record here
    record = tmp_path / "classroom-c1.json"
    record.write_text('{"images": {"classroom-hub": "l/hub:2", "classroom-singleuser": "l/user:2"}}')
    assert deploy._images(VALUES, "v.yaml", on_kind=True) == ("l/hub:2", "l/user:2")
    assert deploy._images(replace(VALUES, hub_image="r/hub:1"), "v.yaml", on_kind=True) == ("r/hub:1", "l/user:2")


def test_down_deletes_only_what_carries_the_classroom_label_and_its_volume() -> None:
    kube = FakeKube(
        {
            "namespaces": [
                _obj(m.HUB_NAMESPACE, MARKED),
                _obj("servicelab-student-alice", MARKED),
                _obj("servicelab-student-someone", {}),  # same name pattern, not ours
                _obj("lab-nodeport", {"app.kubernetes.io/managed-by": "servicelab"}),
            ],
            "clusterroles": [_obj(m.WATCH_ROLE, MARKED), _obj("servicelab-classroom-other", {})],
            "validatingadmissionpolicies": [_obj(m.GUARD_POLICY, MARKED)],
            "persistentvolumes": [
                _obj("pvc-1", spec={"claimRef": {"namespace": m.HUB_NAMESPACE}}),
                _obj("pvc-2", spec={"claimRef": {"namespace": "elsewhere"}}),
            ],
        }
    )

    def provisioner_follows(kind: str, name: str, namespace: str | None = None) -> None:
        FakeKube.delete(kube, kind, name, namespace)
        if name == m.HUB_NAMESPACE:  # the provisioner deletes the claim's volume
            FakeKube.delete(kube, "persistentvolumes", "pvc-1")

    kube.delete = provisioner_follows  # type: ignore[method-assign]
    deleted = deploy.down(kube, say=lambda _: None, timeout_s=5)  # type: ignore[arg-type]
    assert sorted(deleted) == sorted(
        [
            f"namespace/{m.HUB_NAMESPACE}",
            "namespace/servicelab-student-alice",
            f"clusterroles/{m.WATCH_ROLE}",
            f"validatingadmissionpolicies/{m.GUARD_POLICY}",
        ]
    )
    left = {kind: [o["metadata"]["name"] for o in objs] for kind, objs in kube.objects.items()}
    assert left["namespaces"] == ["servicelab-student-someone", "lab-nodeport"]
    assert left["clusterroles"] == ["servicelab-classroom-other"]
    assert left["persistentvolumes"] == ["pvc-2"]


# --- static IPs -------------------------------------------------------------------------------------------------
STATIC_LABS = replace(VALUES, students=("alice", "bob"), labs=("static-ip", "nodeport"))
NODES = {
    "nodes": [{"metadata": {"name": "w"}, "status": {"addresses": [{"type": "InternalIP", "address": "172.18.0.5"}]}}]
}


def test_on_kind_each_student_gets_static_ips_from_the_class_bands_clear_of_every_container(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(deploy.docker, "kind_ipv4_subnet", lambda: "172.18.0.0/16")
    monkeypatch.setattr(deploy.docker, "kind_network_addresses", set)
    free = deploy.class_addresses(FakeKube(NODES), STATIC_LABS, "v.yaml", is_kind=True)  # type: ignore[arg-type]
    sitting = free["alice"]["STATIC_IP"]  # a container that came to sit on alice's address
    monkeypatch.setattr(deploy.docker, "kind_network_addresses", lambda: {sitting, "172.18.0.2"})
    given = deploy.class_addresses(FakeKube(NODES), STATIC_LABS, "v.yaml", is_kind=True)  # type: ignore[arg-type]
    assert set(given) == {"alice", "bob"}
    assert set(given["alice"]) == {"STATIC_IP", "INTERNAL_STATIC_IP"}
    assert given["alice"]["STATIC_IP"] != sitting
    assert given["alice"]["STATIC_IP"].startswith("172.18.254.")
    assert given["bob"]["INTERNAL_STATIC_IP"].startswith("172.18.253.")
    internal_only = replace(STATIC_LABS, labs=("internal-lb",))
    assert set(deploy.class_addresses(FakeKube(NODES), internal_only, "v.yaml", is_kind=True)["bob"]) == {  # type: ignore[arg-type]
        "INTERNAL_STATIC_IP"
    }
    assert deploy.class_addresses(FakeKube(NODES), VALUES, "v.yaml", is_kind=True) == {}  # type: ignore[arg-type]


def test_on_kind_an_address_another_pool_holds_is_no_students(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deploy.docker, "kind_ipv4_subnet", lambda: "172.18.0.0/16")
    monkeypatch.setattr(deploy.docker, "kind_network_addresses", set)
    free = deploy.class_addresses(FakeKube(NODES), STATIC_LABS, "v.yaml", is_kind=True)  # type: ignore[arg-type]
    alices = free["alice"]["STATIC_IP"]
    foreign = _obj("someones", {}, spec={"addresses": [f"{alices}-{alices}", "10.0.0.0/8"]})
    ours = _obj(m.CLASS_POOLS["STATIC_IP"], MARKED, spec={"addresses": [f"{free['bob']['STATIC_IP']}/32"]})
    kube = FakeKube({**NODES, "ipaddresspools.metallb.io": [foreign, ours]})
    given = deploy.class_addresses(kube, STATIC_LABS, "v.yaml", is_kind=True)  # type: ignore[arg-type]
    assert given["alice"]["STATIC_IP"] != alices  # MetalLB would refuse the class's pool over someone's
    assert given["bob"] == free["bob"]  # the class's own pool (an earlier `up`) takes nothing from the class


def test_on_kind_static_ips_in_the_values_file_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deploy.docker, "kind_ipv4_subnet", lambda: "172.18.0.0/16")
    given = replace(STATIC_LABS, static_ips={"alice": {"STATIC_IP": "20.0.0.1"}})
    with pytest.raises(BadInput, match="static_ips is given, but this is the kind lab cluster") as caught:
        deploy.class_addresses(FakeKube(NODES), given, "v.yaml", is_kind=True)  # type: ignore[arg-type]
    assert caught.value.file == "v.yaml"
    assert (caught.value.fix or "").startswith("remove static_ips")


def test_off_kind_the_values_file_must_give_every_student_the_addresses_the_labs_ask_for() -> None:
    listed = {
        "alice": {"STATIC_IP": "20.0.0.1", "INTERNAL_STATIC_IP": "10.224.0.40"},
        "bob": {"STATIC_IP": "20.0.0.2", "INTERNAL_STATIC_IP": "10.224.0.41", "NODE_PORT": "x"},
    }
    given = deploy.class_addresses(FakeKube(), replace(STATIC_LABS, static_ips=listed), "v.yaml", is_kind=False)  # type: ignore[arg-type]
    assert given == {
        "alice": {"STATIC_IP": "20.0.0.1", "INTERNAL_STATIC_IP": "10.224.0.40"},
        "bob": {"STATIC_IP": "20.0.0.2", "INTERNAL_STATIC_IP": "10.224.0.41"},
    }
    lacking = replace(STATIC_LABS, static_ips={"alice": listed["alice"], "bob": {"STATIC_IP": "20.0.0.2"}})
    with pytest.raises(BadInput, match="student bob has no INTERNAL_STATIC_IP in static_ips") as caught:
        deploy.class_addresses(FakeKube(), lacking, "v.yaml", is_kind=False)  # type: ignore[arg-type]
    err = caught.value
    assert err.file == "v.yaml"
    assert "static-ip" in err.message
    assert "Azure static IPs the instructor makes" in (err.rule or "")
    assert (err.fix or "").startswith("add static_ips: {bob: {STATIC_IP: <address>, INTERNAL_STATIC_IP: <address>}}")
    with pytest.raises(BadInput, match="student alice has no STATIC_IP or INTERNAL_STATIC_IP"):
        deploy.class_addresses(FakeKube(), STATIC_LABS, "v.yaml", is_kind=False)  # type: ignore[arg-type]
    assert deploy.class_addresses(FakeKube(), VALUES, "v.yaml", is_kind=False) == {}  # type: ignore[arg-type]


def test_down_deletes_the_class_pools_in_metallbs_namespace_and_nothing_else_there() -> None:
    kube = FakeKube(
        {
            "ipaddresspools.metallb.io": [_obj("servicelab-classroom-static", MARKED), _obj("static", {})],
            "l2advertisements.metallb.io": [_obj(m.CLASS_ADVERTISEMENT, MARKED), _obj("servicelab", {})],
        }
    )
    deleted = deploy.down(kube, say=lambda _: None, timeout_s=5)  # type: ignore[arg-type]
    assert sorted(deleted) == [
        "ipaddresspools.metallb.io/metallb-system/servicelab-classroom-static",
        f"l2advertisements.metallb.io/metallb-system/{m.CLASS_ADVERTISEMENT}",
    ]
    left = {kind: [o["metadata"]["name"] for o in objs] for kind, objs in kube.objects.items()}
    assert left == {"ipaddresspools.metallb.io": ["static"], "l2advertisements.metallb.io": ["servicelab"]}
