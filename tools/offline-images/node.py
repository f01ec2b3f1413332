"""Assemble a kind node image without `kind build node-image` (which pulls images over the network).

A Debian rootfs gets kind's base files (read from the sigs.k8s.io/kind module at build time), the
Kubernetes node binaries and our pod network manifest; then every image a cluster needs is imported
into the node's containerd and pinned, and the result is committed as the node image.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import components as c
from rootfs import debootstrap, import_rootfs
from steps import StepFailed, log, run

NODE_CHANGES = (
    "ENV container=docker",
    "STOPSIGNAL SIGRTMIN+3",
    'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]',
    "CMD []",
)


def _copy_tree(src: Path, dest: Path, mode: int) -> None:
    for path in src.rglob("*"):
        if path.is_file():
            target = dest / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            target.chmod(mode)


def _install_kind_base_files(root: Path, kind_module: Path) -> None:
    files = kind_module / "images" / "base" / "files"
    _copy_tree(files / "usr" / "local" / "bin", root / "usr" / "local" / "bin", 0o755)
    _copy_tree(files / "kind", root / "kind", 0o644)
    _copy_tree(files / "kind" / "bin", root / "kind" / "bin", 0o755)
    _copy_tree(files / "etc", root / "etc", 0o644)


def _trim_systemd(root: Path) -> None:
    """Only the units a node needs start: kind's layout (no udev, no getty, no timers)."""
    for pattern in ("lib/systemd/system/multi-user.target.wants/*", "etc/systemd/system/*.wants/*",
                    "lib/systemd/system/local-fs.target.wants/*", "lib/systemd/system/sockets.target.wants/*udev*",
                    "lib/systemd/system/sockets.target.wants/*initctl*", "lib/systemd/system/basic.target.wants/*",
                    "lib/systemd/system/sysinit.target.wants/systemd-tmpfiles-setup.service"):
        for path in root.glob(pattern):
            if path.is_symlink() or path.is_file():
                path.unlink()
    with (root / "etc/systemd/journald.conf").open("a") as journald:
        journald.write("ReadKMsg=no\n")
    run(["chroot", str(root), "systemctl", "enable", "kubelet.service", "containerd.service",
         "undo-mount-hacks.service"])
    run(["chroot", str(root), "systemctl", "mask", "systemd-binfmt.service"])


def _link(root: Path, link: str, target: str) -> None:
    path = root / link.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        path.unlink()
    path.symlink_to(target)


def _install_runtime(root: Path, binaries: dict[str, Path]) -> None:
    # kind's units expect containerd in /usr/local/bin; Debian installs it in /usr/bin.
    for program in ("containerd", "ctr"):
        _link(root, f"/usr/local/bin/{program}", f"/usr/bin/{program}")
    (root / "opt/cni/bin").mkdir(parents=True, exist_ok=True)
    for plugin in ("host-local", "loopback", "ptp", "portmap", "bridge"):
        _link(root, f"/opt/cni/bin/{plugin}", f"/usr/lib/cni/{plugin}")
    for command in ("kubelet", "kubeadm", "kubectl"):
        shutil.copy2(binaries[command], root / "usr/bin" / command)
    shutil.copy2(binaries["crictl"], root / "usr/local/bin/crictl")
    (root / "etc/kubernetes/manifests").mkdir(parents=True, exist_ok=True)
    config = root / "etc/containerd/config.toml"
    config.write_text(config.read_text().replace('registry.k8s.io/pause:3.10"', f'registry.k8s.io/pause:{c.PAUSE}"'))
    spec = json.loads(run(["chroot", str(root), "ctr", "oci", "spec"], capture=True))
    spec.setdefault("hooks", {}).setdefault("createContainer", []).append({"path": "/kind/bin/mount-product-files.sh"})
    spec["process"].pop("rlimits", None)
    (root / "etc/containerd/cri-base.json").write_text(json.dumps(spec, indent=2))


def _install_kind_files(root: Path) -> None:
    (root / "kind/version").write_text(c.KUBERNETES + "\n")
    manifests = root / "kind/manifests"
    manifests.mkdir(parents=True, exist_ok=True)
    netd = (c.HERE / "netd.yaml").read_text().replace("NETD_TAG", c.NETD_TAG)
    (manifests / "default-cni.yaml").write_text(netd)


def _preload(stage: str, images_tar: Path, tags: list[str]) -> None:
    name = "servicelab-node-build"
    subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    run(["docker", "run", "-d", "--privileged", "--name", name, "--entrypoint", "/bin/sleep", stage, "infinity"],
        capture=True)
    try:
        run(["docker", "exec", "-d", name, "/usr/local/bin/containerd"])
        deadline = time.monotonic() + 60
        while subprocess.run(["docker", "exec", name, "ctr", "version"], capture_output=True,
                             check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise StepFailed("containerd in the node build container did not answer within 60s")
            time.sleep(0.5)
        run(["docker", "cp", str(images_tar), f"{name}:/images.tar"])
        run(["docker", "exec", name, "ctr", "-n", "k8s.io", "images", "import", "--no-unpack", "--all-platforms",
             "/images.tar"])
        for tag in tags:
            ref = tag if "." in tag.split("/")[0] else f"docker.io/{tag}"
            run(["docker", "exec", name, "ctr", "-n", "k8s.io", "images", "label", ref,
                 "io.cri-containerd.pinned=pinned"], capture=True)
        run(["docker", "exec", name, "sh", "-c", "rm -f /images.tar; pkill containerd; "
             "while pgrep -x containerd >/dev/null; do sleep 0.2; done"], timeout=60)
        run(["docker", "commit", *[arg for change in NODE_CHANGES for arg in ("--change", change)], name,
             c.NODE_IMAGE], capture=True)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


def assemble(work: Path, kind_module: Path, binaries: dict[str, Path], images_tar: Path, tags: list[str]) -> None:
    root = work / "rootfs-node"
    log(f"debootstrap {c.DEBIAN_SUITE} node rootfs ({len(c.NODE_PACKAGES)} packages)")
    debootstrap(root, c.DEBIAN_SUITE, c.NODE_PACKAGES)
    _install_kind_base_files(root, kind_module)
    _trim_systemd(root)
    _install_runtime(root, binaries)
    _install_kind_files(root)
    stage = f"{c.NODE_IMAGE}-stage"
    import_rootfs(root, stage, NODE_CHANGES)
    shutil.rmtree(root)
    log(f"preloading {len(tags)} images into the node's containerd")
    _preload(stage, images_tar, tags)
    subprocess.run(["docker", "rmi", stage], capture_output=True, check=False)
