"""What the offline build makes: pinned versions, Go programs and the images built from them.

Bump RECIPE when the way an artifact is made changes, so caches of the old recipe are not reused.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from gobuild import GoProgram

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))
# The grader pins what the lab cluster runs; this build makes exactly those versions.
from grader.cluster.versions import (  # noqa: E402
    GATEWAY_API,  # noqa: F401  (build.py reads it from here)
    KIND,
    KUBERNETES,
    METALLB,
    OFFLINE_NODE_IMAGE,
    OFFLINE_RECIPE,
    TRAEFIK,
)

RECIPE = OFFLINE_RECIPE
ETCD = "v3.6.8"  # kubeadm v1.36 default: 3.6.8-0
COREDNS = "v1.14.2"  # kubeadm v1.36 default
PAUSE = "3.10.2"  # kubeadm v1.36 default
CRICTL = "v1.36.0"
DEBIAN_SUITE = "bookworm"

_K8S_MINOR = KUBERNETES.split(".")[1]
_K8S_LDFLAGS = " ".join(
    [
        "-s -w",
        f"-X k8s.io/component-base/version.gitVersion={KUBERNETES}",
        "-X k8s.io/component-base/version.gitMajor=1",
        f"-X k8s.io/component-base/version.gitMinor={_K8S_MINOR}",
        "-X k8s.io/component-base/version.gitTreeState=clean",
        "-X k8s.io/component-base/version.gitCommit=0000000000000000000000000000000000000000",
        "-X k8s.io/component-base/version.buildDate=2026-01-01T00:00:00Z",
        f"-X k8s.io/client-go/pkg/version.gitVersion={KUBERNETES}",
    ]
)

K8S_COMMANDS = (
    "kubeadm",
    "kubelet",
    "kubectl",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kube-proxy",
)

PROGRAMS = {
    "kubernetes": GoProgram(
        name=f"k8s-{KUBERNETES}",
        module="k8s.io/kubernetes",
        version=KUBERNETES,
        binaries={
            **{c: f"k8s.io/kubernetes/cmd/{c}" for c in K8S_COMMANDS},
            "agnhost": "k8s.io/kubernetes/test/images/agnhost",
            "netd": "./netd",
        },
        ldflags=_K8S_LDFLAGS,
        staging_version=f"v0.{_K8S_MINOR}.{KUBERNETES.split('.')[2]}",
        local_packages={"netd": HERE / "netd"},
    ),
    "etcd": GoProgram(
        name=f"etcd-{ETCD}",
        module="go.etcd.io/etcd/server/v3",
        version=ETCD,
        binaries={"etcd": "go.etcd.io/etcd/server/v3"},
    ),
    "coredns": GoProgram(
        name=f"coredns-{COREDNS}",
        module="github.com/coredns/coredns",
        version=COREDNS,
        binaries={"coredns": "github.com/coredns/coredns"},
    ),
    "metallb": GoProgram(
        name=f"metallb-{METALLB}",
        module="go.universe.tf/metallb",
        version=METALLB,
        binaries={"controller": "go.universe.tf/metallb/controller", "speaker": "go.universe.tf/metallb/speaker"},
    ),
    "traefik": GoProgram(
        name=f"traefik-{TRAEFIK}",
        module="github.com/traefik/traefik/v3",
        version=TRAEFIK,
        binaries={"traefik": "github.com/traefik/traefik/v3/cmd/traefik"},
        ldflags=f"-s -w -X github.com/traefik/traefik/v3/pkg/version.Version={TRAEFIK}",
    ),
    "kind": GoProgram(
        name=f"kind-{KIND}", module="sigs.k8s.io/kind", version=KIND, binaries={"kind": "sigs.k8s.io/kind"}
    ),
    "crictl": GoProgram(
        name=f"crictl-{CRICTL}",
        module="sigs.k8s.io/cri-tools",
        version=CRICTL,
        binaries={"crictl": "sigs.k8s.io/cri-tools/cmd/crictl"},
    ),
    "pause": GoProgram(
        name=f"pause-{PAUSE}-{RECIPE}",
        module="",
        version="",
        binaries={"pause": "./pause"},
        local_packages={"pause": HERE / "pause"},
    ),
}


@dataclass(frozen=True)
class ImageSpec:
    """A container image: tags, which built binary goes where, and its entrypoint."""

    tags: tuple[str, ...]
    program: str  # key of PROGRAMS, or "busybox" for Debian's busybox-static
    files: dict[str, str]  # binary name -> path in the image
    entrypoint: tuple[str, ...] = ()


def _k8s_image(command: str) -> ImageSpec:
    return ImageSpec((f"registry.k8s.io/{command}:{KUBERNETES}",), "kubernetes", {command: f"/usr/local/bin/{command}"})


NETD_TAG = f"{KUBERNETES}-{RECIPE}"

IMAGES = (
    *(_k8s_image(c) for c in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy")),
    ImageSpec((f"registry.k8s.io/etcd:{ETCD.lstrip('v')}-0",), "etcd", {"etcd": "/usr/local/bin/etcd"}),
    ImageSpec((f"registry.k8s.io/coredns/coredns:{COREDNS}",), "coredns", {"coredns": "/coredns"}, ("/coredns",)),
    ImageSpec(
        (f"registry.k8s.io/pause:{PAUSE}", "registry.k8s.io/pause:3.10"), "pause", {"pause": "/pause"}, ("/pause",)
    ),
    ImageSpec(
        (f"servicelab.local/netd:{NETD_TAG}",), "kubernetes", {"netd": "/usr/local/bin/netd"}, ("/usr/local/bin/netd",)
    ),
    ImageSpec((f"quay.io/metallb/controller:{METALLB}",), "metallb", {"controller": "/controller"}, ("/controller",)),
    ImageSpec((f"quay.io/metallb/speaker:{METALLB}",), "metallb", {"speaker": "/speaker"}, ("/speaker",)),
    ImageSpec(
        (f"docker.io/library/traefik:{TRAEFIK}",),
        "traefik",
        {"traefik": "/usr/local/bin/traefik"},
        ("/usr/local/bin/traefik",),
    ),
    ImageSpec(("registry.k8s.io/e2e-test-images/agnhost:2.53",), "kubernetes", {"agnhost": "/agnhost"}, ("/agnhost",)),
    ImageSpec(("docker.io/library/busybox:1.36.1",), "busybox", {"busybox": "/bin/busybox"}),
)

NODE_PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "conntrack",
    "iptables",
    "nftables",
    "iproute2",
    "ethtool",
    "util-linux",
    "mount",
    "kmod",
    "libseccomp2",
    "pigz",
    "bash",
    "ca-certificates",
    "curl",
    "jq",
    "procps",
    "containerd",
    "runc",
    "containernetworking-plugins",
    "e2fsprogs",
    "socat",
)
BASE_PACKAGES = ("iptables", "nftables", "conntrack", "iproute2", "ca-certificates")

NODE_IMAGE = OFFLINE_NODE_IMAGE
