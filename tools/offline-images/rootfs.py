"""Debian root filesystems made with debootstrap and imported as docker images (no registry)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from steps import docker_has_image, log, run

MIRROR = "http://deb.debian.org/debian"


def rootfs_tag(kind: str, suite: str, packages: tuple[str, ...], recipe: str) -> str:
    digest = hashlib.sha256(" ".join((suite, recipe, *sorted(packages))).encode()).hexdigest()[:12]
    return f"servicelab.local/rootfs-{kind}:{suite}-{digest}"


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


def import_rootfs(target: Path, tag: str, changes: tuple[str, ...] = ()) -> None:
    """docker import the folder as one layer."""
    tar = subprocess.Popen(["tar", "--numeric-owner", "-C", str(target), "-c", "."], stdout=subprocess.PIPE)
    argv = ["docker", "import"]
    for change in changes:
        argv += ["--change", change]
    assert tar.stdout is not None
    try:
        subprocess.run([*argv, "-", tag], stdin=tar.stdout, check=True, stdout=subprocess.DEVNULL)
    finally:
        tar.stdout.close()
        tar.wait()
    if tar.returncode != 0:
        raise RuntimeError(f"tar of {target} exited {tar.returncode}")


def ensure_base_image(work: Path, suite: str, packages: tuple[str, ...], recipe: str) -> str:
    """The small Debian base every component image is built on."""
    tag = rootfs_tag("base", suite, packages, recipe)
    if docker_has_image(tag):
        log(f"base image {tag}: present")
        return tag
    target = work / "rootfs-base"
    log(f"debootstrap {suite} base rootfs ({len(packages)} packages)")
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
