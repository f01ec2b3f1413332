"""Build every image the labs need from Go modules and Debian packages, for machines with no registry.

Ordered steps; every artefact is cached under a hash of all its inputs (keys.py), so a second run
takes seconds and a changed input rebuilds exactly what depends on it. Writes
<cache>/offline-<RECIPE>.json, which `servicelab up` reads; each step's command output goes to
<cache>/logs/<step>.log, and a failure is one line naming the step and that log.

    python3 tools/offline-images/build.py            (or: nox -s offline-images)
    python3 tools/offline-images/build.py --classroom    the classroom's images instead (classroom.py)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import urllib.request
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import classroom
import components as c
import images
import node
from gobuild import build, module_dir
from keys import BuildKeys, ClassroomKeys, classroom_keys, compute, file_key
from rootfs import ensure_base_image, ensure_rootfs_image, ensure_which
from steps import ARTEFACTS, StepFailed, artefact, cache_root, docker_has_image, elapsed_s, log, run, set_log_dir, step

REPO = c.HERE.parent.parent


def _collect_manifests(out: Path) -> dict[str, str]:
    """Upstream install manifests, read from their Go modules (never committed to our repo)."""
    out.mkdir(parents=True, exist_ok=True)
    metallb = out / f"metallb-native-{c.PINS.metallb}.yaml"
    if not metallb.exists():
        src = module_dir("go.universe.tf/metallb", c.PINS.metallb) / "config/manifests/metallb-native.yaml"
        shutil.copyfile(src, metallb)
    gateway = out / f"gateway-api-standard-{c.PINS.gateway_api}.yaml"
    if not gateway.exists():
        standard = module_dir("sigs.k8s.io/gateway-api", c.PINS.gateway_api) / "config/crd/standard"
        gateway.write_text("\n---\n".join(path.read_text() for path in sorted(standard.glob("*.yaml"))))
    return {"metallb": str(metallb), "gateway-api": str(gateway)}


def _prerequisites() -> None:
    run([str(REPO / "tools/docker-engine/ensure-docker")])
    ensure_which("debootstrap", "debootstrap")


def _busybox(cache: Path, deb: c.BusyboxDeb) -> Path:
    """Debian's static busybox of the pinned version, from its .deb (checked by SHA256), kept under the cache."""
    out = cache / f"busybox-{deb.version}-{deb.sha256[:12]}" / "busybox"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    package = out.parent / "busybox-static.deb"
    with urllib.request.urlopen(deb.url, timeout=120) as answer:  # a pinned https URL, checked below
        package.write_bytes(answer.read())
    digest = hashlib.sha256(package.read_bytes()).hexdigest()
    if digest != deb.sha256:
        package.unlink()
        raise StepFailed(f"{deb.url}: SHA256 {digest}, pinned {deb.sha256}")
    unpacked = out.parent / "unpacked"
    run(["dpkg-deb", "-x", str(package), str(unpacked)])
    shutil.copyfile(unpacked / "usr/bin/busybox", out)
    out.chmod(0o755)
    shutil.rmtree(unpacked)
    package.unlink()
    return out


def _go_programs(cache: Path, keys: BuildKeys, busybox: Path) -> dict[str, Path]:
    """Every Go program, each in the folder of its own key; stale folders of an older key are removed."""
    binaries = {}
    for name, program in c.programs().items():
        with step(f"go {name}"):
            bindir = build(program, cache, keys.programs[name])
        binaries.update({out: bindir / out for out in program.binaries})
    current = {f"go-{name}-{key}" for name, key in keys.programs.items()}
    for stale in sorted(path for path in cache.glob("go-*-*") if path.name not in current):
        log(f"removing {stale.name}: no current input has its key")
        shutil.rmtree(stale)
    binaries["busybox"] = busybox
    return binaries


def _component_images(work: Path, binaries: dict[str, Path], keys: BuildKeys) -> list[str]:
    """Build every image whose label is not its current key; return every tag the node preloads."""
    base = ""
    for spec in c.image_specs():
        key = keys.images[spec.tags[0]]
        if images.is_current(spec, key):
            log(f"image {spec.tags[0]}: present (key {key})")
            artefact(reused=True)
            continue
        if not base:
            with step("base rootfs"):
                base = ensure_base_image(work, c.PINS.debian_suite, c.PINS.base_packages, keys.base)
        with step(f"image {spec.tags[0]}"):
            images.ensure_image(spec, base, binaries, work, key)
    return [tag for spec in c.image_specs() for tag in spec.tags]


def _node_image(work: Path, binaries: dict[str, Path], tags: list[str], keys: BuildKeys) -> str:
    node_image = keys.node_image()
    if docker_has_image(node_image):
        log(f"node image {node_image}: present")
        artefact(reused=True)
    else:
        artefact(reused=False)
        images_tar = work / "node-images.tar"
        images.save(tags, images_tar)
        kind_module = module_dir("sigs.k8s.io/kind", c.PINS.kind)
        node.assemble(work, kind_module, binaries, (images_tar, tags), (keys.node_rootfs, node_image))
        images_tar.unlink()
    # The stable name an image bundle carries and `servicelab up` falls back to: the newest build.
    run(["docker", "tag", node_image, c.NODE_ALIAS])
    return node_image


def _record(cache: Path, binaries: dict[str, Path], tags: list[str], keys: BuildKeys) -> Path:
    bin_dir = cache / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name in ("kind", "kubectl"):
        link = bin_dir / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(binaries[name])
    record = {
        "recipe": c.RECIPE,
        "kubernetes": c.PINS.kubernetes,
        "node_image": keys.node_image(),
        "images": tags,
        "bin_dir": str(bin_dir),
        "manifests": _collect_manifests(cache / f"manifests-{c.RECIPE}"),
        "keys": asdict(keys),
    }
    path = cache / f"offline-{c.RECIPE}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    _remember_run(cache)
    return path


def _remember_run(cache: Path) -> None:
    """Append this run's wall time and what it built or reused to <cache>/build-runs.json (the last 20), for
    `nox -s bench`: a run that reused nothing is the cold build time."""
    runs_file = cache / "build-runs.json"
    try:
        runs = json.loads(runs_file.read_text())
    except (OSError, ValueError):
        runs = []
    finished = datetime.now(UTC).isoformat(timespec="seconds")
    runs.append({"finished": finished, "seconds": round(elapsed_s(), 1), **ARTEFACTS})
    runs_file.write_text(json.dumps(runs[-20:], indent=2) + "\n")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="build.py", description="Build the images the labs need from source, cached (no registry needed)."
    )
    parser.add_argument(
        "--classroom",
        action="store_true",
        help="build the classroom's JupyterHub, single-user and grading images (classroom.py) instead of the lab"
        " cluster's",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cache = cache_root()
    set_log_dir(cache / "logs")
    log(f"cache: {cache} (command output: {cache / 'logs'})")
    with step("prerequisites"):
        _prerequisites()
    return _classroom(cache) if args.classroom else _lab_images(cache)


def _lab_images(cache: Path) -> int:
    work = cache / f"work-{c.RECIPE}"
    with step("content keys"):
        toolchain = run(["go", "env", "GOVERSION"], capture=True).strip()
        busybox = _busybox(cache, c.PINS.busybox_deb)
        keys = compute(c.PINS, c.HERE, toolchain, file_key(busybox))
    binaries = _go_programs(cache, keys, busybox)
    tags = _component_images(work, binaries, keys)
    with step("node image"):
        node_image = _node_image(work, binaries, tags, keys)
    with step("record"):
        record = _record(cache, binaries, tags, keys)
    log(f"done: node image {node_image}; {record}; put {cache / 'bin'} on PATH for kind and kubectl")
    return 0


def _classroom(cache: Path) -> int:
    """The hub, single-user and grading images; not the lab images, and not in build-runs.json (the lab build's cold
    time, which `nox -s bench` reads). Writes <cache>/classroom-<RECIPE>.json with their tags."""
    work = cache / f"work-classroom-{classroom.RECIPE}"
    with step("servicelab wheel"):
        wheel = classroom.build_servicelab_wheel(REPO, work)
    with step("content keys"):
        keys = classroom_keys(c.PINS.debian_suite, wheel)
    for image in classroom.images(c.PINS.debian_suite):
        tag = keys.tag(image.name)
        if docker_has_image(tag):  # its tag is its key: present means built from today's inputs
            log(f"image {tag}: present")
            artefact(reused=True)
            continue
        with step(f"{image.name} rootfs"):
            # Named by its content (suite and packages), not by the image: images alike share one.
            rootfs = ensure_rootfs_image(work, "classroom", image.suite, image.packages, keys.rootfs[image.name])
        folder = cache / f"{image.name}-{keys.install[image.name]}"
        with step(f"{image.name} install"):
            classroom.ensure_install(image, rootfs, folder, wheel if image.installs_servicelab else None)
        with step(f"image {image.name}"):
            classroom.ensure_image(image, rootfs, folder, tag, keys.images[image.name])
    with step("record"):
        _forget_stale_installs(cache, keys)
        record = _record_classroom(cache, keys, wheel)
    log(f"done: {', '.join(keys.tag(image.name) for image in classroom.images(c.PINS.debian_suite))}; {record}")
    return 0


def _forget_stale_installs(cache: Path, keys: ClassroomKeys) -> None:
    """Install folders of an older key: a venv each, hundreds of MB."""
    for name, key in keys.install.items():
        for stale in sorted(path for path in cache.glob(f"{name}-*") if path.name != f"{name}-{key}"):
            log(f"removing {stale.name}: no current input has its key")
            shutil.rmtree(stale)


def _record_classroom(cache: Path, keys: ClassroomKeys, wheel: Path) -> Path:
    record = {
        "recipe": classroom.RECIPE,
        "images": {image.name: keys.tag(image.name) for image in classroom.images(c.PINS.debian_suite)},
        "servicelab_wheel": wheel.name,
        "keys": asdict(keys),
    }
    path = cache / f"classroom-{classroom.RECIPE}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def cli() -> int:
    """main(), every failure one line: the step, what failed, and the step's log (steps.step)."""
    try:
        return main()
    except StepFailed as err:
        print(f"offline-images: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("offline-images: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(cli())
