"""Pinned versions of everything the lab cluster runs; tools/offline-images builds the same ones.

Kubernetes v1.36 is the newest whose components build and run here (cgroup v1 hosts need
`failCgroupV1: false`, set in fixtures/kind-config.yaml); MutatingAdmissionPolicy is GA in it,
which is how the AKS annotations are translated for MetalLB without an extra controller.
"""

KUBERNETES = "v1.36.3"
KIND = "v0.33.0"
METALLB = "v0.15.2"
# Traefik 3.7's module needs a nested module its zip lacks; 3.6 builds from the published module.
TRAEFIK = "v3.6.12"
GATEWAY_API = "v1.4.0"  # what Traefik v3.6.12 implements
# The node's own components, as kubeadm v1.36 expects them (the offline build makes these).
ETCD = "v3.6.8"  # kubeadm default: registry.k8s.io/etcd:3.6.8-0
COREDNS = "v1.14.2"
PAUSE = "3.10.2"
CRICTL = "v1.36.0"
# The NetworkPolicy engine (grader/cluster/netpol.py). kube-network-policies needs the kernel's nftables queue
# expression (CONFIG_NFT_QUEUE), which our CI VM's kernel lacks; kube-router's policy controller uses iptables
# and ipset, which it has. v2.10.0: the newest release the Go module proxy serves our offline build (v2.11.x
# answers 403); the build replaces one of its dependencies (tools/offline-images/components.py says why).
KUBE_ROUTER = "v2.10.0"
OFFLINE_RECIPE = "r1"
# The classroom (issue 24): JupyterHub with KubeSpawner and its proxy; `build.py --classroom` makes their images.
JUPYTERHUB = "6.1.1"
KUBESPAWNER = "7.1.0"
CONFIGURABLE_HTTP_PROXY = "5.3.0"  # from npm; needs Node.js 20 or newer
CLASSROOM_RECIPE = "c1"  # tools/offline-images/classroom.py RECIPE: names the build's record of the image tags
# The record's keys. The grading image: the grading service, servicelab without Jupyter, with a docker client.
CLASSROOM_HUB_IMAGE, CLASSROOM_SINGLEUSER_IMAGE = "classroom-hub", "classroom-singleuser"
CLASSROOM_GRADING_IMAGE = "classroom-grading"

ONLINE_NODE_IMAGE = f"kindest/node:{KUBERNETES}"
# tools/offline-images tags its node image with a hash of all its inputs (in its record, see
# cluster/tools.py) and points this name at the newest one (what an image bundle carries).
OFFLINE_NODE_IMAGE = f"servicelab.local/node:{KUBERNETES}-{OFFLINE_RECIPE}"
TRAEFIK_IMAGE = f"docker.io/library/traefik:{TRAEFIK}"
KUBE_ROUTER_IMAGE = f"docker.io/cloudnativelabs/kube-router:{KUBE_ROUTER}"
METALLB_MANIFEST_URL = (
    f"https://raw.githubusercontent.com/metallb/metallb/{METALLB}/config/manifests/metallb-native.yaml"
)
GATEWAY_API_MANIFEST_URL = (
    f"https://github.com/kubernetes-sigs/gateway-api/releases/download/{GATEWAY_API}/standard-install.yaml"
)
KIND_RELEASE_URL = f"https://kind.sigs.k8s.io/dl/{KIND}/kind-linux-amd64"
