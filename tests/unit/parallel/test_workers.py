"""check-solutions in parallel: claims, chains, the worker processes (crash, interrupt) and the table's order."""

from __future__ import annotations

import copy
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from _worker_fakes import FakeCaseGrading, FakeSpec
from rich.console import Console

from grader.base.errors import BadInput, EnvError
from grader.catalogue.labs import load_lab
from grader.cluster.facts import ClusterFacts
from grader.corpus.solutions import check_solutions
from grader.intake.manifests import Doc
from grader.kube.client import RUN_ID_KEY, KubeError, UnknownKind
from grader.parallel import leases
from grader.parallel.chains import build_chains
from grader.parallel.claims import carriers, case_claims, claims_of, lease_key, overlaps, placeholder_values
from grader.parallel.workers import run_chains

HERE = Path(__file__).parents[1]  # tests/unit: the fakes and the interrupt driver
LABS = HERE.parents[1] / "labs"


def doc(kind: str, spec: dict[str, Any] | None = None, annotations: dict[str, str] | None = None) -> Doc:
    meta: dict[str, Any] = {"name": "x", **({"annotations": annotations} if annotations else {})}
    return Doc("f.yaml", 1, {"apiVersion": "v1", "kind": kind, "metadata": meta, "spec": spec or {}})


# --- claims ---------------------------------------------------------------------------------------------------


def test_fixed_node_ports_and_health_check_port_are_claimed() -> None:
    svc = doc(
        "Service",
        {
            "type": "LoadBalancer",
            "externalTrafficPolicy": "Local",
            "healthCheckNodePort": 32000,
            "ports": [{"port": 80, "nodePort": 30007}, {"port": 81}],
        },
    )
    assert claims_of([svc]) == {"nodeport:30007", "nodeport:32000"}


@pytest.mark.parametrize(
    ("spec", "annotations"),
    [
        ({"loadBalancerIP": "172.18.255.210"}, None),
        ({}, {"service.beta.kubernetes.io/azure-load-balancer-ipv4": "172.18.255.210"}),
        ({}, {"metallb.io/loadBalancerIPs": "172.18.255.210"}),
        ({}, {"metallb.universe.tf/loadBalancerIPs": " 172.18.255.210 "}),
    ],
)
def test_every_way_to_ask_for_a_static_address_is_claimed(
    spec: dict[str, Any], annotations: dict[str, str] | None
) -> None:
    assert claims_of([doc("Service", {"type": "LoadBalancer", **spec}, annotations)]) == {"ip:172.18.255.210"}


def test_metallb_address_lists_claim_each_address() -> None:
    svc = doc("Service", {"type": "LoadBalancer"}, {"metallb.io/loadBalancerIPs": "10.0.0.1,10.0.0.2"})
    assert claims_of([svc]) == {"ip:10.0.0.1", "ip:10.0.0.2"}


def test_a_load_balancer_without_a_requested_address_claims_nothing() -> None:
    internal = {"service.beta.kubernetes.io/azure-load-balancer-internal": "true"}
    assert claims_of([doc("Service", {"type": "LoadBalancer", "ports": [{"port": 80}]}, internal)]) == set()
    assert claims_of([doc("Service", {"type": "ClusterIP"}), doc("Deployment")]) == set()


def test_ingress_hosts_and_a_missing_host_are_claimed() -> None:
    ingress = doc("Ingress", {"rules": [{"host": "Shop.Example", "http": {}}, {"http": {}}]})
    assert claims_of([ingress]) == {"http-host:shop.example", "http-host:*"}
    assert claims_of([doc("Ingress", {"defaultBackend": {"service": {"name": "web"}}})]) == {"http-host:*"}


def test_httproute_hostnames_and_no_hostnames_are_claimed() -> None:
    assert claims_of([doc("HTTPRoute", {"hostnames": ["shop.example", "www.shop.example"]})]) == {
        "http-host:shop.example",
        "http-host:www.shop.example",
    }
    assert claims_of([doc("HTTPRoute", {"rules": []})]) == {"http-host:*"}


def test_overlap_is_same_kind_same_value_or_a_wildcard_covering_it() -> None:
    assert overlaps("http-host:shop.example", "http-host:*")
    assert overlaps("http-host:*.example", "http-host:shop.example")
    assert overlaps("nodeport:30007", "nodeport:30007")
    assert not overlaps("nodeport:30007", "nodeport:30070")
    assert not overlaps("http-host:shop.example", "http-host:api.example")
    assert not overlaps("ip:*", "nodeport:30007")


def write_lab(root: Path, claims: str = "") -> Path:
    lab = root / "claimer"
    for folder in ("starter", "solution", "alternatives/fixed-ip"):
        (lab / folder).mkdir(parents=True)
    (lab / "lab.yaml").write_text("id: claimer\ntitle: claims\nvariables: [STATIC_IP]\n" + claims)
    (lab / "task.md").write_text("build it\n")
    (lab / "checks.py").write_text(
        "import pytest\n\n@pytest.mark.check(points=1, title='t')\ndef test_t(lab):\n    pass\n"
    )
    (lab / "starter" / "np.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: np}\nspec:\n  type: NodePort\n"
        "  ports: [{port: 80, nodePort: 30100}]\n"
    )
    (lab / "solution" / "svc.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n"
    )
    (lab / "alternatives" / "fixed-ip" / "case.yaml").write_text("why: asks for the static address\n")
    (lab / "alternatives" / "fixed-ip" / "svc.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  annotations:\n"
        "    service.beta.kubernetes.io/azure-load-balancer-ipv4: ${STATIC_IP}\nspec: {type: LoadBalancer}\n"
    )
    return lab


def test_case_claims_include_the_starter_the_substituted_placeholder_and_lab_yaml(tmp_path: Path) -> None:
    lab = load_lab(write_lab(tmp_path, "claims: [' port:host:8080 ']\n"))
    facts = ClusterFacts(context="kind", is_kind=True, nodes=[], variables={"STATIC_IP": "172.18.255.210"})
    solution, fixed_ip = lab.cases
    assert case_claims(lab, solution, placeholder_values(facts, "ns")) == {"nodeport:30100", "port:host:8080"}
    assert case_claims(lab, fixed_ip, placeholder_values(facts, "ns")) == {
        "nodeport:30100",
        "port:host:8080",
        "ip:172.18.255.210",
    }
    # without cluster facts the placeholder's text stands for its one address
    assert "ip:${STATIC_IP}" in case_claims(lab, fixed_ip, placeholder_values(None, "ns"))


@pytest.mark.parametrize("claims", ["claims: port:host:8080\n", "claims: ['']\n", "claims: [1]\n"])
def test_lab_yaml_claims_must_be_a_list_of_non_empty_strings(tmp_path: Path, claims: str) -> None:
    with pytest.raises(BadInput, match="claims"):
        load_lab(write_lab(tmp_path, claims))


# --- chains ---------------------------------------------------------------------------------------------------


def test_overlapping_claims_share_a_chain_and_disjoint_ones_do_not() -> None:
    claims = {
        "a": {"nodeport:30007"},
        "b": set(),
        "c": {"nodeport:30007", "ip:10.0.0.1"},
        "d": {"ip:10.0.0.1"},
        "e": {"nodeport:30070"},
    }
    chains = build_chains(list(claims), lambda item: frozenset(claims[item]))
    assert chains == [["a", "c", "d"], ["b"], ["e"]]  # d joins through c; order kept inside and across chains


def test_a_hostless_route_joins_every_http_host() -> None:
    claims = {"ingress": {"http-host:shop.example"}, "route": {"http-host:api.example"}, "hostless": {"http-host:*"}}
    assert build_chains(list(claims), lambda item: frozenset(claims[item])) == [["ingress", "route", "hostless"]]


def test_the_lab_corpus_chains_what_collides() -> None:
    labs = [load_lab(LABS / name) for name in ("nodeport", "ingress", "gateway", "clusterip")]
    jobs = [(lab, case) for lab in labs for case in lab.cases]
    chains = build_chains(jobs, lambda job: case_claims(job[0], job[1], placeholder_values(None, job[1].name)))
    labels = [{f"{lab.id}/{case.label}" for lab, case in chain} for chain in chains]
    fixed = next(chain for chain in labels if "nodeport/solution" in chain)
    assert "nodeport/wrong/selector-lowercase" in fixed  # nodePort 30007 too
    assert "nodeport/wrong/nodeport-wrong" not in fixed  # 30070
    http = next(chain for chain in labels if "ingress/solution" in chain)
    assert "gateway/solution" in http  # shop.example on the same Traefik
    assert all(len(chain) == 1 for chain in labels if any(label.startswith("clusterip/") for label in chain))


# --- worker processes -----------------------------------------------------------------------------------------


def logs(log_dir: Path) -> dict[str, list[str]]:
    return {p.stem: p.read_text().splitlines() for p in log_dir.glob("*.log")}


def test_chains_run_in_order_each_on_one_worker_and_workers_close(tmp_path: Path) -> None:
    done: list[str] = []
    results = run_chains(
        [["a1", "a2", "a3"], ["b1"], ["c1", "c2"]],
        FakeSpec(str(tmp_path)),
        2,
        crashed=lambda job, why: f"{job} crashed",
        on_result=done.append,
    )
    assert sorted(r.split()[0] for r in results) == ["a1", "a2", "a3", "b1", "c1", "c2"]
    assert done == results  # reported as they finish
    by_worker = logs(tmp_path)
    assert len(by_worker) <= 2
    for lines in by_worker.values():
        assert lines[0] == "open"
        assert lines[-1] == "closed"
    ran = [[line.split()[1] for line in lines if line.startswith("ran ")] for lines in by_worker.values()]
    a_worker = next(jobs for jobs in ran if "a1" in jobs)
    assert [j for j in a_worker if j.startswith("a")] == ["a1", "a2", "a3"]


def test_a_worker_crash_is_that_jobs_row_and_the_chain_goes_on_after_cleaning_up(tmp_path: Path) -> None:
    results = run_chains(
        [["a1", "a2", "a3"], ["b1"]],
        FakeSpec(str(tmp_path), crash_on="a2"),
        2,
        crashed=lambda job, why: f"{job} crashed: {why}",
    )
    assert "a2 crashed: worker process died (exit code 3)" in results
    assert {r.split()[0] for r in results} == {"a1", "a2", "a3", "b1"}
    by_worker = logs(tmp_path)
    dead = next(run_id for run_id, lines in by_worker.items() if "ran a2" in lines)
    assert "closed" not in by_worker[dead]
    heir = next(lines for lines in by_worker.values() if "ran a3" in lines)
    assert heir.index(f"clean-up {dead}") < heir.index("ran a3")


def test_check_solutions_table_is_in_lab_then_case_order(tmp_path: Path) -> None:
    names = [str(LABS / "clusterip"), str(LABS / "nodeport")]
    # one job: the longest chain (nodeport's fixed 30007) runs first, yet the table starts with clusterip
    with (tmp_path / "out.txt").open("w") as out:
        rows = check_solutions(
            names, FakeCaseGrading(crash_on="nodeport/wrong/targetport-8080"), Console(file=out, width=200), jobs=1
        )
    expected = [(lab.id, case.label) for lab in map(load_lab, names) for case in lab.cases]
    assert [(r.lab, r.case) for r in rows] == expected
    crashed = next(r for r in rows if r.case == "wrong/targetport-8080")
    assert crashed.outcome.observed.startswith("crashed: worker process died")
    assert sum(not r.outcome.holds for r in rows) == 1


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupt_unwinds_every_worker_through_its_cleanup(tmp_path: Path, signum: int, code: int) -> None:
    # a new session: the signal goes to the driver's whole process group, as a terminal's Ctrl-C would
    driver = subprocess.Popen(
        [sys.executable, str(HERE / "_interrupt_driver.py"), str(tmp_path)], start_new_session=True
    )
    try:
        wait_until(lambda: sum("ran a1" in lines or "ran b1" in lines for lines in logs(tmp_path).values()) == 2)
        wait_until(lambda: any("cleaned c1" in lines for lines in logs(tmp_path).values()))
        os.killpg(driver.pid, signum)
        assert driver.wait(timeout=60) == code
    finally:
        if driver.poll() is None:
            driver.kill()
    by_worker = logs(tmp_path)
    assert len(by_worker) == 3
    for run_id, lines in by_worker.items():
        assert lines[-2:] == [f"clean-up {run_id}", "closed"]  # swept its own run, then closed its environment
    hung = [lines for lines in by_worker.values() if "ran a1" in lines or "ran b1" in lines]
    assert all(any(line in ("cleaned a1", "cleaned b1") for line in lines) for lines in hung)
    assert not any("ran a2" in lines or "ran b2" in lines for lines in by_worker.values())


def wait_until(condition: Any, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


# --- claims held on the cluster (leases) ----------------------------------------------------------------------


class LeaseKube:
    """Leases and namespaces by name, with the API's AlreadyExists, Conflict (resourceVersion) and NotFound."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.version = 0

    def _key(self, kind: str, name: str) -> tuple[str, str]:
        return ("namespace" if kind.lower().startswith("namespace") else "lease", name)

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        found = self.objects.get(self._key(kind, name))
        return copy.deepcopy(found) if found else None

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        key = self._key(obj["kind"], obj["metadata"]["name"])
        if key in self.objects:
            raise KubeError("exists", reason="AlreadyExists")
        self.version += 1
        self.objects[key] = copy.deepcopy(obj)
        self.objects[key]["metadata"]["resourceVersion"] = str(self.version)
        return obj

    def patch(self, kind: str, name: str, namespace: str | None, merge_patch: dict[str, Any]) -> None:
        current = self.objects.get(self._key(kind, name))
        if current is None:
            raise KubeError("gone", reason="NotFound")
        if merge_patch["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise KubeError("changed", reason="Conflict")
        self.version += 1
        current["metadata"] = {**merge_patch["metadata"], "resourceVersion": str(self.version)}
        current["spec"] = merge_patch["spec"]

    def delete(self, kind: str, name: str, namespace: str | None = None, *, wait: bool = False) -> None:
        self.objects.pop(self._key(kind, name), None)

    def delete_all(self, kind: str, namespace: str, *, selector: str | None = None, wait: bool = False) -> None:
        run = (selector or "").rpartition("=")[2]
        for key in [k for k, o in self.objects.items() if o["metadata"].get("labels", {}).get(RUN_ID_KEY) == run]:
            del self.objects[key]

    def list(self, kind: str, namespace: str | None = None, selector: str | None = None) -> list[dict[str, Any]]:
        return [copy.deepcopy(o) for k, o in self.objects.items() if k[0] == "lease"]

    def holders(self) -> list[str]:
        return sorted(o["spec"]["holderIdentity"] for k, o in self.objects.items() if k[0] == "lease")

    def claims(self) -> list[str]:
        return sorted(
            o["metadata"]["annotations"][leases.CLAIM_KEY] for k, o in self.objects.items() if k[0] == "lease"
        )


def test_an_exact_host_locks_its_own_key_and_every_wildcard_the_kinds_gate() -> None:
    assert lease_key("http-host:ada.shop.example") == "http-host:ada.shop.example"
    assert lease_key("http-host:*") == lease_key("http-host:*.shop.example") == "http-host:*"
    assert lease_key("nodeport:30007") == "nodeport:30007"


def test_a_lease_is_held_for_the_block_and_released_after() -> None:
    kube = LeaseKube()
    with leases.holding(kube, frozenset({"nodeport:30007", "http-host:a", "http-host:*"}), "run1", 5):
        assert kube.claims() == ["http-host:*", "http-host:a", "nodeport:30007"]  # its own gate does not stop it
        assert all(h.endswith("/run1") for h in kube.holders())
        assert kube.get("namespace", leases.NAMESPACE) is not None
    assert kube.holders() == []


def test_two_students_hosts_are_held_at_once_and_the_same_host_waits() -> None:
    kube = LeaseKube()
    with (
        leases.holding(kube, frozenset({"http-host:ada.shop.example"}), "ada", 5),
        leases.holding(kube, frozenset({"http-host:bob.shop.example"}), "bob", 5),
    ):
        assert kube.claims() == ["http-host:ada.shop.example", "http-host:bob.shop.example"]
        with (
            pytest.raises(EnvError, match=r"claim http-host:ada\.shop\.example is held elsewhere"),
            leases.holding(kube, frozenset({"http-host:ada.shop.example"}), "ada-again", 1.0),
        ):
            pytest.fail("the same host must wait")
    assert kube.holders() == []


def test_a_hostless_route_waits_for_every_exact_host_held_elsewhere() -> None:
    kube = LeaseKube()
    with leases.holding(kube, frozenset({"http-host:ada.shop.example"}), "ada", 5):
        with (
            pytest.raises(EnvError, match=r"claim http-host:\* waits on hosts held elsewhere.*ada.shop.example"),
            leases.holding(kube, frozenset({"http-host:*"}), "hostless", 1.0),
        ):
            pytest.fail("a route for every host must wait for ada's")
        assert kube.claims() == ["http-host:ada.shop.example"]  # the waiter let go of the gate


def test_an_exact_host_lets_go_while_a_hostless_route_is_held_elsewhere() -> None:
    kube = LeaseKube()
    with leases.holding(kube, frozenset({"http-host:*"}), "hostless", 5):
        with (
            pytest.raises(EnvError, match=r"claim http-host:\* is held elsewhere"),
            leases.holding(kube, frozenset({"http-host:ada.shop.example", "nodeport:30100"}), "ada", 1.0),
        ):
            pytest.fail("ada's host is covered by the route for every host")
        assert kube.claims() == ["http-host:*"]  # ada holds nothing while she waits
    with leases.holding(kube, frozenset({"http-host:ada.shop.example", "nodeport:30100"}), "ada", 1.0):
        assert kube.claims() == ["http-host:ada.shop.example", "nodeport:30100"]


def test_a_live_holder_elsewhere_makes_the_case_wait_then_an_env_error() -> None:
    kube = LeaseKube()
    with leases.holding(kube, frozenset({"nodeport:30007"}), "other", 5):
        with (
            pytest.raises(EnvError, match="claim nodeport:30007 is held elsewhere"),
            leases.holding(kube, frozenset({"nodeport:30007"}), "mine", 1.0),
        ):
            pytest.fail("must not get the claim")
        assert [h.rsplit("/", 1)[1] for h in kube.holders()] == ["other"]


def test_a_dead_holders_lease_is_taken_over() -> None:
    kube = LeaseKube()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lease = leases._lease("nodeport:30007", "gone")
    lease["spec"]["holderIdentity"] = f"{socket.gethostname()}/{dead.pid}/gone"
    kube.create(lease)
    with leases.holding(kube, frozenset({"nodeport:30007"}), "mine", 5):
        assert [h.rsplit("/", 1)[1] for h in kube.holders()] == ["mine"]
    assert kube.holders() == []


def test_a_dead_runs_leases_are_dropped() -> None:
    kube = LeaseKube()
    kube.create(leases._lease("nodeport:30007", "dead"))
    kube.create(leases._lease("ip:10.0.0.1", "alive"))
    leases.release_run(kube, "dead")
    assert [h.rsplit("/", 1)[1] for h in kube.holders()] == ["alive"]


def test_claims_are_released_when_the_objects_carrying_them_are_gone() -> None:
    assert carriers({"nodeport:30007", "ip:10.0.0.1"}) == ("services",)
    assert "httproutes.gateway.networking.k8s.io" in (carriers({"http-host:*"}) or ())
    assert carriers({"nodeport:30007", "port:host:8080"}) is None  # a lab.yaml claim: the whole namespace

    class Terminating:
        """A namespace that lingers while terminating; its route goes only when deleted."""

        def __init__(self, grpcroutes: KubeError) -> None:
            self.deleted: list[str] = []
            self.grpcroutes = grpcroutes

        def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
            return {"metadata": {"name": name}}

        def delete_all(
            self, kind: str, namespace: str, *, selector: str | None = None, wait: bool = False, timeout: float = 0
        ) -> None:
            if kind.startswith("grpcroutes"):
                raise self.grpcroutes
            assert wait
            assert selector == "app.kubernetes.io/managed-by=servicelab"  # only what the grader applied
            self.deleted.append(kind.partition(".")[0])

    kube = Terminating(UnknownKind('error: the server doesn\'t have a resource type "grpcroutes"'))
    leases.wait_released(kube, "ns", frozenset({"http-host:shop.example"}))
    assert kube.deleted == ["ingresses", "httproutes", "gateways"]  # deleted and waited for, not the namespace
    kube = Terminating(KubeError("Error from server (Forbidden): ...", status=403, reason="Forbidden"))
    leases.wait_released(kube, "ns", frozenset({"http-host:shop.example"}))  # a warning, and the claims go
    assert kube.deleted == ["ingresses", "httproutes"]  # any other refusal ends the wait there
