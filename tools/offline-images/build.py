"""Build every image the labs need from Go modules and Debian packages, for machines with no registry.

Ordered actions; each one reuses what an earlier run left in the versioned cache, so a second run
takes seconds. Writes <cache>/offline-<RECIPE>.json, which `servicelab up` reads.

    python3 tools/offline-images/build.py            (or: nox -s offline-images)
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import components as c
import images
import node
from gobuild import build, module_dir
from rootfs import ensure_base_image, ensure_which
from steps import StepFailed, cache_root, docker_has_image, log, run

REPO = c.HERE.parent.parent


def _all_tags() -> list[str]:
    return [tag for spec in c.IMAGES for tag in spec.tags]


def _collect_manifests(out: Path) -> dict[str, str]:
    """Upstream install manifests, read from their Go modules (never committed to our repo)."""
    out.mkdir(parents=True, exist_ok=True)
    metallb = out / f"metallb-native-{c.METALLB}.yaml"
    if not metallb.exists():
        src = module_dir("go.universe.tf/metallb", c.METALLB) / "config/manifests/metallb-native.yaml"
        shutil.copyfile(src, metallb)
    gateway = out / f"gateway-api-standard-{c.GATEWAY_API}.yaml"
    if not gateway.exists():
        crds = sorted((module_dir("sigs.k8s.io/gateway-api", c.GATEWAY_API) / "config/crd/standard").glob("*.yaml"))
        gateway.write_text("\n---\n".join(path.read_text() for path in crds))
    return {"metallb": str(metallb), "gateway-api": str(gateway)}


def main() -> int:
    cache = cache_root()
    work = cache / f"work-{c.RECIPE}"
    log(f"cache: {cache}")
    run([str(REPO / "tools/docker-engine/ensure-docker")])
    ensure_which("debootstrap", "debootstrap")
    if not Path("/bin/busybox").exists():
        ensure_which("busybox", "busybox-static")

    bindirs = {key: build(program, cache) for key, program in c.PROGRAMS.items()}
    binaries = {name: bindirs[key] / name for key, program in c.PROGRAMS.items() for name in program.binaries}
    binaries["busybox"] = Path("/bin/busybox")

    tags = _all_tags()
    if not (docker_has_image(c.NODE_IMAGE) and all(docker_has_image(tag) for tag in tags)):
        base = ensure_base_image(work, c.DEBIAN_SUITE, c.BASE_PACKAGES, c.RECIPE)
        for spec in c.IMAGES:
            images.ensure_image(spec, base, binaries, work)
    if not docker_has_image(c.NODE_IMAGE):
        images_tar = work / "node-images.tar"
        images.save(tags, images_tar)
        node.assemble(work, module_dir("sigs.k8s.io/kind", c.KIND), binaries, images_tar, tags)
        images_tar.unlink()
    log(f"node image {c.NODE_IMAGE}: present")

    bin_dir = cache / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name in ("kind", "kubectl"):
        link = bin_dir / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(binaries[name])
    record = {
        "recipe": c.RECIPE,
        "kubernetes": c.KUBERNETES,
        "node_image": c.NODE_IMAGE,
        "images": tags,
        "bin_dir": str(bin_dir),
        "manifests": _collect_manifests(cache / f"manifests-{c.RECIPE}"),
    }
    (cache / f"offline-{c.RECIPE}.json").write_text(json.dumps(record, indent=2) + "\n")
    log(f"done: {cache / f'offline-{c.RECIPE}.json'}; put {bin_dir} on PATH for kind and kubectl")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except StepFailed as err:
        print(f"offline-images: {err}", file=sys.stderr)
        sys.exit(1)
