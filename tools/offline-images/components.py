"""What the offline build makes: pinned versions, Go programs and the images built from them.

Everything is a function of Pins (and the folder with our own sources), so keys.py can compute the
content key of every artefact for any set of pins; the build uses PINS, read from the grader.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from gobuild import GoProgram

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))
# The grader pins what the lab cluster runs (one place, the CI workflow reads it too); this build
# makes exactly those versions.
from grader.base import images as lab_images  # noqa: E402
from grader.cluster import versions  # noqa: E402

RECIPE = versions.OFFLINE_RECIPE
# The node image's stable name (an image bundle carries it); its own tag is keys.BuildKeys.node_image.
NODE_ALIAS = versions.OFFLINE_NODE_IMAGE

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
# ipset: kube-router's policy controller keeps the addresses a NetworkPolicy names in ipsets.
BASE_PACKAGES = ("iptables", "ipset", "nftables", "conntrack", "iproute2", "ca-certificates")


@dataclass(frozen=True)
class BusyboxDeb:
    """Debian's busybox-static of the version the image's tag names (bookworm's 1.35.0 crashes on `wget -T`),
    fetched by its pool path and checked against the SHA256 its suite's Packages index gives."""

    version: str
    pool_path: str
    sha256: str

    @property
    def url(self) -> str:
        return f"https://deb.debian.org/debian/{self.pool_path}"


BUSYBOX_DEB = BusyboxDeb(
    "1.37.0",
    "pool/main/b/busybox/busybox-static_1.37.0-6+b9_amd64.deb",  # trixie
    "598a3fd92bdafc34cd81196b2952ad36e910e47a4ecf162f8ce5e8e262598e53",
)


@dataclass(frozen=True)
class Pins:
    """Every version and package list the build takes as input."""

    kubernetes: str = versions.KUBERNETES
    etcd: str = versions.ETCD
    coredns: str = versions.COREDNS
    pause: str = versions.PAUSE
    crictl: str = versions.CRICTL
    metallb: str = versions.METALLB
    traefik: str = versions.TRAEFIK
    kube_router: str = versions.KUBE_ROUTER
    kind: str = versions.KIND
    gateway_api: str = versions.GATEWAY_API
    debian_suite: str = "bookworm"
    busybox_deb: BusyboxDeb = BUSYBOX_DEB
    node_packages: tuple[str, ...] = NODE_PACKAGES
    base_packages: tuple[str, ...] = BASE_PACKAGES


PINS = Pins()

K8S_COMMANDS = (
    "kubeadm",
    "kubelet",
    "kubectl",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kube-proxy",
)


def _staging(kubernetes: str) -> str:
    """The version of the Kubernetes staging modules (k8s.io/client-go ...) released with it."""
    _, minor, patch = kubernetes.lstrip("v").split(".")
    return f"v0.{minor}.{patch}"


def _k8s_ldflags(kubernetes: str) -> str:
    minor = kubernetes.split(".")[1]
    return " ".join(
        [
            "-s -w",
            f"-X k8s.io/component-base/version.gitVersion={kubernetes}",
            "-X k8s.io/component-base/version.gitMajor=1",
            f"-X k8s.io/component-base/version.gitMinor={minor}",
            "-X k8s.io/component-base/version.gitTreeState=clean",
            "-X k8s.io/component-base/version.gitCommit=0000000000000000000000000000000000000000",
            "-X k8s.io/component-base/version.buildDate=2026-01-01T00:00:00Z",
            f"-X k8s.io/client-go/pkg/version.gitVersion={kubernetes}",
        ]
    )


def programs(pins: Pins = PINS, sources: Path = HERE) -> dict[str, GoProgram]:
    """The Go programs to build; sources holds our own packages (netd, pause)."""
    staging = _staging(pins.kubernetes)
    return {
        "kubernetes": GoProgram(
            name="kubernetes",
            module="k8s.io/kubernetes",
            version=pins.kubernetes,
            binaries={
                **{c: f"k8s.io/kubernetes/cmd/{c}" for c in K8S_COMMANDS},
                "agnhost": "k8s.io/kubernetes/test/images/agnhost",
            },
            ldflags=_k8s_ldflags(pins.kubernetes),
            staging_version=staging,
        ),
        # Our pod network: its own program so that a change to it rebuilds netd alone; it builds
        # against the client-go released with the cluster's Kubernetes.
        "netd": GoProgram(
            name="netd",
            module="k8s.io/client-go",
            version=staging,
            binaries={"netd": "./netd"},
            extra_requires={"k8s.io/api": staging, "k8s.io/apimachinery": staging},
            local_packages={"netd": sources / "netd"},
        ),
        "etcd": GoProgram(
            name="etcd",
            module="go.etcd.io/etcd/server/v3",
            version=pins.etcd,
            binaries={"etcd": "go.etcd.io/etcd/server/v3"},
        ),
        "coredns": GoProgram(
            name="coredns",
            module="github.com/coredns/coredns",
            version=pins.coredns,
            binaries={"coredns": "github.com/coredns/coredns"},
        ),
        "metallb": GoProgram(
            name="metallb",
            module="go.universe.tf/metallb",
            version=pins.metallb,
            binaries={"controller": "go.universe.tf/metallb/controller", "speaker": "go.universe.tf/metallb/speaker"},
        ),
        "traefik": GoProgram(
            name="traefik",
            module="github.com/traefik/traefik/v3",
            version=pins.traefik,
            binaries={"traefik": "github.com/traefik/traefik/v3/cmd/traefik"},
            ldflags=f"-s -w -X github.com/traefik/traefik/v3/pkg/version.Version={pins.traefik}",
        ),
        # The NetworkPolicy engine: only its policy controller runs (netd is the pod network, kube-proxy the
        # service proxy); the version is stamped as upstream's Makefile does, with a fixed build date.
        "kube-router": GoProgram(
            name="kube-router",
            module="github.com/cloudnativelabs/kube-router/v2",
            version=pins.kube_router,
            binaries={"kube-router": "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"},
            # Its go.mod asks for a netlink commit of 2026-05-05 the module proxy refuses (403); the commit of
            # 2025-10-22 it serves builds it. Only the routing controller, which does not run here, changed with
            # that bump (kube-router commit 33178752).
            replaces={"github.com/vishvananda/netlink": "v1.3.2-0.20251022194116-03b8f90390d9"},
            ldflags=(
                f"-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version={pins.kube_router}"
                " -X github.com/cloudnativelabs/kube-router/v2/pkg/version.BuildDate=2026-01-01T00:00:00Z"
            ),
        ),
        "kind": GoProgram(
            name="kind", module="sigs.k8s.io/kind", version=pins.kind, binaries={"kind": "sigs.k8s.io/kind"}
        ),
        "crictl": GoProgram(
            name="crictl",
            module="sigs.k8s.io/cri-tools",
            version=pins.crictl,
            binaries={"crictl": "sigs.k8s.io/cri-tools/cmd/crictl"},
        ),
        # Our own pause (no dependencies); the version names the tag kubeadm asks for.
        "pause": GoProgram(
            name="pause",
            module="",
            version=pins.pause,
            binaries={"pause": "./pause"},
            local_packages={"pause": sources / "pause"},
        ),
    }


@dataclass(frozen=True)
class ImageSpec:
    """A container image: tags, which built binary goes where, and its entrypoint."""

    tags: tuple[str, ...]
    program: str  # key of PROGRAMS, or "busybox" for Debian's busybox-static
    files: dict[str, str]  # binary name -> path in the image
    entrypoint: tuple[str, ...] = ()


def _k8s_image(command: str, kubernetes: str) -> ImageSpec:
    return ImageSpec((f"registry.k8s.io/{command}:{kubernetes}",), "kubernetes", {command: f"/usr/local/bin/{command}"})


def netd_tag(pins: Pins = PINS) -> str:
    """netd's image tag, written into the node's pod network manifest (netd.yaml)."""
    return f"{pins.kubernetes}-{RECIPE}"


def image_specs(pins: Pins = PINS) -> tuple[ImageSpec, ...]:
    """Every image a cluster needs, under the names its manifests use."""
    control_plane = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy")
    return (
        *(_k8s_image(c, pins.kubernetes) for c in control_plane),
        ImageSpec((f"registry.k8s.io/etcd:{pins.etcd.lstrip('v')}-0",), "etcd", {"etcd": "/usr/local/bin/etcd"}),
        ImageSpec(
            (f"registry.k8s.io/coredns/coredns:{pins.coredns}",), "coredns", {"coredns": "/coredns"}, ("/coredns",)
        ),
        # kind's containerd config names pause:3.10; the node's setup points it at ours, both tags kept.
        ImageSpec(
            (f"registry.k8s.io/pause:{pins.pause}", "registry.k8s.io/pause:3.10"),
            "pause",
            {"pause": "/pause"},
            ("/pause",),
        ),
        ImageSpec(
            (f"servicelab.local/netd:{netd_tag(pins)}",),
            "netd",
            {"netd": "/usr/local/bin/netd"},
            ("/usr/local/bin/netd",),
        ),
        ImageSpec(
            (f"quay.io/metallb/controller:{pins.metallb}",), "metallb", {"controller": "/controller"}, ("/controller",)
        ),
        ImageSpec((f"quay.io/metallb/speaker:{pins.metallb}",), "metallb", {"speaker": "/speaker"}, ("/speaker",)),
        ImageSpec(
            (f"docker.io/library/traefik:{pins.traefik}",),
            "traefik",
            {"traefik": "/usr/local/bin/traefik"},
            ("/usr/local/bin/traefik",),
        ),
        # The tag online clusters pull from Docker Hub (grader.cluster.versions.KUBE_ROUTER_IMAGE).
        ImageSpec(
            (f"docker.io/cloudnativelabs/kube-router:{pins.kube_router}",),
            "kube-router",
            {"kube-router": "/usr/local/bin/kube-router"},
            ("/usr/local/bin/kube-router",),
        ),
        ImageSpec((lab_images.AGNHOST,), "kubernetes", {"agnhost": "/agnhost"}, ("/agnhost",)),
        ImageSpec((lab_images.BUSYBOX,), "busybox", {"busybox": "/bin/busybox"}),
    )
