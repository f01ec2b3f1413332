"""Generate the nbgrader source notebooks from the labs: `python notebooks/build_notebooks.py`.

One notebook per lab, in `notebooks/source/<NN>-<id>/<id>.ipynb`. The lab folder stays the single source
of truth: the notebook's task text is task.md, its reference answer is solution/, its points are the
points of checks.py. What only the notebook has (the AKS-vs-kind explanation, the flow diagram) is here.
Run it again after changing a lab; the unit tests check the notebooks are in step.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from grader.answers import MAGIC  # noqa: E402 - needs the repo on sys.path first
from grader.labs import Lab, all_labs, load_lab  # noqa: E402

SOURCE = REPO / "notebooks" / "source"

# What stands in for the Azure piece on the kind lab cluster, per lab (the AKS side is in task.md).
STAND_IN = {
    "clusterip": "Nothing needs standing in for: a ClusterIP is kube-proxy rules on every node, on AKS as on kind.",
    "nodeport": "The kind nodes are docker containers on the `kind` network; the outside container is a VM in the "
                "same VNet.",
    "loadbalancer": "MetalLB plays the Azure Load Balancer: it assigns an address from the `public` pool and "
                    "answers ARP for it on the `kind` network.",
    "internal-lb": "An admission policy turns the AKS annotation into a MetalLB request for the `internal` pool.",
    "static-ip": "An admission policy turns `azure-load-balancer-ipv4` into a MetalLB request for exactly that "
                 "address. In your manifest write `${STATIC_IP}`: the grader substitutes this cluster's value.",
    "externalname": "The partner server is the docker container `servicelab-partner`; CoreDNS has a `hosts` entry "
                    "for `api.partner.example`.",
    "ingress": "Traefik is the ingress controller, behind a MetalLB address, where AKS would run its managed NGINX.",
    "gateway": "Traefik also implements Gateway API; `lab-gateway` is its Gateway in namespace `traefik`.",
    "headless": "Identical on kind: CoreDNS answers from the EndpointSlices.",
    "external-traffic-local": "MetalLB announces the address from a node that has a ready pod, as the Azure LB's "
                              "health probe would pick it.",
    "session-affinity": "Identical on kind: kube-proxy keeps the affinity.",
    "readiness": "Identical on kind: the kubelet runs the probe, the EndpointSlice controller marks the pod.",
    "pod-networking": "kind's pod network (kindnetd on kind's standard node image, servicelab's own `netd` on the "
                      "offline node image) gives each node its own pod range, routes between the nodes and "
                      "masquerades traffic that leaves the cluster, as kubenet does.",
}

# The Service whose traffic the flow diagram draws; ingress and gateway draw both back ends behind Traefik.
FLOW = {
    "clusterip": ["web"], "nodeport": ["my-service"], "loadbalancer": ["my-service"],
    "internal-lb": ["internal-app"], "static-ip": ["azure-load-balancer"], "externalname": ["partner-api"],
    "ingress": ["store", "api"], "gateway": ["store", "api"], "headless": ["web-headless"],
    "external-traffic-local": ["web"], "session-affinity": ["web"], "readiness": ["web"], "pod-networking": ["web"],
}

# Ingress and Gateway labs route the same host and paths through the same Traefik: the other lab's routes,
# left in its namespace, would compete with this one's.
CLEAR_THE_WAY = {
    "ingress": ("httproutes.gateway.networking.k8s.io", "lab-gateway", "Gateway lab's HTTPRoutes"),
    "gateway": ("ingresses.networking.k8s.io", "lab-ingress", "Ingress lab's Ingresses"),
}

# Shown in every notebook: draws client -> LB IP (or node:nodePort) -> ClusterIP -> pods from kubectl JSON.
# Behind a load balancer the node port is the health probe's, not the traffic's (AKS uses floating IP).
FLOW_IMPORTS = '''\
%load_ext grader.notebook

import html
import json
import subprocess

from IPython.display import HTML, display

from grader import check
'''

FLOW_CODE = '''\
def kubectl_json(*args):
    """kubectl ... -o json, or None if the object is not there (errors stay out of stderr)."""
    done = subprocess.run(["kubectl", *args, "-o", "json"], capture_output=True, text=True, timeout=30,
                          check=False)
    return json.loads(done.stdout) if done.returncode == 0 and done.stdout.strip() else None


def flow_lines(namespace, name, front=None):
    """The hops a request takes to Service `name`, as text lines, read from the live cluster."""
    svc = kubectl_json("get", "service", name, "-n", namespace)
    if svc is None:
        return [f"Service {name}: not there yet"]
    spec, status = svc["spec"], svc.get("status", {})
    if spec.get("type") == "ExternalName":
        return [f"pod --DNS--> {name}.{namespace}.svc.cluster.local --CNAME--> {spec.get('externalName')}",
                "      (no ClusterIP, no proxying: the client connects to whatever that name resolves to)"]
    nodes = kubectl_json("get", "nodes") or {"items": []}
    node_ip = {n["metadata"]["name"]: next((a["address"] for a in n["status"]["addresses"]
                                             if a["type"] == "InternalIP"), "?") for n in nodes["items"]}
    slices = kubectl_json("get", "endpointslices", "-n", namespace, "-l",
                          f"kubernetes.io/service-name={name}") or {"items": []}
    pods = [(e.get("targetRef", {}).get("name", "?"), a, e.get("nodeName", "?"),
             e.get("conditions", {}).get("ready", True))
            for s in slices["items"] for e in s.get("endpoints") or [] for a in e.get("addresses", [])]
    lb = [i.get("ip") for i in status.get("loadBalancer", {}).get("ingress", []) if i.get("ip")]
    policy = spec.get("externalTrafficPolicy")
    lines = []
    for port in spec.get("ports", []) or [{"port": "-", "targetPort": "-"}]:
        hops = [front or "client"]
        if lb:  # floating IP on AKS, MetalLB on kind: the node receives the packet still addressed to the LB IP
            hops.append(f"LB {', '.join(lb)}:{port['port']}")
            hops.append("a node, still addressed to the LB IP" + (f" (policy {policy})" if policy else ""))
        elif port.get("nodePort"):
            hops.append(f"any node:{port['nodePort']}" + (f" (policy {policy})" if policy else ""))
        cluster_ip = spec.get("clusterIP")
        hops.append(f"ClusterIP {cluster_ip}:{port['port']}" if cluster_ip not in (None, "None")
                    else "DNS (headless: A records = pod IPs)")
        lines.append(" --> ".join(hops) + f" --> targetPort {port.get('targetPort', port['port'])}")
        if lb and port.get("nodePort") and policy == "Local":
            lines.append(f"      node port {port['nodePort']} answers only on nodes with a ready pod; on AKS the "
                         f"LB's health probe checks healthCheckNodePort {spec.get('healthCheckNodePort')}")
        elif lb and port.get("nodePort"):
            lines.append(f"      node port {port['nodePort']} answers on every node too; on AKS the LB's health "
                         "probe checks it")
    for pod, address, node, ready in pods:
        mark = "ready" if ready else "NOT ready: gets no traffic"
        lines.append(f"      pod {pod} {address} on {node} ({node_ip.get(node, '?')}) {mark}")
    if not pods:
        lines.append("      no endpoints: the selector matches no ready pod")
    return lines


def show_flow(namespace, names, front=None):
    text = "\\n".join(line for name in names for line in [*flow_lines(namespace, name, front), ""])
    display(HTML(f"<pre style='line-height:1.4'>{html.escape(text)}</pre>"))
'''


def nbgrader(grade_id: str, *, solution: bool = False, grade: bool = False, locked: bool = False,
             points: int | None = None) -> dict[str, object]:
    meta: dict[str, object] = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
                               "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def clear_the_way(lab: Lab) -> list[nbformat.NotebookNode]:
    if lab.id not in CLEAR_THE_WAY:
        return []
    kind, ns, what = CLEAR_THE_WAY[lab.id]
    return [
        new_markdown_cell(f"Traefik serves both Ingress and Gateway API on the same address. If you did the other "
                          f"lab first, its routes for `shop.example` would compete with yours: the next cell removes "
                          f"the {what} from namespace `{ns}`.", metadata=nbgrader("clear-text", locked=True)),
        new_code_cell(f'argv = ["kubectl", "delete", "{kind}", "--all", "-n", "{ns}", "--ignore-not-found"]\n'
                      "done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)\n"
                      "print(done.stdout.strip() or 'nothing to remove')",
                      metadata=nbgrader("clear", locked=True)),
    ]


def placeholder_values(lab: Lab, task: str) -> list[nbformat.NotebookNode]:
    """Cells that print this cluster's value of each `${VAR}` the task text asks the learner to write."""
    names = [v for v in lab.variables if "${" + v + "}" in task]
    if not names:
        return []
    listed = ", ".join(f"`${{{n}}}`" for n in names)
    return [
        new_markdown_cell(f"## Your cluster's values\n\nThe next cell prints what {listed} stands for on this "
                          "cluster. Write the placeholder itself in your manifest: the grader puts this value in "
                          "its place.", metadata=nbgrader("values-text", locked=True)),
        new_code_cell("from grader._kube import Kube\nfrom grader.facts import discover\n\n"
                      "facts = discover(Kube())\n"
                      f"for name in {names!r}:\n"
                      "    value = facts.variables.get(name)\n"
                      "    print(f\"${{{name}}} = {value}\" if value else "
                      "f\"${{{name}}} has no value: {facts.missing.get(name, 'unknown')}\")",
                      metadata=nbgrader("values", locked=True)),
    ]


def solution_text(lab: Lab) -> str:
    files = sorted(lab.solution.path.glob("*.yaml"))
    return "\n---\n".join(f.read_text(encoding="utf-8").strip() for f in files)


def build(lab: Lab) -> nbformat.NotebookNode:
    task = (lab.path / "task.md").read_text(encoding="utf-8").strip()
    points = lab.total_points
    ns = lab.default_namespace
    front = "client --Host: shop.example--> Traefik LB" if lab.id in ("ingress", "gateway") else None
    cells = [
        new_markdown_cell(task + "\n\n**On the kind lab cluster.** " + STAND_IN[lab.id] + "\n\n"
                          "Run `servicelab up` once before the first lab. This notebook works in namespace "
                          f"`{ns}`; `kubectl -n {ns} get all` shows what is there.",
                          metadata=nbgrader("task-text", locked=True)),
        new_code_cell(FLOW_IMPORTS + f'\nLAB = "{lab.id}"\nNAMESPACE = "{ns}"\n\n\n' + FLOW_CODE,
                      metadata=nbgrader("setup", locked=True)),
        *placeholder_values(lab, task),
        *clear_the_way(lab),
        new_markdown_cell("## Your manifest\n\nWrite the YAML below the first line of the next cell (several "
                          f"objects are separated by `---`). Running the cell applies it into `{ns}`, together "
                          "with the lab's starter objects; leave out `metadata.namespace`. This cell is your "
                          "answer: the grader reads it as YAML and runs nothing you hand in.",
                          metadata=nbgrader("manifest-text", locked=True)),
        new_code_cell(f"%%{MAGIC} {lab.id}\n### BEGIN SOLUTION\n" + solution_text(lab) + "\n### END SOLUTION",
                      metadata=nbgrader("manifest", solution=True)),
        new_markdown_cell("## Check my work\n\nThe grader probes your Service from a pod in the cluster, from the "
                          "outside container and from this machine. The table shows each check with its hint, and "
                          "the reachability matrix: which vantage point reached which address, and whether it "
                          "should have. Fix the YAML, run its cell again, then check again.",
                          metadata=nbgrader("check-text", locked=True)),
        new_code_cell(f'score = check("{lab.id}")\nround(score * {points}, 2)',
                      metadata=nbgrader("check", grade=True, locked=True, points=points)),
        new_markdown_cell("## Traffic flow on your cluster\n\nDrawn from the live objects (Service, EndpointSlices, "
                          "nodes): where a request enters, which address and port each hop uses, and which pods "
                          "can receive it.", metadata=nbgrader("flow-text", locked=True)),
        new_code_cell(f"show_flow(NAMESPACE, {FLOW[lab.id]!r}" + (f", front={front!r})" if front else ")"),
                      metadata=nbgrader("flow", locked=True)),
    ]
    for cell in cells:
        cell["id"] = cell.metadata["nbgrader"]["grade_id"]  # stable ids: regenerating changes nothing
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def notebook_path(lab: Lab) -> Path:
    return SOURCE / f"{lab.order:02d}-{lab.id}" / f"{lab.id}.ipynb"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a notebook is not up to date")
    args = parser.parse_args(argv)
    stale = []
    for path in all_labs():
        lab = load_lab(path)
        target = notebook_path(lab)
        text = nbformat.writes(build(lab)) + "\n"
        if target.is_file() and target.read_text(encoding="utf-8") == text:
            continue
        stale.append(str(target.relative_to(REPO)))
        if not args.check:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    verb = "out of date" if args.check else "written"
    print(f"{len(stale)} notebook(s) {verb}" + (": " + ", ".join(stale) if stale else ""))
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
