"""`servicelab images save/load`: one file with every image and install manifest the labs need,
for classrooms without a registry or internet.

The file is a tar holding `images.tar` (docker save) and `manifests/` (MetalLB, Gateway API CRDs).
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
from pathlib import Path

from grader.base import images
from grader.base.run import run
from grader.cluster import docker, versions
from grader.cluster.sources import MANIFEST_KEYS, cached_manifest_path, upstream_manifest


def bundle_images() -> list[str]:
    """The lab images and a node image; the offline node image already holds the add-ons' images."""
    if docker.has_image(versions.OFFLINE_NODE_IMAGE):
        return [versions.OFFLINE_NODE_IMAGE, *images.LAB_IMAGES]
    return [
        versions.ONLINE_NODE_IMAGE,
        *images.LAB_IMAGES,
        versions.TRAEFIK_IMAGE,
        versions.KUBE_ROUTER_IMAGE,
        f"quay.io/metallb/controller:{versions.METALLB}",
        f"quay.io/metallb/speaker:{versions.METALLB}",
    ]


def save(target: Path) -> list[str]:
    refs = bundle_images()
    for ref in refs:
        if not docker.has_image(ref):
            docker.pull(ref)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        images_tar = Path(scratch) / "images.tar"
        run(["docker", "save", "-o", str(images_tar), *refs], timeout=1800)
        with tarfile.open(partial, "w") as bundle:
            bundle.add(images_tar, arcname="images.tar")
            for key in MANIFEST_KEYS:
                manifest = Path(scratch) / cached_manifest_path(key).name
                manifest.write_text(upstream_manifest(key))
                bundle.add(manifest, arcname=f"manifests/{manifest.name}")
    partial.rename(target)
    return refs


def load(source: Path) -> str:
    with tarfile.open(source) as bundle, tempfile.TemporaryDirectory() as scratch:
        names = bundle.getnames()
        if "images.tar" not in names:
            raise ValueError(f"{source} is not a servicelab images bundle (no images.tar inside)")
        for key in MANIFEST_KEYS:
            member = f"manifests/{cached_manifest_path(key).name}"
            if member in names:
                extracted = bundle.extractfile(member)
                assert extracted is not None
                target = cached_manifest_path(key)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(extracted.read())
        bundle.extract("images.tar", scratch, filter="data")
        images_tar = Path(scratch) / "images.tar"
        loaded = run(["docker", "load", "-i", str(images_tar)], timeout=1800).stdout.strip()
        shutil.rmtree(scratch, ignore_errors=True)
    return loaded
