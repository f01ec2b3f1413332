"""`servicelab notebooks [DIR]`: the learners' copies of the notebooks, without the answers.

notebooks/source/ holds the instructor sources, whose answer cells carry the reference solution between
`### BEGIN SOLUTION` and `### END SOLUTION`. A learner copy has, in its place, a skeleton of the objects
the lab expects (apiVersion, kind, metadata.name), commented out: an unanswered copy still runs top to
bottom (score 0, no error), and uncommenting is the first step of the answer.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from grader.base.errors import BadInput
from grader.base.shipped import shipped
from grader.catalogue.labs import Lab, load_lab
from grader.catalogue.locate import all_labs
from grader.intake.manifests import manifest_files, read_docs
from grader.intake.schema import ROOT_TYPES

SOURCE = shipped("notebooks") / "source"
_SOLUTION = re.compile(r"### BEGIN SOLUTION\n.*?### END SOLUTION\n?", re.DOTALL)
BLANK = "..."  # what the learner replaces: a value, a list or a mapping

# What each kind's answer is made of, below metadata.name: the fields to fill in (BLANK), each with what it is,
# never the lab's values. `# #` lines stay comments once the learner uncomments the block.
_BODY = {
    "Service": """\
  annotations: ...       # only if the task asks for one (an Azure load balancer setting)
spec:
  type: ...              # ClusterIP (the default), NodePort, LoadBalancer or ExternalName
  selector: ...          # the labels of the pods to send traffic to
  ports:
  - port: ...            # the Service's port
    targetPort: ...      # the container's port: a number or the port's name
  # and each field the task names (nodePort, externalTrafficPolicy, sessionAffinity, clusterIP, externalName)""",
    "Deployment": """\
spec:
  replicas: ...
  selector:
    matchLabels: ...     # the labels of the pods it manages
  template:
    metadata:
      labels: ...        # the same labels (and any more)
    spec:
      containers:
      - name: ...
        image: ...
        args: ...
        ports: ...       # each: name, containerPort
        # and each field the task names (probes, ...)""",
    "Ingress": """\
spec:
  ingressClassName: ...
  rules:
  - host: ...
    http:
      paths: ...         # each: path, pathType, backend.service.name and backend.service.port.number""",
    "HTTPRoute": """\
spec:
  parentRefs: ...        # your Gateway: name, and sectionName (its listener)
  hostnames: ...
  rules: ...             # each: matches (path type and value), backendRefs (Service name and port)""",
    "Gateway": """\
spec:
  gatewayClassName: ...
  listeners: ...         # each: name, protocol, port, hostname (HTTPS: and tls.certificateRefs)""",
}
_API_VERSIONS = {kind: api for api, kind in ROOT_TYPES}


def _body(lab: Lab, kind: str, name: str) -> str:
    """The lines below metadata.name: the kind's fields, a ConfigMap's keys (the task's table names them)."""
    if kind == "ConfigMap":
        docs = [d for f in manifest_files(lab.solution.path) for d in read_docs(f)]
        keys = [k for d in docs if (d.kind, d.name) == (kind, name) for k in d.obj.get("data") or {}]
        lines = [f"  {key}: ..." for key in keys]
        if not lines:
            return "data: ...              # key: value pairs; each value is text"
        lines[0] = lines[0].ljust(25) + "# each value is text: quote yes, no, true, false and numbers ('no')"
        return "\n".join(["data:", *lines])
    return _BODY.get(kind, "spec: ...              # see the task above")


def skeleton(lab: Lab) -> str:
    """The expected objects as commented-out YAML, one skeleton per kind: what to fill in (each `...`), not how."""
    parts = []
    for kind, name in lab.expects:
        api = _API_VERSIONS.get(kind, "v1")
        text = f"apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: {name}\n{_body(lab, kind, name)}"
        parts.append("\n".join(f"# {line}".rstrip() for line in text.splitlines()))
    return (
        "## Your answer: uncomment it (select the lines, Ctrl+/) and replace each ... (several objects: ---)\n"
        + "\n# ---\n".join(parts)
        + "\n"
    )


def learner_copy(notebook: dict[str, Any], lab: Lab) -> dict[str, Any]:
    """The notebook with every solution block replaced by the lab's skeleton (a knowledge question's by an empty
    answer) and all outputs cleared."""
    stubs = {q.answer_cell_id: q.stub for q in lab.knowledge}
    for cell in notebook.get("cells", []):
        source = "".join(cell.get("source", []))
        if "### BEGIN SOLUTION" in source:
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
            stub = stubs.get(grade_id) or skeleton(lab)
            cell["source"] = _SOLUTION.sub(stub.replace("\\", "\\\\"), source)  # a template: escape its backslashes
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return notebook


def write_copies(dest: Path, source: Path = SOURCE) -> list[Path]:
    """Write a learner copy of every source notebook under dest (same sub-folders); returns the files."""
    if not source.is_dir():
        raise BadInput(f"no notebook sources at {source}", fix="run from a servicelab checkout")
    labs = {p.name: p for p in all_labs()}
    written = []
    for path in sorted(source.glob("*/*.ipynb")):
        lab_id = path.stem
        if lab_id not in labs:
            continue
        notebook = json.loads(path.read_text(encoding="utf-8"))
        target = dest / path.parent.name / path.name
        if target.exists() and _answered(target):
            continue  # never overwrite a learner's work
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(learner_copy(notebook, load_lab(lab_id)), indent=1) + "\n", encoding="utf-8")
        written.append(target)
    return written


def _answered(path: Path) -> bool:
    """Whether a copy already holds something other than its skeleton."""
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError):
        return True  # unreadable: leave it alone
    for cell in cells:
        text = "".join(cell.get("source", []))
        if text.startswith("%%servicelab_answer"):
            body = [line for line in text.splitlines()[1:] if line.strip() and not line.lstrip().startswith("#")]
            if body:
                return True
    return False
