"""The values file of `servicelab classroom up`: who is in the class, which labs, what each student's server gets.

An instructor writes it; every mistake is refused before anything is applied, with the file, the line, the rule
and the fix (exit 2). A field left out takes the default below. The whole file, with every field:

    students: [alice, bob]          # required: one walled namespace servicelab-student-<name> each, and each
                                    # their own node port (grader.classroom.assignment: add new students at
                                    # the end, so no one else's moves)
    instructors: [teacher]          # required: the hub's admins (they log in with the instructor password)
    labs: [clusterip, nodeport]     # required: lab ids; their policies shape each student namespace's walls and Role
    resources:                      # each student's server (one container): within the namespace's LimitRange
      cpu: {request: 100m, limit: 500m}
      memory: {request: 256Mi, limit: 512Mi}
    login:                          # JupyterHub's SharedPasswordAuthenticator; a password left out is generated
      student_password: ...         # at least 8 characters: every student logs in with it (as their own name)
      instructor_password: ...      # at least 32 characters, not the students'
    proxy:                          # how the class reaches the hub
      type: NodePort                # NodePort (kind) or LoadBalancer (AKS, or MetalLB on kind)
      node_port: 31880              # NodePort only: 30000-32767, not one a lab claims
    hub_state: auto                 # pvc (survives a hub restart), emptyDir (lost with the hub pod), or auto:
                                    # pvc unless the StorageClass is the in-tree host-path one (see deploy.py)
    storage_class: ""               # the PVC's StorageClass; "" = the cluster's default
    images:                         # on kind, the offline build's tags are loaded into the nodes; elsewhere
      hub: ""                       # all three must be named: pulled from your registry
      singleuser: ""
      grading: ""
    grading:                        # the grading service (grader.classroom.grading, grader.classroom.incluster)
      runs: auto                    # container (beside kind, where the outside vantage points are), in-cluster
                                    # (a Deployment: no outside vantage), or auto: container on kind, else in-cluster
      gradebook: ""                 # "" = an SQLite file on the service's volume or PVC; or a PostgreSQL database
                                    # it reaches: postgresql://USER:PASSWORD@HOST:5432/DATABASE (handed over in
                                    # the container's environment or a Secret, the password never shown)
      replicas: 1                   # pods of the in-cluster service, or containers beside kind; more than one
                                    # needs the PostgreSQL gradebook (each takes gradings from the same class with
                                    # its own workers; the Service spreads the calls)
    static_ips:                     # not on kind (there the classroom carves them): each student's own
      alice: {STATIC_IP: 20.31.4.5, INTERNAL_STATIC_IP: 10.224.0.40}   # addresses for the labs that ask for one
                                    # by value (static-ip: both; internal-lb: INTERNAL_STATIC_IP), one per student
                                    # and lab variable: Azure static IPs the instructor made (README, AKS)
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from grader.base.errors import BadInput
from grader.base.names import TRAEFIK_NODE_PORT
from grader.classroom.service import database
from grader.cluster import podguard
from grader.intake.yamlread import parse, read_file

STUDENT_PREFIX = "servicelab-student-"
# A name is a DNS label KubeSpawner keeps as it is (no escaping, no hash), so the namespace is predictable.
NAME = re.compile(r"^[a-z]([a-z0-9]|-(?!-))*[a-z0-9]$|^[a-z]$")
MAX_NAME = 63 - len(STUDENT_PREFIX)
MAX_STUDENTS = 200
QUANTITY = re.compile(r"^(?P<number>\d+(\.\d+)?)(?P<unit>m|Ki|Mi|Gi|)$")
UNITS = {"m": 0.001, "": 1.0, "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30}
ALLOWED_UNITS = {"cpu": ("m", ""), "memory": ("Ki", "Mi", "Gi", "")}
PROXY_TYPES = ("NodePort", "LoadBalancer")
HUB_STATES = ("auto", "pvc", "emptyDir")
DEFAULT_NODE_PORT = 31880  # outside every lab's node_ports range and Traefik's
STUDENT_PASSWORD_MIN, INSTRUCTOR_PASSWORD_MIN = 8, 32  # SharedPasswordAuthenticator's own minimums
KEYS = {
    "students", "instructors", "labs", "resources", "login", "proxy", "hub_state", "storage_class", "images",
    "static_ips", "grading",
}  # fmt: skip
GRADING_RUNS = ("auto", "container", "in-cluster")
MAX_REPLICAS = 20
ADDRESS_VARIABLES = ("STATIC_IP", "INTERNAL_STATIC_IP")  # the lab variables whose values are addresses
RULE_DOC = "the values file (grader/classroom/values.py, README 'Teach a class')"


@dataclass(frozen=True)
class Resources:
    cpu_request: str = "100m"
    cpu_limit: str = "500m"
    memory_request: str = "256Mi"
    memory_limit: str = "512Mi"


@dataclass(frozen=True)
class Values:
    students: tuple[str, ...]
    instructors: tuple[str, ...]
    labs: tuple[str, ...]
    resources: Resources = field(default_factory=Resources)
    student_password: str = ""
    instructor_password: str = ""
    proxy_type: str = "NodePort"
    node_port: int = DEFAULT_NODE_PORT
    hub_state: str = "auto"
    storage_class: str = ""
    hub_image: str = ""
    singleuser_image: str = ""
    grading_image: str = ""
    grading_runs: str = "auto"
    # student -> {"STATIC_IP": address, ...}: off kind, the instructor's addresses (grader.classroom.assignment)
    static_ips: dict[str, dict[str, str]] = field(default_factory=dict)
    gradebook: str = field(default="", repr=False)  # a PostgreSQL URL, maybe with a password; "": the SQLite file
    grading_replicas: int = 1  # pods or containers of the service (more than one: only with a PostgreSQL gradebook)

    def namespace(self, student: str) -> str:
        return STUDENT_PREFIX + student


def load(path: Path) -> Values:
    """Read and check a values file; BadInput (file, line, rule, fix) for the first mistake."""
    shown = str(path)
    if not path.is_file():
        raise BadInput("no such file", file=shown, rule=RULE_DOC, fix="write a values file, e.g. the README's")
    docs = parse(read_file(path, shown), shown)
    if len(docs) != 1:
        raise BadInput(f"{len(docs)} YAML documents", file=shown, line=1, rule="one mapping", fix="keep one document")
    return from_data(docs[0].obj, docs[0].node, shown)


def from_data(data: Any, node: yaml.Node | None, file: str) -> Values:
    """Values from parsed YAML (node: where each key is, for line numbers)."""
    at = _Where(file, node)
    if not isinstance(data, dict):
        raise at.bad((), "the values file is not a mapping", "a mapping of students, instructors, labs, ...")
    unknown = sorted(set(map(str, data)) - KEYS)
    if unknown:
        raise at.bad(
            (unknown[0],), f"unknown key '{unknown[0]}'", f"the keys are {', '.join(sorted(KEYS))}", "remove it"
        )
    students = _names(data, at, "students", required=True)
    instructors = _names(data, at, "instructors", required=True)
    both = sorted(set(students) & set(instructors))
    if both:
        raise at.bad(("instructors",), f"'{both[0]}' is a student and an instructor", "one role each")
    labs = _labs(data, at)
    resources = _resources(data.get("resources"), at)
    login = _mapping(data, at, "login", {"student_password", "instructor_password"})
    student_password = _text(login, at, ("login", "student_password"))
    instructor_password = _text(login, at, ("login", "instructor_password"))
    if student_password and len(student_password) < STUDENT_PASSWORD_MIN:
        raise at.bad(
            ("login", "student_password"), "the student password is too short",
            f"at least {STUDENT_PASSWORD_MIN} characters (JupyterHub's SharedPasswordAuthenticator)",
        )  # fmt: skip
    if instructor_password and len(instructor_password) < INSTRUCTOR_PASSWORD_MIN:
        raise at.bad(
            ("login", "instructor_password"), "the instructor password is too short",
            f"at least {INSTRUCTOR_PASSWORD_MIN} characters (JupyterHub's SharedPasswordAuthenticator)",
        )  # fmt: skip
    if student_password and student_password == instructor_password:
        raise at.bad(("login", "instructor_password"), "the two passwords are the same", "two different passwords")
    proxy = _mapping(data, at, "proxy", {"type", "node_port"})
    proxy_type = _choice(proxy, at, ("proxy", "type"), PROXY_TYPES)
    node_port = _node_port(proxy, at, proxy_type)
    hub_state = _choice(data, at, ("hub_state",), HUB_STATES)
    images = _mapping(data, at, "images", {"hub", "singleuser", "grading"})
    grading = _mapping(data, at, "grading", {"runs", "gradebook", "replicas"})
    values = Values(
        students=students,
        instructors=instructors,
        labs=labs,
        resources=resources,
        student_password=student_password,
        instructor_password=instructor_password,
        proxy_type=proxy_type,
        node_port=node_port,
        hub_state=hub_state,
        storage_class=_text(data, at, ("storage_class",)),
        hub_image=_text(images, at, ("images", "hub")),
        singleuser_image=_text(images, at, ("images", "singleuser")),
        grading_image=_text(images, at, ("images", "grading")),
        grading_runs=_choice(grading, at, ("grading", "runs"), GRADING_RUNS),
        static_ips=_static_ips(data, at, students),
        gradebook=_gradebook(grading, at),
        grading_replicas=_replicas(grading, at),
    )
    if values.grading_replicas > 1 and not values.gradebook:
        raise at.bad(
            ("grading", "replicas"),
            f"{values.grading_replicas} replicas share one gradebook only in a database",
            "replicas > 1 needs grading.gradebook (PostgreSQL): an SQLite file is one pod's or one container's",
            "set grading.gradebook: postgresql://..., or replicas: 1",
        )
    _each_gets_a_node_port(values, at)
    return values


def quantity(text: str) -> float:
    """A Kubernetes quantity of the forms values allow (100m, 0.5, 256Mi, 1Gi) as a number."""
    match = QUANTITY.match(text)
    if not match:
        raise ValueError(text)
    return float(match["number"]) * UNITS[match["unit"]]


@dataclass(frozen=True)
class _Where:
    """Line numbers of keys in the values file."""

    file: str
    node: yaml.Node | None

    def line(self, path: tuple[str | int, ...]) -> int | None:
        node, line = self.node, (self.node.start_mark.line + 1 if self.node else None)
        for step in path:
            found = None
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    if isinstance(key, yaml.ScalarNode) and key.value == step:
                        found, line = value, key.start_mark.line + 1
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
                found = node.value[step]
                line = found.start_mark.line + 1
            if found is None:
                return line
            node = found
        return line

    def bad(self, path: tuple[str | int, ...], message: str, rule: str, fix: str | None = None) -> BadInput:
        shown = ".".join(str(step) for step in path)
        return BadInput(
            f"{shown}: {message}" if shown else message,
            file=self.file,
            line=self.line(path),
            rule=rule,
            fix=fix or f"see {RULE_DOC}",
        )


def _mapping(data: dict[str, Any], at: _Where, key: str, keys: set[str]) -> dict[str, Any]:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise at.bad((key,), "is not a mapping", f"{key} is a mapping of {', '.join(sorted(keys))}")
    unknown = sorted(set(map(str, value)) - keys)
    if unknown:
        raise at.bad((key, unknown[0]), "unknown key", f"{key} has {', '.join(sorted(keys))}", "remove it")
    return value


def _text(data: dict[str, Any], at: _Where, path: tuple[str, ...]) -> str:
    value = data.get(path[-1])
    if value is None:
        return ""
    if not isinstance(value, str):
        raise at.bad(path, f"{value!r} is not text", "a string", "quote it")
    return value


def _choice(data: dict[str, Any], at: _Where, path: tuple[str, ...], choices: tuple[str, ...]) -> str:
    value = data.get(path[-1], choices[0])
    if value not in choices:
        raise at.bad(path, f"{value!r} is not one of {', '.join(choices)}", f"one of {', '.join(choices)}")
    return str(value)


def _names(data: dict[str, Any], at: _Where, key: str, *, required: bool) -> tuple[str, ...]:
    value = data.get(key)
    rule = (
        f"{key} is a list of names: lowercase letters, digits and single '-', starting with a letter, ending with a"
        f" letter or digit, at most {MAX_NAME} characters (the namespace is {STUDENT_PREFIX}<name>)"
    )
    if value is None or value == []:
        if required:
            raise at.bad((key,), "is missing or empty", rule, f"add {key}: [name, ...]")
        return ()
    if not isinstance(value, list):
        raise at.bad((key,), "is not a list", rule, f"write {key}: [name, ...]")
    if len(value) > MAX_STUDENTS:
        raise at.bad((key,), f"{len(value)} names", f"at most {MAX_STUDENTS} in one class", "split the class")
    seen: set[str] = set()
    for index, name in enumerate(value):
        if not isinstance(name, str) or not NAME.match(name) or len(name) > MAX_NAME:
            raise at.bad((key, index), f"{name!r} is not a valid name", rule, "rename it, e.g. alice or bob-2")
        if name in seen:
            raise at.bad((key, index), f"'{name}' is listed twice", "each name once", "remove the second")
        seen.add(name)
    return tuple(value)


def _replicas(grading: dict[str, Any], at: _Where) -> int:
    value = grading.get("replicas", 1)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_REPLICAS:
        raise at.bad(("grading", "replicas"), f"{value!r} is not a number of pods", f"1 to {MAX_REPLICAS}")
    return value


def _gradebook(grading: dict[str, Any], at: _Where) -> str:
    """A PostgreSQL URL, or "" for the service's own SQLite file (its password is never in an error)."""
    path = ("grading", "gradebook")
    value = grading.get("gradebook")
    if value is not None and not isinstance(value, str):
        raise at.bad(path, "is not text", database.URL_RULE, "quote it: 'postgresql://...'")
    url = (value or "").strip()
    if not url:
        return ""
    try:
        database.check_url(url)
    except BadInput as err:
        raise at.bad(path, err.message, err.rule or database.URL_RULE, err.fix) from None
    return url


def _labs(data: dict[str, Any], at: _Where) -> tuple[str, ...]:
    from grader.catalogue.locate import find_lab  # noqa: PLC0415 - reads the catalogue only when labs are named

    value = data.get("labs")
    rule = "labs is a list of lab ids from the catalogue (servicelab notebooks lists them)"
    if not isinstance(value, list) or not value:
        raise at.bad(("labs",), "is missing, empty or not a list", rule, "add labs: [clusterip, nodeport]")
    for index, lab in enumerate(value):
        if not isinstance(lab, str):
            raise at.bad(("labs", index), f"{lab!r} is not a lab id", rule)
        try:
            find_lab(lab)
        except BadInput as err:
            raise at.bad(("labs", index), f"no lab '{lab}'", rule, err.fix or "use a lab id under labs/") from None
    if len(set(value)) != len(value):
        raise at.bad(("labs",), "a lab is listed twice", "each lab once", "remove the second")
    return tuple(value)


def _resources(value: Any, at: _Where) -> Resources:
    if value is None:
        return Resources()
    rule = (
        "resources: {cpu: {request, limit}, memory: {request, limit}}; quantities like 100m, 0.5, 256Mi, 1Gi;"
        f" request <= limit <= the namespace's container maximum (cpu {podguard.CONTAINER_MAX['cpu']},"
        f" memory {podguard.CONTAINER_MAX['memory']})"
    )
    if not isinstance(value, dict) or set(map(str, value)) - {"cpu", "memory"}:
        raise at.bad(("resources",), "is not a mapping of cpu and memory", rule)
    defaults = Resources()
    picked: dict[str, str] = {}
    for resource in ("cpu", "memory"):
        given = value.get(resource) or {}
        if not isinstance(given, dict) or set(map(str, given)) - {"request", "limit"}:
            raise at.bad(("resources", resource), "is not a mapping of request and limit", rule)
        numbers = {}
        for bound in ("request", "limit"):
            text = given.get(bound, getattr(defaults, f"{resource}_{bound}"))
            text = str(text) if isinstance(text, int | float) and not isinstance(text, bool) else text
            match = QUANTITY.match(text) if isinstance(text, str) else None
            if match is None or match["unit"] not in ALLOWED_UNITS[resource]:
                raise at.bad(("resources", resource, bound), f"{text!r} is not a {resource} quantity", rule)
            numbers[bound] = quantity(text)
            picked[f"{resource}_{bound}"] = text
        if numbers["request"] <= 0 or numbers["request"] > numbers["limit"]:
            raise at.bad(("resources", resource), "the request is 0 or above the limit", rule)
        if numbers["limit"] > quantity(podguard.CONTAINER_MAX[resource]):
            raise at.bad(("resources", resource, "limit"), "above the namespace's container maximum", rule)
    return Resources(**picked)


def taken_node_ports() -> dict[str, tuple[int, int]]:
    """What already holds node ports on the lab cluster: each lab's `policy.node_ports` range, and Traefik."""
    from grader.catalogue.locate import labs_root  # noqa: PLC0415 - reads the catalogue only when asked

    return {"Traefik": (TRAEFIK_NODE_PORT, TRAEFIK_NODE_PORT), **_labs_node_ports(labs_root())}


@functools.cache
def _labs_node_ports(root: Path | None) -> dict[str, tuple[int, int]]:
    """Per catalogue: reading every lab takes a while, and a catalogue does not change while servicelab runs."""
    from grader.catalogue.labs import load_lab  # noqa: PLC0415
    from grader.catalogue.locate import all_labs  # noqa: PLC0415

    return {f"lab {lab.id}": lab.policy.node_ports for lab in map(load_lab, all_labs(root)) if lab.policy.node_ports}


def _node_port(proxy: dict[str, Any], at: _Where, proxy_type: str) -> int:
    value = proxy.get("node_port", DEFAULT_NODE_PORT)
    rule = "proxy.node_port: 30000-32767, outside every lab's node_ports range and Traefik's port"
    if proxy_type != "NodePort" and "node_port" in proxy:
        raise at.bad(("proxy", "node_port"), "is set, but proxy.type is not NodePort", rule, "remove it")
    if not isinstance(value, int) or isinstance(value, bool) or not 30000 <= value <= 32767:
        raise at.bad(("proxy", "node_port"), f"{value!r} is not a node port", rule)
    for holder, (low, high) in taken_node_ports().items():
        if low <= value <= high:
            raise at.bad(
                ("proxy", "node_port"), f"{value} is {holder}'s (node ports {low}-{high})", rule,
                f"use {DEFAULT_NODE_PORT}",
            )  # fmt: skip
    return value


def _each_gets_a_node_port(values: Values, at: _Where) -> None:
    """Refuse a class whose students cannot each get a node port of their own (grader.classroom.assignment)."""
    from grader.classroom.assignment import variables_of  # noqa: PLC0415 - it builds on this module

    try:
        variables_of(values)
    except BadInput as err:
        raise at.bad(("students",), err.message, err.rule or RULE_DOC, err.fix) from None


def _static_ips(data: dict[str, Any], at: _Where, students: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """static_ips: {student: {STATIC_IP: address, INTERNAL_STATIC_IP: address}}, each address given once."""
    value = data.get("static_ips")
    rule = (
        "static_ips maps a listed student to their own addresses: "
        f"{{{', '.join(f'{var}: <IP address>' for var in ADDRESS_VARIABLES)}}}, no address given twice"
    )
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise at.bad(("static_ips",), "is not a mapping", rule)
    found: dict[str, dict[str, str]] = {}
    owners: dict[str, str] = {}
    for student, own in value.items():
        if student not in students:
            raise at.bad(
                ("static_ips", str(student)), f"'{student}' is not in students", rule, "list them or remove this"
            )
        if not isinstance(own, dict) or not own:
            raise at.bad(("static_ips", student), "is not a mapping of variables to addresses", rule)
        found[student] = {}
        for var, address in own.items():
            path = ("static_ips", student, str(var))
            if var not in ADDRESS_VARIABLES:
                raise at.bad(path, f"'{var}' is no address variable", rule, f"one of {', '.join(ADDRESS_VARIABLES)}")
            try:
                text = str(ipaddress.ip_address(str(address).strip()))  # one spelling: what the wall compares
            except ValueError:
                raise at.bad(path, f"{address!r} is not an IP address", rule, "quote an address: '20.31.4.5'") from None
            if text in owners:
                raise at.bad(path, f"{text} is {owners[text]} too", rule, "give each student addresses of their own")
            owners[text] = f"{student}'s {var}"
            found[student][var] = text
    return found
