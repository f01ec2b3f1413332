"""Debian root filesystems made with debootstrap and imported as docker images (no registry)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from steps import StepFailed, artefact, docker_has_image, log, run

MIRROR = "http://deb.debian.org/debian"
# Bump when debootstrap's use here changes; part of every rootfs key (keys.rootfs_key).
RECIPE = "d1"


def rootfs_tag(kind: str, suite: str, key: str) -> str:
    """key: keys.rootfs_key of the suite and package list."""
    return f"servicelab.local/rootfs-{kind}:{suite}-{key}"


def debootstrap(target: Path, suite: str, packages: tuple[str, ...]) -> None:
    """Make a minbase rootfs with packages in target (a fresh folder)."""
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    run(["debootstrap", "--variant=minbase", f"--include={','.join(packages)}", suite, str(target), MIRROR])
    for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for path in (target / leftover).glob("*"):
            if path.is_file():
                path.unlink()


def import_rootfs(target: Path, tag: str) -> None:
    """docker import the folder as one layer."""
    tar = subprocess.Popen(["tar", "--numeric-owner", "-C", str(target), "-c", "."], stdout=subprocess.PIPE)
    assert tar.stdout is not None
    try:
        run(["docker", "import", "-", tag], stdin=tar.stdout, capture=True)
    finally:
        tar.stdout.close()
        tar.wait()
    if tar.returncode != 0:
        raise StepFailed(f"tar of {target} exited {tar.returncode}")


def ensure_base_image(work: Path, suite: str, packages: tuple[str, ...], key: str) -> str:
    """The small Debian base every component image is built on."""
    return ensure_rootfs_image(work, "base", suite, packages, key)


def ensure_rootfs_image(work: Path, kind: str, suite: str, packages: tuple[str, ...], key: str) -> str:
    """A Debian rootfs image named by its kind and key (keys.rootfs_key); made only when absent."""
    tag = rootfs_tag(kind, suite, key)
    if docker_has_image(tag):
        log(f"{kind} image {tag}: present")
        artefact(reused=True)
        return tag
    artefact(reused=False)
    target = work / f"rootfs-{kind}"
    log(f"debootstrap {suite} {kind} rootfs ({len(packages)} packages)")
    debootstrap(target, suite, packages)
    import_rootfs(target, tag)
    shutil.rmtree(target)
    return tag


def ensure_which(program: str, package: str) -> None:
    if shutil.which(program) is None:
        log(f"installing Debian package {package} (for {program})")
        env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        run(["apt-get", "update", "-qq"], env=env)  # a new machine's package lists may be stale
        run(["apt-get", "install", "-y", "-qq", package], env=env)
