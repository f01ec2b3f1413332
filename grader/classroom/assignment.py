"""Each student's own values for what the cluster holds once (the classroom's assignment): NODE_PORT, so a whole
class does the NodePort lab at the same time, each on their own port; SHOP_HOST, so it does the Ingress and
Gateway labs at once, each on their own HTTP host on the shared Traefik; and the static IPs (STATIC_IP,
INTERNAL_STATIC_IP: below) for the labs that ask for an address by value.

The classroom's node ports are CLASSROOM_NODE_PORTS (30100-31799), a band no lab's `policy.node_ports` and no port
servicelab itself fixes (Traefik's 30080, the hub's proxy, 31880 by default) falls in; a port inside it that one
of those holds after all (a lab added later, a proxy.node_port chosen inside it) is skipped.

A student's port depends on their name and on the students listed before them, nothing else: it is the first free
port of the band counting up (wrapping round) from where a SHA-256 of the name points, students taken in the
order the values file lists them. So adding a student at the end of the list moves no one; removing or moving
a student moves only a student listed after them whose name pointed at a port already taken (with 200 students
in 1,700 ports, a handful). Position alone would move everyone after a removed student.

A student's host is `<name>.shop.example` (SHOP_DOMAIN): the name is a DNS label already (grader.classroom.values
NAME), so the host is one DNS name, unique per student, a function of the name alone, and covered by the Gateway
lab's certificate (shop.example and *.shop.example: labs/gateway/starter/shop-tls.yaml).

The grading service reads the result as a JSON file ({"student": {"VAR": "value"}}); each student's server reads
their own from /etc/servicelab/variables.json (grader.classroom.manifests).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable, Mapping, Sequence

from grader.base.errors import BadInput
from grader.classroom.values import ADDRESS_VARIABLES, MAX_STUDENTS, Values, taken_node_ports

CLASSROOM_NODE_PORTS = (30100, 31799)  # inclusive: 1,700 ports for at most MAX_STUDENTS students
NODE_PORT = "NODE_PORT"
SHOP_HOST = "SHOP_HOST"
SHOP_DOMAIN = "shop.example"  # the Ingress and Gateway labs' default host; its certificate also covers *.shop.example
RULE = (
    f"each student gets a node port of their own from {CLASSROOM_NODE_PORTS[0]}-{CLASSROOM_NODE_PORTS[1]}, "
    "outside every lab's node_ports range, Traefik's port and the hub's proxy.node_port"
)


def node_ports(students: Iterable[str], taken: Collection[int] = ()) -> dict[str, int]:
    """student -> their node port, in the order given (see the module's docstring); taken: ports no student may
    get. BadInput when the band has fewer free ports than students."""
    low, high = CLASSROOM_NODE_PORTS
    size = high - low + 1
    free = [port for port in range(low, high + 1) if port not in taken]
    names = list(students)
    if len(names) > len(free) or len(names) > MAX_STUDENTS:
        raise BadInput(
            f"{len(names)} students, but {min(len(free), MAX_STUDENTS)} can get a node port of their own",
            rule=RULE,
            fix=f"at most {min(len(free), MAX_STUDENTS)} students in one class: split the class",
        )
    given: dict[str, int] = {}
    used = set(taken)
    for name in names:
        start = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") % size
        port = next(low + (start + step) % size for step in range(size) if low + (start + step) % size not in used)
        given[name] = port
        used.add(port)
    return given


def reserved_ports(values: Values) -> set[int]:
    """The ports of the band no student gets: each lab's node_ports range and Traefik's (taken_node_ports), and
    the hub's proxy when it is a NodePort."""
    low, high = CLASSROOM_NODE_PORTS
    ranges = [*taken_node_ports().values()]
    if values.proxy_type == "NodePort":
        ranges.append((values.node_port, values.node_port))
    return {port for first, last in ranges for port in range(max(first, low), min(last, high) + 1)}


def variables_of(
    values: Values, held: Collection[int] = (), *, addresses: Mapping[str, Mapping[str, str]] | None = None
) -> dict[str, dict[str, str]]:
    """Each student's variables, e.g. {"alice": {"NODE_PORT": "30412", "STATIC_IP": "172.18.254.7"}}. held: node
    ports the cluster already holds outside the class's student namespaces (a student's own Service holds theirs:
    leave those out, or the student moves). addresses: each student's static IPs (static_addresses), when the
    class has them. BadInput (no file: values.load says where) when the class cannot get distinct ports."""
    ports = node_ports(values.students, reserved_ports(values) | set(held))
    hosts = shop_hosts(values.students)
    own = addresses or {}
    return {
        student: {NODE_PORT: str(port), SHOP_HOST: hosts[student], **own.get(student, {})}
        for student, port in ports.items()
    }


def shop_host(student: str) -> str:
    """The student's own HTTP host for the Ingress and Gateway labs: <name>.shop.example. A classroom's names are DNS
    labels already; anything else is made one (lower case, [a-z0-9-] only, at most 63 characters)."""
    label = re.sub(r"[^a-z0-9-]+", "-", student.lower()).strip("-")[:63].rstrip("-") or "student"
    return f"{label}.{SHOP_DOMAIN}"


def shop_hosts(students: Iterable[str]) -> dict[str, str]:
    """student -> their own host (shop_host). BadInput when two names make one host (only names a values file
    refuses can: its names are DNS labels already)."""
    given: dict[str, str] = {}
    owner: dict[str, str] = {}
    for student in students:
        host = shop_host(student)
        if host in owner:
            raise BadInput(
                f"students {owner[host]!r} and {student!r} would share the host {host}",
                rule="each student gets an HTTP host of their own: <name>.shop.example",
                fix="rename one of them (names are lower-case letters, digits and '-')",
            )
        given[student], owner[host] = host, student
    return given


def host_owners(variables: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """HTTP host -> the student it is assigned to (the host wall lets only that student's namespace route it)."""
    return {own[SHOP_HOST]: student for student, own in variables.items() if own.get(SHOP_HOST)}


def port_owners(variables: Mapping[str, Mapping[str, str]]) -> dict[int, str]:
    """node port -> the student it is assigned to (the cluster wall refuses it to everyone else)."""
    return {int(own[NODE_PORT]): student for student, own in variables.items() if own.get(NODE_PORT, "").isdigit()}


# --- static IPs ---------------------------------------------------------------------------------------------------
# The labs that ask for an address by value (static-ip, internal-lb) use these. On kind each student gets one of
# each from the class's own bands (grader.cluster.net.class_bands: 200 addresses each, a MetalLB pool of the
# classroom's own); on another cluster the values file lists them (values.static_ips: an Azure static IP is a
# resource the instructor makes).
STATIC_IP, INTERNAL_STATIC_IP = ADDRESS_VARIABLES
ADDRESS_RULE = "each student gets static IPs of their own, from the classroom's bands of the kind network"


def band_addresses(students: Iterable[str], band: Sequence[str], taken: Collection[str] = ()) -> dict[str, str]:
    """student -> their address of band, in the order given: the first free address counting up (wrapping round)
    from where a SHA-256 of the name points, as node_ports does with ports, so adding a student at the end moves no
    one. taken: addresses no student may get (a node's, a container's). BadInput when the band has too few."""
    free = [address for address in band if address not in taken]
    names = list(students)
    if len(names) > len(free):
        raise BadInput(
            f"{len(names)} students, but {len(free)} can get a static IP of their own",
            rule=ADDRESS_RULE,
            fix=f"at most {len(free)} students in one class: split the class",
        )
    size = len(band)
    given: dict[str, str] = {}
    used = set(taken)
    for name in names:
        start = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") % size
        address = next(band[(start + step) % size] for step in range(size) if band[(start + step) % size] not in used)
        given[name] = address
        used.add(address)
    return given


def static_addresses(
    students: Iterable[str], bands: Mapping[str, Sequence[str]], taken: Collection[str] = ()
) -> dict[str, dict[str, str]]:
    """Each student's static IPs, {"alice": {"STATIC_IP": ..., "INTERNAL_STATIC_IP": ...}}, one per band given
    (variable -> its band). A student's address of one band depends on their name and the students before them."""
    names = list(students)
    given: dict[str, dict[str, str]] = {name: {} for name in names}
    for var, band in bands.items():
        for name, address in band_addresses(names, band, taken).items():
            given[name][var] = address
    return given


def address_variables(labs: Iterable[Iterable[str]]) -> tuple[str, ...]:
    """The address variables some lab of the class declares (each lab given as its variables), in a fixed order."""
    declared = {var for variables in labs for var in variables}
    return tuple(var for var in ADDRESS_VARIABLES if var in declared)


def address_owners(variables: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """static IP -> the student it is assigned to (the cluster wall refuses it to everyone else)."""
    return {own[var]: student for student, own in variables.items() for var in ADDRESS_VARIABLES if own.get(var)}
