"""Content keys: every cached artefact of the offline build is named by a hash of all its inputs.

A changed input (a pin, a package list, one of our sources, a recipe) changes the key of exactly
the artefacts made from it, and of those made from them: the Go program, then its images, then the
node image that preloads them. Pure: reads source files, runs nothing.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import classroom
import components as c
import gobuild
import images
import node
import rootfs
from components import ImageSpec, Pins
from gobuild import GoProgram

_LENGTH = 16  # hex digits: 64 bits, plenty for a cache of a few dozen artefacts


def digest(*parts: object) -> str:
    """Hash of JSON-able parts; dicts hash the same in any order."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:_LENGTH]


def file_key(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:_LENGTH]


def tree_key(folder: Path) -> dict[str, str]:
    """Every file's content by its path inside folder (not where the folder is)."""
    files = sorted(path for path in folder.rglob("*") if path.is_file())
    return {path.relative_to(folder).as_posix(): file_key(path) for path in files}


def go_key(program: GoProgram, toolchain: str) -> str:
    """Everything `gobuild.build` reads, and the Go toolchain that compiles it."""
    parts: list[object] = [
        "go",
        gobuild.RECIPE,
        toolchain,
        program.module,
        program.version,
        program.ldflags,
        program.binaries,
        program.staging_version,
        program.extra_requires,
        {folder: tree_key(source) for folder, source in program.local_packages.items()},
    ]
    if program.replaces:  # only when set: a program without one keeps its key, and its cache
        parts.append(program.replaces)
    return digest(*parts)


def rootfs_key(suite: str, packages: tuple[str, ...]) -> str:
    return digest("rootfs", rootfs.RECIPE, rootfs.MIRROR, suite, sorted(set(packages)))


def image_key(spec: ImageSpec, binary_key: str, base_key: str | None) -> str:
    """The image's spec, the key of the program (or file) it holds and of the base it is built on."""
    return digest("image", images.RECIPE, asdict(spec), binary_key, base_key)


@dataclass(frozen=True)
class NodeInputs:
    """What the node image is made of (node.assemble)."""

    kubernetes: str  # the version written into /kind/version
    pause: str
    kind: str  # version of the kind module whose base files the node takes
    binaries: dict[str, str]  # kubelet, kubeadm, kubectl, crictl -> their program's key
    rootfs: str  # the node rootfs key
    pod_network: str  # the netd.yaml manifest as written into the node
    setup_script: str
    changes: tuple[str, ...]
    preloaded: dict[str, str]  # every preloaded image tag -> its image key


def node_key(inputs: NodeInputs) -> str:
    return digest("node", node.RECIPE, asdict(inputs))


@dataclass(frozen=True)
class BuildKeys:
    programs: dict[str, str]  # PROGRAMS key -> go_key
    base: str
    node_rootfs: str
    images: dict[str, str]  # an image's first tag -> image_key
    node: str

    def node_image(self, pins: Pins = c.PINS) -> str:
        """The node image's tag: it changes whenever any input of the node does."""
        return f"servicelab.local/node:{pins.kubernetes}-{self.node[:12]}"


def compute(pins: Pins, sources: Path, toolchain: str, busybox: str) -> BuildKeys:
    """Keys of every artefact for these pins, our sources in `sources`, a Go toolchain version and
    the busybox binary's file_key."""
    programs = {name: go_key(program, toolchain) for name, program in c.programs(pins, sources).items()}
    base = rootfs_key(pins.debian_suite, pins.base_packages)
    specs = c.image_specs(pins)
    image_keys = {spec.tags[0]: _spec_key(spec, programs, base, busybox) for spec in specs}
    node_rootfs = rootfs_key(pins.debian_suite, pins.node_packages)
    inputs = NodeInputs(
        kubernetes=pins.kubernetes,
        pause=pins.pause,
        kind=pins.kind,
        binaries={name: programs["crictl" if name == "crictl" else "kubernetes"] for name in node.NODE_BINARIES},
        rootfs=node_rootfs,
        pod_network=node.pod_network(sources, c.netd_tag(pins)),
        setup_script=node.SETUP_SCRIPT,
        changes=node.NODE_CHANGES,
        preloaded={tag: image_keys[spec.tags[0]] for spec in specs for tag in spec.tags},
    )
    return BuildKeys(programs, base, node_rootfs, image_keys, node_key(inputs))


def _spec_key(spec: ImageSpec, programs: dict[str, str], base: str, busybox: str) -> str:
    if spec.program == "busybox":
        return image_key(spec, busybox, None)  # FROM scratch: no base
    return image_key(spec, programs[spec.program], base)


def wheel_key(wheel: Path) -> str:
    """A wheel's content: every member's name and bytes (RECORD aside, which only lists them), not the zip's
    timestamps, so the same checkout built twice has the same key."""
    with zipfile.ZipFile(wheel) as archive:
        members = {
            info.filename: hashlib.sha256(archive.read(info)).hexdigest()
            for info in archive.infolist()
            if not info.filename.endswith(".dist-info/RECORD")
        }
    return digest("wheel", wheel.name, members)


@dataclass(frozen=True)
class ClassroomKeys:
    """Keys of the classroom images' artefacts, each by image name (classroom.ClassroomImage.name)."""

    rootfs: dict[str, str]  # its Debian rootfs
    install: dict[str, str]  # its install folder: the venv and the proxy's node_modules
    images: dict[str, str]  # the image: the install folder, the rootfs and the Dockerfile
    tags: dict[str, str]  # the image's tag: the version it names (the JupyterHub it carries) and its key

    def tag(self, name: str) -> str:
        """The image's tag; a changed input gives a new one."""
        return self.tags[name]


def classroom_keys(suite: str, wheel: Path | None) -> ClassroomKeys:
    """Keys of the classroom images for the lab images' Debian suite and servicelab's wheel (a built file;
    None only where no image installs it)."""
    rootfs_keys, install, image_keys, tags = {}, {}, {}, {}
    for image in classroom.images(suite):
        rootfs = rootfs_key(image.suite, image.packages)
        servicelab = None
        if image.installs_servicelab:
            if wheel is None:
                raise ValueError(f"{image.name} installs servicelab: its wheel is needed for its key")
            servicelab = wheel_key(wheel)
        script = image.install_script(wheel.name if wheel is not None and image.installs_servicelab else "")
        install[image.name] = digest("classroom-install", classroom.RECIPE, rootfs, script, servicelab)
        dockerfile = image.dockerfile("", "")  # its shape: the rootfs and the key are inputs of their own
        image_keys[image.name] = digest("classroom-image", classroom.RECIPE, install[image.name], rootfs, dockerfile)
        rootfs_keys[image.name] = rootfs
        version = f"{image.tag_version}-" if image.tag_version else ""
        tags[image.name] = f"servicelab.local/{image.name}:{version}{image_keys[image.name][:12]}"
    return ClassroomKeys(rootfs_keys, install, image_keys, tags)
