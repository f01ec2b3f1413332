"""hints.yaml: every check of every lab has the idea behind it and a command to observe it, and the commands name
only what is there: the lab's own objects (starter and reference solution), in the lab's namespace, or the
cluster's shared ones (nodes, Traefik's Service and Gateway)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from grader.base.errors import BadInput
from grader.base.images import LAB_IMAGES
from grader.base.names import PARTNER_HOST, TRAEFIK_GATEWAY, TRAEFIK_NAMESPACE, TRAEFIK_SERVICE
from grader.catalogue.hintspec import read_hints
from grader.catalogue.labs import Lab, load_lab
from grader.catalogue.locate import all_labs
from grader.intake.manifests import Doc, manifest_files, read_docs

LABS = [load_lab(path) for path in all_labs()]
KINDS = {
    "svc": "Service",
    "service": "Service",
    "deploy": "Deployment",
    "deployment": "Deployment",
    "pod": "Pod",
    "cm": "ConfigMap",
    "configmap": "ConfigMap",
    "ingress": "Ingress",
    "secret": "Secret",
    "httproute": "HTTPRoute",
    "gateway": "Gateway",
}
SHARED = {TRAEFIK_NAMESPACE: {("Service", TRAEFIK_SERVICE), ("Gateway", TRAEFIK_GATEWAY)}}
CLUSTER_WIDE = re.compile(r"^kubectl get (nodes|pods -A)\b")  # reads of the whole cluster: no namespace to name
PLACEHOLDER = re.compile(r"^[A-Z][A-Z-]*$")  # NODE-IP, EXTERNAL-IP: the line above the command says what it is


def lab_docs(lab: Lab) -> list[Doc]:
    files = lab.starter_files + manifest_files(lab.solution.path)
    return [doc for file in files for doc in read_docs(file)]


def labels_of(doc: Doc) -> set[tuple[str, str]]:
    template = doc.obj.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {})
    own = doc.obj.get("metadata", {}).get("labels", {})
    return {*template.items(), *own.items()}


def command_lines(lab: Lab) -> list[tuple[str, str]]:
    return [
        (check, line.strip())
        for check, told in lab.hints.items()
        for line in told.observe.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_every_check_of_every_lab_has_a_concept_and_a_command() -> None:
    assert len(LABS) >= 13
    for lab in LABS:
        assert set(lab.hints) == {c.id for c in lab.checks}, lab.id
        for told in lab.hints.values():
            assert len(told.concept) >= 80, f"{lab.id}: a concept is a sentence or more: {told.concept!r}"
            assert command_lines(lab), lab.id


@pytest.mark.parametrize("lab", LABS, ids=lambda lab: lab.id)
def test_the_commands_name_only_objects_the_lab_has(lab: Lab) -> None:
    docs = lab_docs(lab)
    objects = {(d.kind, d.name) for d in docs}
    labels = set().union(*map(labels_of, docs))
    services = {name for kind, name in objects if kind == "Service"}
    for check, line in command_lines(lab):
        where = f"{lab.id}/hints.yaml {check}: {line}"
        words = shlex.split(line)  # one command a line: kubectl, or curl from this machine
        assert words[0] in ("kubectl", "curl"), where
        if words[0] == "kubectl" and not CLUSTER_WIDE.match(line):
            assert words[:2] == ["kubectl", "-n"], f"{where}: kubectl names the namespace first"
            namespace = words[2]
            assert namespace in ("${NAMESPACE}", *SHARED), where
            known = objects if namespace == "${NAMESPACE}" else SHARED[namespace]
            for word in words[3 : words.index("--") if "--" in words else len(words)]:
                if found := re.fullmatch(r"([a-z]+)/([a-z0-9-]+)", word):
                    ref = (KINDS.get(found.group(1), found.group(1)), found.group(2))
                    assert ref in known, f"{where}: {word} is not an object of the lab"
                if word.startswith("--image="):
                    assert word.removeprefix("--image=") in LAB_IMAGES, where
            for selector in (words[i + 1] for i, w in enumerate(words) if w == "-l"):
                key, _, value = selector.partition("=")
                if key == "kubernetes.io/service-name":
                    assert value in services, f"{where}: no Service {value}"
                else:
                    assert (key, value) in labels, f"{where}: nothing carries the label {selector}"
        # curl --resolve NAME:PORT:ADDRESS pins a name to an address the line above names (GATEWAY-IP)
        pinned = {
            spec.split(":")[0] for spec in (words[i + 1] for i, w in enumerate(words) if w == "--resolve")
            if PLACEHOLDER.match(spec.split(":")[-1])
        }  # fmt: skip
        for host in re.findall(r"https?://([^/:'\s]+)", line):
            assert host in services | pinned or host == PARTNER_HOST or PLACEHOLDER.match(host), f"{where}: host {host}"


def test_hints_must_cover_the_checks_and_no_other(tmp_path: Path) -> None:
    (tmp_path / "hints.yaml").write_text("a: {concept: why, observe: 'kubectl -n ${NAMESPACE} get svc'}\n")
    assert read_hints(tmp_path, ["a"])["a"].command("lab-x") == "kubectl -n lab-x get svc"
    with pytest.raises(BadInput, match="check 'b' has no hints"):
        read_hints(tmp_path, ["a", "b"])
    with pytest.raises(BadInput, match="'a' is not a check"):
        read_hints(tmp_path, ["b"])
    (tmp_path / "hints.yaml").write_text("a: {concept: why}\n")
    with pytest.raises(BadInput, match="exactly concept and observe") as err:
        read_hints(tmp_path, ["a"])
    assert err.value.line == 1
    assert read_hints(tmp_path / "none", ["a"]) == {}
