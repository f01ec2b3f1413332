"""`servicelab images save/load`: one tar with every image the labs need, for rooms without a registry."""

from __future__ import annotations

from pathlib import Path

from grader import images
from grader._run import run
from grader.cluster import docker, versions
from grader.cluster.tools import offline_build


def bundle_images() -> list[str]:
    """The lab images, the cluster's add-on images, and (when built here) the offline node image."""
    build = offline_build()
    if build and docker.has_image(build.node_image):
        return [build.node_image, *images.LAB_IMAGES]
    return [versions.ONLINE_NODE_IMAGE, *images.LAB_IMAGES, versions.TRAEFIK_IMAGE,
            f"quay.io/metallb/controller:{versions.METALLB}", f"quay.io/metallb/speaker:{versions.METALLB}"]


def save(target: Path) -> list[str]:
    refs = bundle_images()
    for ref in refs:
        if not docker.has_image(ref):
            docker.pull(ref)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    run(["docker", "save", "-o", str(partial), *refs], timeout=1800)
    partial.rename(target)
    return refs


def load(source: Path) -> str:
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such file (make one with 'servicelab images save FILE')")
    return run(["docker", "load", "-i", str(source)], timeout=1800).stdout.strip()
