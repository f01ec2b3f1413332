"""Generate the nbgrader source notebooks from the labs: `python notebooks/build_notebooks.py`.

One notebook per lab, in `notebooks/source/<NN>-<id>/<id>.ipynb`. The lab folder stays the single source
of truth: the notebook's task text is task.md, its reference answer is solution/, its points are the
points of checks.py. What only the notebook has (objectives, the kind stand-ins, the Service type's diagram) is here.
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

from grader.catalogue.labs import Lab, load_lab  # noqa: E402
from grader.catalogue.locate import all_labs  # noqa: E402
from grader.intake.answers import MAGIC  # noqa: E402 - needs the repo on sys.path first

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

# Objectives and a time estimate per lab (minutes), shown first in each notebook.
INTRO = {
    "clusterip": (
        20,
        [
            "give pods one stable in-cluster address and DNS name",
            "see that nothing outside the cluster reaches a ClusterIP",
        ],
    ),
    "nodeport": (20, ["open the same port on every node", "know why AKS keeps node ports off the internet"]),
    "loadbalancer": (
        30,
        [
            "get an external address from the (Azure) load balancer",
            "see the floating-IP path and what the health probe checks",
        ],
    ),
    "internal-lb": (
        25,
        ["ask for a private VNet address with the internal-LB annotation", "check the internet cannot reach it"],
    ),
    "static-ip": (
        25,
        ["pin a LoadBalancer Service to a static address", "know the Standard SKU and resource-group rules"],
    ),
    "externalname": (
        20,
        [
            "alias a name outside the cluster in cluster DNS",
            "know what ExternalName does not do (no proxying, Host header, TLS)",
        ],
    ),
    "ingress": (35, ["route HTTP by host and path to two Services", "see that one address serves both"]),
    "gateway": (35, ["route the same traffic with Gateway API's HTTPRoute", "compare it with the Ingress lab"]),
    "headless": (20, ["make DNS return the pods themselves", "see there is no ClusterIP and no proxying"]),
    "external-traffic-local": (
        30,
        ["keep the client's source IP", "see which nodes answer and what the health probe checks"],
    ),
    "session-affinity": (25, ["send one client to one pod", "know how AKS carries the affinity"]),
    "readiness": (25, ["keep traffic away from a pod that is not ready", "read readiness in the EndpointSlices"]),
    "pod-networking": (
        30,
        [
            "tell node addresses from pod addresses",
            "see what NAT hides from servers outside",
            "tell kubenet from Azure CNI behaviour",
        ],
    ),
}

# The Service type, drawn once, statically (mermaid renders in JupyterLab and on GitHub). kube-proxy DNATs a
# ClusterIP, node port or LB address straight to a pod; the Azure LB (floating IP) delivers to the node still
# addressed to its frontend IP, and probes the node port (healthCheckNodePort with policy Local).
_LB = """flowchart LR
  c[client] --> lb["Azure LB frontend IP:port<br/>(MetalLB on kind)"]
  lb -->|"floating IP: still addressed to the frontend IP"| n1[node A]
  lb -->|"same"| n2[node B]
  lb -.->|"health probe: node port"| n1
  lb -.->|"health probe: node port"| n2
  n1 -->|"kube-proxy DNAT"| p1[pod]
  n1 -->|"kube-proxy DNAT"| p2[pod]
  n2 -->|"kube-proxy DNAT"| p2"""
DIAGRAM = {
    "clusterip": """flowchart LR
  c[client pod] -->|"ClusterIP:port or name.ns.svc"| k["kube-proxy rules on the client's node"]
  k -->|DNAT| p1[pod]
  k -->|DNAT| p2[pod]
  k -->|DNAT| p3[pod]
  o[outside the cluster] -.-x|"no route to a ClusterIP"| k""",
    "nodeport": """flowchart LR
  o[client on the nodes' network] -->|"nodeIP:nodePort"| n1[node A]
  o -->|"nodeIP:nodePort"| n2[node B]
  n1 -->|"kube-proxy DNAT (any node, any pod)"| p1[pod]
  n1 -->|DNAT| p2[pod]
  n2 -->|DNAT| p1""",
    "loadbalancer": _LB,
    "internal-lb": _LB.replace("client", "client in the VNet").replace(
        "Azure LB frontend IP", "internal Azure LB: private VNet IP"
    )
    + '\n  i[internet] -.-x|"no public address"| lb',
    "static-ip": _LB.replace("Azure LB frontend IP", "Azure LB: your static public IP"),
    "externalname": """flowchart LR
  c[client pod] -->|"DNS: name.ns.svc"| d[CoreDNS]
  d -->|"CNAME api.partner.example"| c
  c -->|"connects itself: no ClusterIP, no proxy"| x[server outside the cluster]""",
    "ingress": """flowchart LR
  c["client, Host: shop.example"] --> lb["LB address of the ingress controller"]
  lb --> t["controller pod (Traefik on kind)"]
  t -->|"path /store: to the pod address"| s1["pods of Service store"]
  t -->|"path /api: to the pod address"| s2["pods of Service api"]""",
    "headless": """flowchart LR
  c[client pod] -->|"DNS: name.ns.svc"| d[CoreDNS]
  d -->|"one A record per ready pod"| c
  c -->|"straight to a pod IP: no ClusterIP, no kube-proxy"| p1[pod]
  c -.-> p2[pod]""",
    "external-traffic-local": """flowchart LR
  c["client (its IP is kept)"] --> lb["Azure LB frontend IP (MetalLB on kind)"]
  lb -->|"floating IP"| n1["node A: has a ready pod"]
  lb -.->|"health probe: healthCheckNodePort, passes"| n1
  lb -.->|"health probe fails: no new flows"| n2["node B: no ready pod"]
  n1 -->|"DNAT to a local pod only, no SNAT"| p1[pod on node A]""",
    "session-affinity": """flowchart LR
  c1[client 1] --> s["Service, sessionAffinity ClientIP"]
  c2[client 2] --> s
  s -->|"every request of client 1"| p1[pod]
  s -->|"every request of client 2"| p2[pod]
  p3[pod]""",
    "readiness": """flowchart LR
  c[client pod] -->|ClusterIP| k["kube-proxy rules"]
  k -->|DNAT| p1["pod: ready"]
  k -->|DNAT| p2["pod: ready"]
  k -.-x|"not in the EndpointSlice as ready: no traffic"| p3["pod: readiness probe fails"]""",
    "pod-networking": """flowchart LR
  subgraph A["node A: VNet address, pod range 1"]
    pa[pod]
  end
  subgraph B["node B: VNet address, pod range 2"]
    pb[pod]
  end
  pa <-->|"routes between pod ranges (kubenet)"| pb
  pa -->|"leaves the cluster: NAT to node A's address"| x[server outside]""",
}
DIAGRAM["gateway"] = (
    DIAGRAM["ingress"]
    .replace("LB address of the ingress controller", "Gateway lab-gateway, Service port 80")
    .replace("controller pod", "gateway pod")
    .replace("path /store:", "HTTPRoute path /store:")
    .replace("path /api:", "HTTPRoute path /api:")
)


# Ingress and Gateway labs route the same host and paths through the same Traefik: the other lab's routes,
# left in its namespace, would compete with this one's.
CLEAR_THE_WAY = {
    "ingress": ("httproutes.gateway.networking.k8s.io", "lab-gateway", "Gateway lab's HTTPRoutes"),
    "gateway": ("ingresses.networking.k8s.io", "lab-ingress", "Ingress lab's Ingresses"),
}

# The setup cell: one import; importing grader.learner.notebook in IPython registers the %%servicelab_answer magic.
SETUP = "from grader.learner.notebook import check, explore, flow, hint, reset"


def nbgrader(
    grade_id: str, *, solution: bool = False, grade: bool = False, locked: bool = False, points: int | None = None
) -> dict[str, object]:
    meta: dict[str, object] = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def clear_the_way(lab: Lab) -> list[nbformat.NotebookNode]:
    if lab.id not in CLEAR_THE_WAY:
        return []
    kind, ns, what = CLEAR_THE_WAY[lab.id]
    return [
        new_markdown_cell(
            f"Traefik serves both Ingress and Gateway API on the same address. If you did the other "
            f"lab first, its routes for `shop.example` would compete with yours: the next cell removes "
            f"the {what} from namespace `{ns}`.",
            metadata=nbgrader("clear-text", locked=True),
        ),
        new_code_cell(
            "import subprocess\n\n"
            f'argv = ["kubectl", "delete", "{kind}", "--all", "-n", "{ns}", "--ignore-not-found"]\n'
            "done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)\n"
            "print(done.stdout.strip() or 'nothing to remove')",
            metadata=nbgrader("clear", locked=True),
        ),
    ]


def uses_values(lab: Lab, task: str) -> bool:
    """Whether the task asks the learner to write a `${VAR}` placeholder (grader.learner.notebook.values shows them)."""
    return any("${" + v + "}" in task for v in lab.variables)


def placeholder_values(lab: Lab, task: str) -> list[nbformat.NotebookNode]:
    """Cells that print this cluster's value of each `${VAR}` the task text asks the learner to write."""
    names = [v for v in lab.variables if "${" + v + "}" in task]
    if not names:
        return []
    listed = ", ".join(f"`${{{n}}}`" for n in names)
    return [
        new_markdown_cell(
            f"## Your cluster's values\n\nThe next cell prints what {listed} stands for on this "
            "cluster. Write the placeholder itself in your manifest: the grader puts this value in "
            "its place.",
            metadata=nbgrader("values-text", locked=True),
        ),
        new_code_cell(
            f'values("{lab.id}")',
            metadata=nbgrader("values", locked=True),
        ),
    ]


def solution_text(lab: Lab) -> str:
    files = sorted(lab.solution.path.glob("*.yaml"))
    return "\n---\n".join(f.read_text(encoding="utf-8").strip() for f in files)


def build(lab: Lab) -> nbformat.NotebookNode:
    task = (lab.path / "task.md").read_text(encoding="utf-8").strip()
    points = lab.total_points
    ns = lab.default_namespace
    minutes, objectives = INTRO[lab.id]
    title, _, body = task.partition("\n")
    intro = f"{title}\n\n**You will** " + "; ".join(objectives) + f".  \n**Time:** about {minutes} minutes.\n"
    observe = lab.id == "pod-networking"
    cells = [
        new_markdown_cell(
            intro + body + "\n\n**On the kind lab cluster.** " + STAND_IN[lab.id] + "\n\n"
            "Run `servicelab up` once before the first lab. This notebook works in namespace "
            f"`{ns}`; `kubectl -n {ns} get all` shows what is there.",
            metadata=nbgrader("task-text", locked=True),
        ),
        new_markdown_cell(
            "## The picture\n\nHow a request travels"
            + (" (no Service here: the pod network)" if observe else "")
            + ":\n\n```mermaid\n"
            + DIAGRAM[lab.id]
            + "\n```\n\n"
            "(JupyterLab 4.1+ draws it here. GitHub shows a notebook's mermaid as text: there, open "
            f"[the same diagram](../../diagrams/{diagram_path(lab).name}).)",
            metadata=nbgrader("diagram", locked=True),
        ),
        new_code_cell(
            SETUP + (", observe_network" if observe else "") + (", values" if uses_values(lab, task) else ""),
            metadata=nbgrader("setup", locked=True),
        ),
        new_markdown_cell(
            "## Look around\n\nThe next cell applies the lab's starter objects (your answer is not "
            "touched) and lists the pods with their labels, pod IPs and nodes: the labels are what a "
            "selector matches, the IPs what traffic finally reaches.",
            metadata=nbgrader("explore-text", locked=True),
        ),
        new_code_cell(f'explore("{lab.id}")', metadata=nbgrader("explore", locked=True)),
        *(
            [
                new_markdown_cell(
                    "The next cell makes this lab's observations for you to read: the nodes' addresses "
                    "and pod ranges, the address of every pod on the pod network (hostNetwork pods left "
                    "out), and which address the partner server outside the cluster sees when the "
                    "toolbox pod calls it.",
                    metadata=nbgrader("observe-text", locked=True),
                ),
                new_code_cell("observe_network()", metadata=nbgrader("observe", locked=True)),
            ]
            if observe
            else []
        ),
        *placeholder_values(lab, task),
        *clear_the_way(lab),
        new_markdown_cell(
            "## Your manifest\n\nWrite the YAML below the first line of the next cell (several "
            f"objects are separated by `---`). Running the cell applies it into `{ns}`, together "
            "with the lab's starter objects; leave out `metadata.namespace`. This cell is your "
            "answer: the grader reads it as YAML and runs nothing you hand in.",
            metadata=nbgrader("manifest-text", locked=True),
        ),
        new_code_cell(
            f"%%{MAGIC} {lab.id}\n### BEGIN SOLUTION\n" + solution_text(lab) + "\n### END SOLUTION",
            metadata=nbgrader("manifest", solution=True),
        ),
        new_markdown_cell(
            "## Check my work\n\n"
            + (
                "The grader reads your ConfigMap and compares each answer with what it observes on this "
                "cluster itself (node and pod addresses, the address the partner server sees)."
                if observe
                else "The grader probes your Service from a pod in the cluster, from the outside container and "
                "from this machine. The table shows each check with its hint, and the reachability "
                "matrix: which vantage point reached which address, and whether it should have."
            )
            + " Fix the YAML, run its cell again, then check again. While it runs, a line names the "
            f'check and where it probes from.\n\n**Stuck?** `hint("{lab.id}")` gives the next hint '
            f'for the first failing check (ask again for more); `reset("{lab.id}")` deletes what '
            f"this lab put on the cluster so you can start over; `servicelab progress` in a terminal "
            "lists the labs you have passed.",
            metadata=nbgrader("check-text", locked=True),
        ),
        new_code_cell(
            f'score = check("{lab.id}")\nround(score * {points}, 2)',
            metadata=nbgrader("check", grade=True, locked=True, points=points),
        ),
        new_markdown_cell(
            "## Traffic flow on your cluster\n\n"
            + (
                "Drawn from the live cluster: each node, its pod range and the pods it runs."
                if observe
                else "Drawn from the live objects (Service, EndpointSlices, nodes): where a request enters, "
                "which node, address and port each hop uses, and which pods can receive it."
            ),
            metadata=nbgrader("flow-text", locked=True),
        ),
        new_code_cell(f'flow("{lab.id}")', metadata=nbgrader("flow", locked=True)),
    ]
    for cell in cells:
        cell["id"] = cell.metadata["nbgrader"]["grade_id"]  # stable ids: regenerating changes nothing
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def diagram_path(lab: Lab) -> Path:
    """The Service type's diagram as a Markdown file: GitHub draws mermaid in .md files, not in notebooks."""
    return SOURCE.parent / "diagrams" / f"{lab.order:02d}-{lab.id}.md"


def diagram_page(lab: Lab) -> str:
    return f"# {lab.title}\n\n```mermaid\n{DIAGRAM[lab.id]}\n```\n"


def notebook_path(lab: Lab) -> Path:
    return SOURCE / f"{lab.order:02d}-{lab.id}" / f"{lab.id}.ipynb"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a notebook is not up to date")
    args = parser.parse_args(argv)
    stale = []
    for path in all_labs():
        lab = load_lab(path)
        for target, text in (
            (notebook_path(lab), nbformat.writes(build(lab)) + "\n"),
            (diagram_path(lab), diagram_page(lab)),
        ):
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
