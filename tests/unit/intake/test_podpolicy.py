"""Every pod field the static judge refuses, in a Deployment's template and in a Pod: the message, the line of
the field, a rule and a fix (grader.intake.podpolicy). No cluster.

Each row is a snippet put into an otherwise ordinary readiness-lab pod; its line marked `#!` is the line the
refusal must name.
"""

from __future__ import annotations

import textwrap

import pytest

from grader.base.errors import BadInput
from grader.intake.labpolicy import LabPolicy
from grader.intake.manifests import parse_docs
from grader.intake.podpolicy import quantity
from grader.intake.policy import judge

AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.53"
POLICY = LabPolicy(kinds=("Deployment", "Pod", "Service"))
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
{meta}    spec:
{pod}      containers:
      - name: app
        image: {image}
        args: [serve-hostname, --port=8080]
{container}"""
POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels:
    app: web
{meta}spec:
{pod}  containers:
  - name: app
    image: {image}
    args: [serve-hostname, --port=8080]
{container}"""

# (id, where the snippet goes: meta, pod or container, snippet, what the message says)
REFUSED = [
    ("priority-class", "pod", "priorityClassName: system-node-critical  #!", "pod field priorityClassName"),
    ("priority", "pod", "priority: 1000000  #!", "pod field priority is"),
    ("preemption", "pod", "preemptionPolicy: Never  #!", "pod field preemptionPolicy"),
    ("node-name", "pod", "nodeName: servicelab-control-plane  #!", "pod field nodeName"),
    (
        "node-selector",
        "pod",
        "nodeSelector:  #!\n  node-role.kubernetes.io/control-plane: ''",
        "pod field nodeSelector",
    ),
    (
        "tolerations",
        "pod",
        "tolerations:  #!\n- key: node-role.kubernetes.io/control-plane\n  operator: Exists\n  effect: NoSchedule",
        "pod field tolerations",
    ),
    (
        "node-affinity",
        "pod",
        "affinity:  #!\n  nodeAffinity:\n    requiredDuringSchedulingIgnoredDuringExecution:\n"
        "      nodeSelectorTerms:\n      - matchExpressions:\n        - key: node-role.kubernetes.io/control-plane\n"
        "          operator: Exists",
        "pod field affinity",
    ),
    (
        "pod-anti-affinity",
        "pod",
        "affinity:  #!\n  podAntiAffinity:\n    requiredDuringSchedulingIgnoredDuringExecution:\n"
        "    - labelSelector: {}\n      namespaceSelector: {}\n      topologyKey: kubernetes.io/hostname",
        "pod field affinity",
    ),
    (
        "spread",
        "pod",
        "topologySpreadConstraints:  #!\n- maxSkew: 1\n  topologyKey: kubernetes.io/hostname\n"
        "  whenUnsatisfiable: DoNotSchedule",
        "pod field topologySpreadConstraints",
    ),
    ("scheduler", "pod", "schedulerName: my-scheduler  #!", "pod field schedulerName"),
    ("scheduling-gates", "pod", "schedulingGates:  #!\n- name: example.com/hold", "pod field schedulingGates"),
    ("runtime-class", "pod", "runtimeClassName: runc  #!", "pod field runtimeClassName"),
    ("overhead", "pod", "overhead:  #!\n  cpu: 10m", "pod field overhead"),
    (
        "resource-claims",
        "pod",
        "resourceClaims:  #!\n- name: gpu\n  resourceClaimName: gpu",
        "pod field resourceClaims",
    ),
    ("pod-resources", "pod", "resources:  #!\n  limits:\n    cpu: '8'", "pod field resources"),
    ("service-account", "pod", "serviceAccountName: default  #!", "pod field serviceAccountName"),
    ("service-account-old", "pod", "serviceAccount: default  #!", "pod field serviceAccount is"),
    (
        "ephemeral-containers",
        "pod",
        f"ephemeralContainers:  #!\n- name: debug\n  image: {AGNHOST}",
        "pod field ephemeralContainers",
    ),
    ("image-pull-secrets", "pod", "imagePullSecrets:  #!\n- name: regcred", "pod field imagePullSecrets"),
    ("readiness-gates", "pod", "readinessGates:  #!\n- conditionType: example.com/ready", "pod field readinessGates"),
    ("os", "pod", "os:  #!\n  name: linux", "pod field os"),
    ("host-network", "pod", "hostNetwork: true  #!", "pod field hostNetwork"),
    ("host-pid", "pod", "hostPID: true  #!", "pod field hostPID"),
    ("host-ipc", "pod", "hostIPC: true  #!", "pod field hostIPC"),
    (
        "grace",
        "pod",
        "terminationGracePeriodSeconds: 86400  #!",
        "terminationGracePeriodSeconds: 86400 is more than 30",
    ),
    ("sysctls", "pod", "securityContext:\n  sysctls:  #!\n  - name: kernel.msgmax\n    value: '1'", "sysctls"),
    (
        "pod-seccomp",
        "pod",
        "securityContext:\n  seccompProfile:  #!\n    type: Unconfined",
        "pod securityContext.seccompProfile is not accepted as Unconfined",
    ),
    (
        "pod-seccomp-localhost",
        "pod",
        "securityContext:\n  seccompProfile:  #!\n    type: Localhost\n    localhostProfile: my.json",
        "as Localhost",
    ),
    (
        "pod-apparmor",
        "pod",
        "securityContext:\n  appArmorProfile:  #!\n    type: Unconfined",
        "pod securityContext.appArmorProfile is not accepted as Unconfined",
    ),
    (
        "pod-selinux",
        "pod",
        "securityContext:\n  seLinuxOptions:  #!\n    type: spc_t",
        "pod securityContext.seLinuxOptions",
    ),
    (
        "pod-windows",
        "pod",
        "securityContext:\n  windowsOptions:  #!\n    hostProcess: true",
        "pod securityContext.windowsOptions",
    ),
    ("host-path", "pod", "volumes:\n- name: root  #!\n  hostPath:\n    path: /", "uses hostPath"),
    ("projected", "pod", "volumes:\n- name: token  #!\n  projected:\n    sources: []", "uses projected"),
    (
        "containers",
        "pod",
        "",
        "4 containers is more than 3",
    ),
    (
        "init-containers",
        "pod",
        "initContainers:  #!\n" + "".join(f"- name: i{i}\n  image: {AGNHOST}\n" for i in range(3)).rstrip("\n"),
        "3 initContainers is more than 2",
    ),
    ("finalizers", "meta", "finalizers:  #!\n- example.com/keep", "metadata.finalizers is not accepted"),
    (
        "owner-references",
        "meta",
        "ownerReferences:  #!\n- apiVersion: v1\n  kind: ConfigMap\n  name: x\n  uid: 'u1'",
        "metadata.ownerReferences is not accepted",
    ),
    (
        "apparmor-annotation",
        "meta",
        "annotations:\n  container.apparmor.security.beta.kubernetes.io/app: unconfined  #!",
        "the pod annotation 'container.apparmor.security.beta.kubernetes.io/app' is not accepted",
    ),
    (
        "seccomp-annotation",
        "meta",
        "annotations:\n  seccomp.security.alpha.kubernetes.io/pod: unconfined  #!",
        "the pod annotation 'seccomp.security.alpha.kubernetes.io/pod'",
    ),
    ("privileged", "container", "securityContext:\n  privileged: true  #!", "container app asks for privileges"),
    ("cap-add", "container", "securityContext:\n  capabilities:\n    add: [NET_ADMIN]  #!", "asks for privileges"),
    (
        "escalation",
        "container",
        "securityContext:\n  allowPrivilegeEscalation: true  #!",
        "container app securityContext.allowPrivilegeEscalation is not accepted as True",
    ),
    (
        "proc-mount",
        "container",
        "securityContext:\n  procMount: Unmasked  #!",
        "container app securityContext.procMount is not accepted as Unmasked",
    ),
    (
        "seccomp",
        "container",
        "securityContext:\n  seccompProfile:  #!\n    type: Unconfined",
        "container app securityContext.seccompProfile is not accepted as Unconfined",
    ),
    (
        "apparmor",
        "container",
        "securityContext:\n  appArmorProfile:  #!\n    type: Unconfined",
        "container app securityContext.appArmorProfile is not accepted as Unconfined",
    ),
    (
        "selinux",
        "container",
        "securityContext:\n  seLinuxOptions:  #!\n    level: s0:c123,c456",
        "container app securityContext.seLinuxOptions",
    ),
    (
        "windows",
        "container",
        "securityContext:\n  windowsOptions:  #!\n    hostProcess: true",
        "container app securityContext.windowsOptions",
    ),
    ("foreign-image", "container", "", "container app uses image docker.io/library/nginx:1.27"),
    ("host-port", "container", "ports:\n- containerPort: 8080  #!\n  hostPort: 80", "container app uses a hostPort"),
    ("host-ip", "container", "ports:\n- containerPort: 8080  #!\n  hostIP: 10.0.0.1", "container app uses a hostIP"),
    (
        "readiness-http-host",
        "container",
        "readinessProbe:\n  httpGet:\n    host: 169.254.169.254  #!\n    path: /\n    port: 80",
        "container app: readinessProbe.httpGet.host is not accepted",
    ),
    (
        "liveness-tcp-host",
        "container",
        "livenessProbe:\n  tcpSocket:\n    host: kubernetes.default  #!\n    port: 443",
        "container app: livenessProbe.tcpSocket.host is not accepted",
    ),
    (
        "startup-http-host",
        "container",
        "startupProbe:\n  httpGet:\n    host: 10.96.0.1  #!\n    port: 443",
        "container app: startupProbe.httpGet.host is not accepted",
    ),
    (
        "prestop-http-host",
        "container",
        "lifecycle:\n  preStop:\n    httpGet:\n      host: 10.96.0.1  #!\n      port: 443",
        "container app: lifecycle.preStop.httpGet.host is not accepted",
    ),
    (
        "poststart-tcp-host",
        "container",
        "lifecycle:\n  postStart:\n    tcpSocket:\n      host: 10.96.0.1  #!\n      port: 443",
        "container app: lifecycle.postStart.tcpSocket.host is not accepted",
    ),
    (
        "probe-grace",
        "container",
        "livenessProbe:\n  exec:\n    command: ['true']\n  terminationGracePeriodSeconds: 3600  #!",
        "livenessProbe.terminationGracePeriodSeconds: 3600 is more than 30",
    ),
    (
        "extended-resource",
        "container",
        "resources:\n  limits:\n    nvidia.com/gpu: '1'  #!",
        "container app: resources.limits.nvidia.com/gpu is not accepted",
    ),
    (
        "hugepages",
        "container",
        "resources:\n  requests:\n    hugepages-2Mi: 64Mi  #!",
        "resources.requests.hugepages-2Mi is not accepted",
    ),
    (
        "big-cpu",
        "container",
        "resources:\n  limits:\n    cpu: '4'  #!",
        "container app: resources.limits.cpu: 4 is more than 1",
    ),
    (
        "big-memory",
        "container",
        "resources:\n  requests:\n    memory: 2Gi  #!",
        "resources.requests.memory: 2Gi is more than 512Mi",
    ),
    (
        "big-ephemeral-storage",
        "container",
        "resources:\n  limits:\n    ephemeral-storage: 100Gi  #!",
        "resources.limits.ephemeral-storage: 100Gi is more than 1Gi",
    ),
    (
        "not-a-quantity",
        "container",
        "resources:\n  limits:\n    memory: lots  #!",
        "resources.limits.memory: lots is not a quantity",
    ),
    ("claims", "container", "resources:\n  claims:  #!\n  - name: gpu", "resources.claims is not accepted"),
    ("volume-devices", "container", "volumeDevices:  #!\n- name: disk\n  devicePath: /dev/xvda", "volumeDevices"),
    (
        "resize-policy",
        "container",
        "resizePolicy:  #!\n- resourceName: cpu\n  restartPolicy: NotRequired",
        "container app: field resizePolicy is not accepted",
    ),
    (
        "mount-propagation",
        "container",
        "volumeMounts:\n- name: scratch\n  mountPath: /s\n  mountPropagation: HostToContainer  #!",
        "mountPropagation HostToContainer is not accepted",
    ),
]


def _indent(snippet: str, spaces: int) -> str:
    return textwrap.indent(snippet, " " * spaces) + "\n" if snippet else ""


def manifest(kind: str, where: str, snippet: str, row: str) -> str:
    """The readiness pod of that kind with the snippet in place (the `containers` and `foreign-image` rows
    change the pod itself)."""
    deployment = kind == "Deployment"
    meta, pod, container = ("", "", "")
    if where == "meta":
        meta = _indent(snippet, 6 if deployment else 2)
    elif where == "pod":
        pod = _indent(snippet, 6 if deployment else 2)
    else:
        container = _indent(snippet, 8 if deployment else 4)
    if not (where == "container" and snippet.startswith("ports:")):  # else the snippet's ports are the pod's
        container = _indent("ports:\n- containerPort: 8080", 8 if deployment else 4) + container
    if row == "mount-propagation":
        pod += _indent("volumes:\n- name: scratch\n  emptyDir: {}", 6 if deployment else 2)
    text = (DEPLOYMENT if deployment else POD).format(meta=meta, pod=pod, container=container, image=AGNHOST)
    if row == "foreign-image":
        text = text.replace(f"image: {AGNHOST}", "image: docker.io/library/nginx:1.27  #!")
    if row == "containers":
        extra = "".join(f"- name: c{i}\n  image: {AGNHOST}\n" for i in range(3))
        text = text.replace("containers:\n", "containers:  #!\n" + _indent(extra.rstrip("\n"), 6 if deployment else 2))
    return text


def _refused(text: str) -> BadInput:
    docs = parse_docs(text, "answer.yaml")
    with pytest.raises(BadInput) as caught:
        judge(docs, [], POLICY, {"NAMESPACE"})
    return caught.value


@pytest.mark.parametrize("kind", ["Deployment", "Pod"])
@pytest.mark.parametrize(("row", "where", "snippet", "message"), REFUSED, ids=[r[0] for r in REFUSED])
def test_pod_field_is_refused_at_its_line(kind: str, row: str, where: str, snippet: str, message: str) -> None:
    text = manifest(kind, where, snippet, row)
    marked = [n for n, line in enumerate(text.splitlines(), 1) if line.rstrip().endswith("#!")]
    assert len(marked) == 1, text
    err = _refused(text)
    assert message in err.message, err.render()
    assert err.message.startswith(f"{kind}/web: ")
    assert (err.file, err.line) == ("answer.yaml", marked[0]), err.render()
    assert err.rule
    assert err.fix


@pytest.mark.parametrize("kind", ["Deployment", "Pod"])
def test_the_ordinary_readiness_pod_is_accepted(kind: str) -> None:
    text = manifest(kind, "pod", "", "ordinary")
    judge(parse_docs(text, "answer.yaml"), [], POLICY, {"NAMESPACE"})


@pytest.mark.parametrize(
    ("where", "snippet"),
    [
        ("pod", "hostUsers: false"),
        ("pod", "hostUsers: true"),
        ("pod", "terminationGracePeriodSeconds: 30"),
        ("pod", "terminationGracePeriodSeconds: 0"),
        ("pod", "automountServiceAccountToken: false"),
        ("pod", "tolerations: []"),
        ("pod", "shareProcessNamespace: true"),
        ("pod", "securityContext:\n  runAsNonRoot: true\n  runAsUser: 65534\n  seccompProfile: {type: RuntimeDefault}"),
        ("pod", "initContainers:\n- name: init\n  image: docker.io/library/busybox:1.37.0\n  command: ['true']"),
        ("pod", "volumes:\n- name: scratch\n  emptyDir:\n    sizeLimit: 64Mi"),
        ("container", "securityContext:\n  allowPrivilegeEscalation: false\n  capabilities:\n    drop: [ALL]"),
        ("container", "securityContext:\n  procMount: Default\n  appArmorProfile:\n    type: RuntimeDefault"),
        ("container", "readinessProbe:\n  httpGet:\n    path: /healthz\n    port: 8080\n  periodSeconds: 2"),
        ("container", "readinessProbe:\n  tcpSocket:\n    port: 8080"),
        ("container", "lifecycle:\n  preStop:\n    sleep:\n      seconds: 5"),
        ("container", "resources:\n  requests: {cpu: 100m, memory: 64Mi}\n  limits:\n    ephemeral-storage: 1Gi"),
        ("container", "resources:\n  limits:\n    cpu: '1'\n    memory: 512Mi"),
    ],
)
def test_what_lab_pods_use_is_accepted(where: str, snippet: str) -> None:
    for kind in ("Deployment", "Pod"):
        judge(parse_docs(manifest(kind, where, snippet, "ok"), "answer.yaml"), [], POLICY, {"NAMESPACE"})


def test_containers_at_their_defaults_share_the_pod_maximum() -> None:
    """Three containers at the LimitRange's maximum CPU each ask for more than a pod may have."""
    extra = "".join(f"- name: c{i}\n  image: {AGNHOST}\n  resources:\n    limits:\n      cpu: '1'\n" for i in range(2))
    text = manifest("Deployment", "container", "resources:\n  limits:\n    cpu: '1'", "sum")
    text = text.replace("containers:\n", "containers:\n" + _indent(extra.rstrip("\n"), 6))
    err = _refused(text)
    assert "the pod's containers together ask for cpu limits of more than 2" in err.message


@pytest.mark.parametrize(
    ("text", "value"),
    [("250m", "0.25"), ("1", "1"), ("1Gi", str(2**30)), ("1e3", "1000"), ("2k", "2000"), (2, "2"), ("1.5G", "1.5E+9")],
)
def test_quantities_read_as_kubernetes_reads_them(text: object, value: str) -> None:
    from decimal import Decimal  # noqa: PLC0415

    assert quantity(text) == Decimal(value)


def test_a_quantity_that_is_none_is_refused_by_name() -> None:
    assert quantity("lots") is None
    assert quantity("1Gb") is None


def test_a_template_label_of_the_grader_is_refused() -> None:
    text = manifest("Deployment", "meta", "labels:\n  servicelab.dev/run: x  #!", "label")
    err = _refused(text.replace("      labels:\n        app: web\n", "", 1))
    assert "the pod label 'servicelab.dev/run' belongs to the grader" in err.message
