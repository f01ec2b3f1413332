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
