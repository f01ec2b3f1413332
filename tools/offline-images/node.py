"""Assemble a kind node image without `kind build node-image` (which pulls images over the network).

1. A Debian rootfs with systemd, containerd, runc and the CNI plugins (debootstrap, cached as an image).
2. On top, kind's base files (read from the sigs.k8s.io/kind module at build time), the Kubernetes
   node binaries and our pod network manifest (a docker build; the setup script is ours).
3. Every image a cluster needs is imported into the node's containerd and pinned; the container
   is committed as the node image.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import components as c
from rootfs import debootstrap, import_rootfs, rootfs_tag
from steps import StepFailed, artefact, docker_has_image, log, run

from grader.base.wait import WaitTimeout, wait_for

# Bump when the node's Dockerfile or preload steps change; part of the node key (keys.node_key).
RECIPE = "n1"
NODE_BINARIES = ("kubelet", "kubeadm", "kubectl", "crictl")
NODE_CHANGES = (
    "ENV container=docker",
    "STOPSIGNAL SIGRTMIN+3",
    'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]',
    "CMD []",
)

# Run inside the image build. Keeps only the units a node needs (no udev, getty, timers), enables
# kind's units, and points kind's paths at where Debian installs containerd and the CNI plugins.
SETUP_SCRIPT = r"""#!/bin/sh
set -eu
chmod 0755 /kind /kind/bin /kind/bin/* /usr/local/bin/*
rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \
      /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \
      /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/* \
      /lib/systemd/system/sysinit.target.wants/systemd-tmpfiles-setup.service
echo "ReadKMsg=no" >> /etc/systemd/journald.conf
ln -sf /usr/lib/systemd/systemd /sbin/init
systemctl enable kubelet.service containerd.service undo-mount-hacks.service
systemctl mask systemd-binfmt.service
ln -sf /usr/bin/containerd /usr/local/bin/containerd
ln -sf /usr/bin/ctr /usr/local/bin/ctr
mkdir -p /opt/cni/bin /etc/kubernetes/manifests
for plugin in host-local loopback ptp portmap bridge; do ln -sf /usr/lib/cni/$plugin /opt/cni/bin/$plugin; done
sed -i "s#registry.k8s.io/pause:3.10\"#registry.k8s.io/pause:$PAUSE_VERSION\"#" /etc/containerd/config.toml
# Lowering oom_score_adj needs CAP_SYS_RESOURCE, which some VMs do not grant: runc would fail to start
# every pod sandbox (-998). Restricting makes containerd clamp scores at its own.
sed -i "s#restrict_oom_score_adj = false#restrict_oom_score_adj = true#" /etc/containerd/config.toml
ctr oci spec \
  | jq '.hooks.createContainer += [{"path": "/kind/bin/mount-product-files.sh"}] | del(.process.rlimits)' \
  > /etc/containerd/cri-base.json
"""


def pod_network(sources: Path, netd_tag: str) -> str:
    """Our pod network manifest as the node gets it (kind applies /kind/manifests/default-cni.yaml)."""
    return (sources / "netd.yaml").read_text().replace("NETD_TAG", netd_tag)


def _raw_rootfs(work: Path, key: str) -> str:
    tag = rootfs_tag("node", c.PINS.debian_suite, key)
    if docker_has_image(tag):
        log(f"node rootfs {tag}: present")
        artefact(reused=True)
        return tag
    artefact(reused=False)
    target = work / "rootfs-node"
    log(f"debootstrap {c.PINS.debian_suite} node rootfs ({len(c.PINS.node_packages)} packages)")
    debootstrap(target, c.PINS.debian_suite, c.PINS.node_packages)
    import_rootfs(target, tag)
    shutil.rmtree(target)
    return tag


def _stage(work: Path, raw: str, kind_module: Path, binaries: dict[str, Path], node_image: str) -> str:
    stage = f"{node_image}-stage"
    context = work / "node-context"
    if context.exists():
        shutil.rmtree(context)
    shutil.copytree(kind_module / "images/base/files", context / "files")
    for path in (context / "files").rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)  # the module cache is read-only
    for name in NODE_BINARIES:
        shutil.copy2(binaries[name], context / name)
    (context / "version").write_text(c.PINS.kubernetes + "\n")
    (context / "default-cni.yaml").write_text(pod_network(c.HERE, c.netd_tag()))
    (context / "setup.sh").write_text(SETUP_SCRIPT)
    (context / "Dockerfile").write_text(
        "\n".join(
            [
                f"FROM {raw}",
                "COPY files/ /",
                "COPY kubelet kubeadm kubectl /usr/bin/",
                "COPY crictl /usr/local/bin/",
                "COPY version /kind/version",
                "COPY default-cni.yaml /kind/manifests/default-cni.yaml",
                "COPY setup.sh /tmp/setup.sh",
                f"RUN PAUSE_VERSION={c.PINS.pause} sh /tmp/setup.sh && rm /tmp/setup.sh",
                *NODE_CHANGES,
            ]
        )
        + "\n"
    )
    log("docker build node stage (kind base files, node binaries, pod network)")
    run(["docker", "build", "-q", "-t", stage, str(context)], env={**os.environ, "DOCKER_BUILDKIT": "0"}, capture=True)
    shutil.rmtree(context)
    return stage


def _preload(stage: str, images_tar: Path, tags: list[str], node_image: str) -> None:
    name = "servicelab-node-build"
    subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    run(
        ["docker", "run", "-d", "--privileged", "--name", name, "--entrypoint", "/bin/sleep", stage, "infinity"],
        capture=True,
    )
    try:
        run(["docker", "exec", "-d", name, "/usr/local/bin/containerd"])

        def answers() -> tuple[bool | None, str]:
            ctr = subprocess.run(
                ["docker", "exec", name, "ctr", "version"], capture_output=True, text=True, check=False
            )
            return (True if ctr.returncode == 0 else None), (ctr.stderr.strip().splitlines() or ["no answer"])[-1]

        try:
            wait_for(answers, what="containerd in the node build container", timeout_s=60, interval_s=0.5)
        except WaitTimeout as err:
            raise StepFailed(str(err)) from err
        run(["docker", "cp", str(images_tar), f"{name}:/images.tar"])
        images = ["docker", "exec", name, "ctr", "-n", "k8s.io", "images"]  # the node's containerd, CRI namespace
        run([*images, "import", "--no-unpack", "--all-platforms", "/images.tar"])
        refs = run([*images, "ls", "-q"], capture=True).split()
        missing = [tag for tag in tags if _normalized(tag) not in refs]
        if missing:
            raise StepFailed(f"images missing in the node's containerd after import: {missing}")
        for ref in refs:
            # Pinned images survive the kubelet's image garbage collection.
            run([*images, "label", ref, "io.cri-containerd.pinned=pinned"], capture=True)
        run(["docker", "exec", name, "sh", "-c", "rm -f /images.tar; pkill containerd"], timeout=60)

        def stopped() -> tuple[bool | None, str]:
            alive = subprocess.run(
                ["docker", "exec", name, "pgrep", "-x", "containerd"], capture_output=True, text=True, check=False
            )
            return (True if alive.returncode == 1 else None), f"containerd pids: {alive.stdout.split() or 'none'}"

        try:  # its content store must be flushed before the commit
            wait_for(stopped, what="containerd in the node build container to exit", timeout_s=60, interval_s=0.2)
        except WaitTimeout as err:
            raise StepFailed(str(err)) from err
        # commit keeps the stage's ENV and STOPSIGNAL (and refuses STOPSIGNAL as a change); only the
        # entrypoint and command overridden for the build container need restoring.
        run(
            [
                "docker",
                "commit",
                *[arg for change in NODE_CHANGES[2:] for arg in ("--change", change)],
                name,
                node_image,
            ],
            capture=True,
        )
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


def _normalized(tag: str) -> str:
    first = tag.split("/", maxsplit=1)[0]
    if "/" not in tag:
        return f"docker.io/library/{tag}"
    return tag if ("." in first or ":" in first) else f"docker.io/{tag}"


def assemble(
    work: Path,
    kind_module: Path,
    binaries: dict[str, Path],
    preload: tuple[Path, list[str]],
    keys: tuple[str, str],
) -> None:
    """Make the node image: preload = (docker save tar, its tags); keys = (node rootfs key, node image tag)."""
    rootfs_key, node_image = keys
    images_tar, tags = preload
    raw = _raw_rootfs(work, rootfs_key)
    stage = _stage(work, raw, kind_module, binaries, node_image)
    log(f"preloading {len(tags)} images into the node's containerd")
    _preload(stage, images_tar, tags, node_image)
    subprocess.run(["docker", "rmi", stage], capture_output=True, check=False)
    log(f"node image {node_image} committed")
