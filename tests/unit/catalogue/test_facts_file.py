"""docs/AKS_FACTS.md holds every AKS or Kubernetes fact the labs state, each with its source and the day it was read.

The names, versions and dates a learner reads (annotations, GatewayClasses, `az` commands, Azure roles,
Kubernetes versions, port ranges, dates) are picked out of each lab's task.md, notebook.yaml, diagram.mmd,
diagram-kind.mmd, checks.py (its hints), hints.yaml and knowledge.yaml: each must be a key of a fact in the
file, so a new claim fails here until it is checked and written down. Each key must also still be stated in a
lab or README.md, so the file holds no stale claims.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest

from grader.catalogue.locate import all_labs

REPO = Path(__file__).resolve().parents[3]
FACTS = REPO / "docs" / "AKS_FACTS.md"
LAB_DIRS = all_labs(REPO / "labs")
LEARNER_FILES = (
    "task.md",
    "notebook.yaml",
    "diagram.mmd",
    "diagram-kind.mmd",
    "checks.py",
    "hints.yaml",
    "knowledge.yaml",
)

MONTHS = (
    "January February March April May June July August September October November December".split()  # noqa: SIM905
)
_MONTH = "|".join(MONTHS)
# "30 September 2025", "November 2026", "March 31, 2028"
DATE = re.compile(rf"\b(?:(\d{{1,2}}) )?({_MONTH})(?: (\d{{1,2}}),)? (\d{{4}})\b")
ANNOTATION = re.compile(r"\bservice\.beta\.kubernetes\.io/[A-Za-z0-9_{}<>.-]*[A-Za-z0-9}>]")
# the short forms the texts use once the full name has been given, e.g. `azure-pip-name` (not a name such as
# Deployment `azure-load-balancer`)
SHORT_ANNOTATION = re.compile(r"`(azure-(?:load-balancer|pip|dns|disable|allowed|shared|deny|additional)-[a-z0-9-]+)`")
CLASS_NAME = re.compile(
    r"(?:GatewayClass|IngressClass)\s+`([a-z0-9][a-z0-9-]*)`|(?:gatewayClassName|ingressClassName):\s*([a-z0-9][a-z0-9-]*)"
)
AZ_COMMAND = re.compile(r"`(az [a-z][a-z -]*[a-z])`")
AZURE_ROLE = re.compile(r"\b[A-Z][a-z]+ (?:Contributor|Reader|Owner)\b")
# a Kubernetes minor version (1.24, v1.36, 1.36.3), not part of an image tag, an IP address or a path
VERSION = re.compile(r"(?<![\w:./-])v?(1\.\d{1,2})(?:\.\d+)?(?![\w.]*\d)")
PORT_RANGE = re.compile(r"\b\d{4,5}-\d{4,5}\b")


def normalize(token: str) -> str:
    """One spelling per claim: dates as ISO (month precision when no day is given), annotations in full."""
    if found := DATE.fullmatch(token):
        day = found.group(1) or found.group(3)
        month = f"{found.group(4)}-{MONTHS.index(found.group(2)) + 1:02d}"
        return f"{month}-{int(day):02d}" if day else month
    if token.startswith("azure-"):
        return "service.beta.kubernetes.io/" + token
    if found := VERSION.fullmatch(token):
        return found.group(1)
    return token


def claims_in(text: str) -> set[str]:
    """The names, versions and dates a text states, normalized."""
    found = {m.group(0) for pattern in (ANNOTATION, AZURE_ROLE, PORT_RANGE, DATE) for m in pattern.finditer(text)}
    found |= {m.group(1) for pattern in (SHORT_ANNOTATION, AZ_COMMAND, VERSION) for m in pattern.finditer(text)}
    found |= {m.group(1) or m.group(2) for m in CLASS_NAME.finditer(text)}
    return {normalize(token) for token in found}


def learner_texts() -> dict[str, str]:
    return {
        str(path.relative_to(REPO)): _what_a_learner_reads(path)
        for lab in LAB_DIRS
        for path in (lab / name for name in LEARNER_FILES)
        if path.is_file()
    }


def _what_a_learner_reads(path: Path) -> str:
    """The whole text of a task or notebook part; of checks.py, the strings a learner can be shown (titles and
    hints), not the code that reads a field (a prefix the code matches is no claim)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".py":
        return text
    shown: list[str] = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Call):
            args = [*node.args, *(k.value for k in node.keywords if k.arg in ("hint", "title", "detail"))]
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in ("fail", "expect", "Fail", "check") or name.startswith("must_"):
                shown += [
                    c.value
                    for a in args
                    for c in ast.walk(a)
                    if isinstance(c, ast.Constant) and isinstance(c.value, str)
                ]
            else:
                shown += [
                    c.value
                    for a in node.keywords
                    if a.arg in ("hint", "title", "detail")
                    for c in ast.walk(a.value)
                    if isinstance(c, ast.Constant) and isinstance(c.value, str)
                ]
    return "\n".join(shown)


@dataclass
class Fact:
    claim: str
    line: int
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def keys(self) -> set[str]:
        return {normalize(k) for k in re.findall(r"`([^`]+)`", self.fields.get("Keys", ""))}


def read_facts() -> list[Fact]:
    """Each fact is a top-level item `- **claim**` with nested `- Field: value` items (values may wrap)."""
    facts: list[Fact] = []
    last = ""
    for number, line in enumerate(FACTS.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith("- **"):
            facts.append(Fact(line[2:], number))
            last = ""
        elif facts and (item := re.match(r"  - (\w+): (.*)$", line)):
            last = item.group(1)
            facts[-1].fields[last] = item.group(2)
        elif facts and line.startswith("    ") and last:
            facts[-1].fields[last] += " " + line.strip()
        elif facts and line.startswith("  ") and not last:
            facts[-1].claim += " " + line.strip()
    return facts


def test_the_fact_file_has_facts_and_the_labs_state_claims() -> None:
    assert len(read_facts()) >= 20
    assert len(set().union(*map(claims_in, learner_texts().values()))) >= 10


@pytest.mark.parametrize("fact", read_facts(), ids=lambda f: f"line-{f.line}")
def test_every_fact_names_its_labs_its_source_and_the_day_it_was_checked(fact: Fact) -> None:
    assert fact.claim.rstrip().endswith("**"), f"line {fact.line}: the claim is one bold sentence or more"
    assert set(fact.fields) >= {"Keys", "Labs", "Source", "Checked"}, f"line {fact.line}: {sorted(fact.fields)}"
    assert fact.fields["Keys"] == "none" or fact.keys, f"line {fact.line}: Keys is `key` ... or none"
    labs = {lab.name for lab in LAB_DIRS}
    named = {name.strip() for name in fact.fields["Labs"].split(",")}
    assert named <= labs, f"line {fact.line}: no such lab {sorted(named - labs)}"
    assert re.search(r"https://|seed \d{3}|seeds \d{3}|this repository|FACTS\.md", fact.fields["Source"])
    checked = re.match(r"(\d{4}-\d{2}-\d{2})\b", fact.fields["Checked"])
    assert checked, f"line {fact.line}: Checked is the day the source was read, YYYY-MM-DD"
    assert date.fromisoformat(checked.group(1)) <= date.today()


def test_every_name_version_and_date_a_lab_states_is_a_checked_fact() -> None:
    keys = set().union(*(fact.keys for fact in read_facts()))
    unchecked = sorted(
        f"{where}: {claim}" for where, text in learner_texts().items() for claim in claims_in(text) - keys
    )
    assert not unchecked, "add each to docs/AKS_FACTS.md with its source:\n" + "\n".join(unchecked)


def test_every_key_of_the_fact_file_is_still_stated_by_a_lab_or_the_readme() -> None:
    stated = set().union(*map(claims_in, learner_texts().values()), claims_in((REPO / "README.md").read_text()))
    stale = sorted(key for fact in read_facts() for key in fact.keys - stated)
    assert not stale, f"no lab states these any more; drop or update their facts: {stale}"


@pytest.mark.parametrize(
    ("text", "claim"),
    [
        ('annotations: {service.beta.kubernetes.io/azure-load-balancer-internal: "true"}', None),
        ("use `azure-pip-name` instead", "service.beta.kubernetes.io/azure-pip-name"),
        ("under GatewayClass `approuting-istio`", "approuting-istio"),
        ("gatewayClassName: approuting-istio", "approuting-istio"),
        ("run `az aks approuting gateway istio enable` once", "az aks approuting gateway istio enable"),
        ("give it the Network Contributor role", "Network Contributor"),
        ("deprecated since Kubernetes 1.24", "1.24"),
        ("clusters on v1.36.3", "1.36"),
        ("node ports 30000-32767", "30000-32767"),
        ("since 30 September 2025", "2025-09-30"),
        ("after November 2026", "2026-11"),
        ("on March 31, 2028", "2028-03-31"),
    ],
)
def test_the_claims_are_found_in_every_way_the_texts_write_them(text: str, claim: str | None) -> None:
    assert claims_in(text) == {claim or "service.beta.kubernetes.io/azure-load-balancer-internal"}


@pytest.mark.parametrize(
    "text",
    [
        "image: docker.io/library/busybox:1.37.0",
        "registry.k8s.io/e2e-test-images/agnhost:2.53",
        "a CIDR such as 10.244.1.0/24 or 192.168.1.10",
        "HTTP/1.1 and apiVersion: v1",
        "its GatewayClass names the implementation",
        "Deployment `azure-load-balancer`: three pods",
    ],
)
def test_image_tags_addresses_and_plain_words_are_not_claims(text: str) -> None:
    assert claims_in(text) == set()
