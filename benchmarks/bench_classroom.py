"""A class on the grading service: N students (30) each doing 3 labs at once, graded live by the classroom's service.

Room for 30: the three labs' starters run 7 pods per student (3 + 3 + 1), 210 for the class. The kind lab cluster's
two workers schedule 400 pods (fixtures/kind-config.yaml sets the kubelet's maxPods to 200; its default of 110
left 206 free slots, and 29 students). The bench checks the free pod slots first and says so instead of starting a
class that cannot fit (a cluster made before that setting: `servicelab down` and `servicelab up` make it anew).

`servicelab classroom up` with N students on the kind lab cluster; the hub's REST API lists them; each student's
answers are applied with the student's own ServiceAccount token (the one their server pod holds: a TokenRequest),
into their own namespace; then every student asks for every lab's grading at once (N x 3 `check()` calls: POST
/grade?wait=true with the student's token, as the notebook's check() sends it). Every tenth student hands in a
known-wrong answer for one lab.

Prints and writes to reports/bench-classroom.json (-replicas-N.json with --replicas N): each grading's verdict
against the expected one (solution: full marks; wrong case: not PASS, the check it targets failed), check() latency
p50/p95/max (request to result, including the wait in the service's fair queue), the grading service's and the hub's
memory (peak of 1 s samples: the container's from `docker stats`, the hub pod's cgroup memory usage). Asserts
nothing; exit 1 when a grading is not what it should be.

Students' Jupyter servers are not started (one JupyterLab per student would not fit this 2-core machine 30 times):
the 5-student e2e (tests/e2e/test_classroom_e2e.py) runs check() through real servers' kernels.

With --replicas N (and --gradebook, the PostgreSQL database they share) the service runs as N containers beside
kind; student k's calls go to container k mod N (as Service `grading` spreads them), and the memory figure is the
peak of the containers' sum.

    python benchmarks/bench_classroom.py [--context kind-servicelab] [--students 30] [--keep]
                                         [--replicas N --gradebook postgresql://USER:PASSWORD@HOST:PORT/DATABASE]
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

from grader.base.wait import wait_for
from grader.classroom import deploy, grading
from grader.classroom import manifests as m
from grader.grading import fence
from grader.kube.api import kubeconfig_text
from grader.kube.client import Kube

REPO = Path(__file__).resolve().parent.parent
# Three labs whose objects can share a student's one namespace (clusterip and session-affinity both make `web`).
LABS = ("clusterip", "nodeport", "externalname")
WRONG = {"clusterip": "wrong/type-nodeport", "nodeport": "wrong/selector-lowercase", "externalname": "wrong/short-name"}
OUT = REPO / "reports" / "bench-classroom.json"
READY_S = 300.0
# the hub pod's memory as its cgroup counts it: v2, else v1 (kind's nodes on a cgroup v1 host)
CGROUP_MEMORY = "cat /sys/fs/cgroup/memory.current 2>/dev/null || cat /sys/fs/cgroup/memory/memory.usage_in_bytes"


@dataclass
class Grading:
    student: str
    lab: str
    case: str
    expected: str  # "full marks" or the check that must fail
    seconds: float = 0.0
    verdict: str = ""
    score: str = ""
    correct: bool = False
    why: str = ""


def servicelab(*args: str, context: str) -> float:
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "grader.cli", "classroom", *args, "--context", context],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"servicelab classroom {args[0]} exit {done.returncode}:\n{done.stdout}{done.stderr}")
    return time.monotonic() - start


def kubectl(*args: str) -> str:
    return subprocess.run(["kubectl", *args], capture_output=True, text=True, check=True).stdout


def student_token(student: str, context: str) -> str:
    """The token of the student's server pod's ServiceAccount (a TokenRequest, one hour)."""
    namespace = m.student_namespace(student)
    return kubectl("--context", context, "-n", namespace, "create", "token", fence.LEARNER_ACCOUNT, "--duration=1h")


def student_kube(student: str, token: str, context: str, folder: Path) -> Kube:
    """A client that acts as the student's server pod does: its ServiceAccount's token, nothing else."""
    namespace = m.student_namespace(student)
    view = json.loads(kubectl("config", "view", "--raw", "--minify", "--context", context, "-o", "json"))
    path = folder / f"{student}.kubeconfig"
    path.write_text(kubeconfig_text("c", view["clusters"][0]["cluster"], student, {"token": token}, namespace))
    return Kube(kubeconfig=str(path))


def answer_docs(lab: str, case: str, variables: dict[str, str]) -> list[dict[str, Any]]:
    docs = []
    for folder in ("starter", case):
        for path in sorted((REPO / "labs" / lab / folder).glob("*.yaml")):
            if path.name == "case.yaml":
                continue
            text = path.read_text()
            for name, value in variables.items():
                text = text.replace("30007", value) if name == "NODE_PORT" else text
            docs += [doc for doc in yaml.safe_load_all(text) if doc]
    return docs


def expected_of(lab: str, case: str) -> str:
    if case == "solution":
        return "full marks"
    return str(yaml.safe_load((REPO / "labs" / lab / case / "case.yaml").read_text())["fails"])


def judge(g: Grading, row: dict[str, Any]) -> None:
    g.verdict = str(row.get("verdict"))
    g.score = f"{row.get('score')}/{row.get('max_score')}"
    checks = row.get("checks") or {}
    if g.expected == "full marks":
        g.correct = g.verdict == "PASS" and row.get("score") == row.get("max_score")
    else:
        g.correct = g.verdict == "FAIL" and checks.get(g.expected) == "FAIL"
    if not g.correct:
        g.why = f"{g.verdict} {g.score} {checks} {row.get('error') or ''}"


def ready(kube: Kube, namespaces: list[str]) -> tuple[bool | None, str]:
    waiting = []
    for ns in namespaces:
        for deployment in kube.list("deployments", ns):
            status = deployment.get("status") or {}
            if (status.get("readyReplicas") or 0) < (deployment["spec"].get("replicas") or 1):
                waiting.append(f"{ns}/{deployment['metadata']['name']}")
    return (True if not waiting else None), f"not ready: {', '.join(waiting[:5])}{' ...' if len(waiting) > 5 else ''}"


class Memory:
    """Peak memory of the grading container and the hub pod, sampled every second."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self.grading = 0
        self.hub = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Memory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        hub = self.kube.list("pods", m.HUB_NAMESPACE, selector="app.kubernetes.io/component=hub")[0]["metadata"]["name"]
        containers = grading.class_containers()
        while not self._stop.wait(1.0):
            stats = subprocess.run(
                ["docker", "stats", "--no-stream", "--format", "{{json .}}", *containers],
                capture_output=True,
                text=True,
                check=False,
            )
            if stats.returncode == 0 and stats.stdout.strip():
                lines = [json.loads(line) for line in stats.stdout.splitlines() if line.strip()]
                used = sum(_bytes(line["MemUsage"].split("/")[0]) for line in lines)  # every replica together
                self.grading = max(self.grading, used)
            current = subprocess.run(
                ["kubectl", "exec", "-n", m.HUB_NAMESPACE, hub, "--", "sh", "-c", CGROUP_MEMORY],
                capture_output=True,
                text=True,
                check=False,
            )
            if current.returncode == 0 and current.stdout.strip().isdigit():
                self.hub = max(self.hub, int(current.stdout))


def _bytes(text: str) -> int:
    text = text.strip()
    for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10), ("kB", 1000), ("MB", 10**6), ("B", 1)):
        if text.endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return 0


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def hand_in(
    students: list[str], labs: tuple[str, ...], context: str, folder: Path
) -> tuple[dict[str, str], list[Grading]]:
    """Each student's answers, applied with their own token; their tokens and the gradings to ask for."""
    variables = json.loads(
        subprocess.run(
            ["docker", "exec", grading.CONTAINER, "printenv", "SERVICELAB_VARIABLES_JSON"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        or "{}"
    )
    tokens = {s: student_token(s, context).strip() for s in students}
    gradings: list[Grading] = []
    for index, student in enumerate(students):
        own = student_kube(student, tokens[student], context, folder)
        for lab in labs:
            case = (WRONG[lab] if index % 10 == 9 else None) or "solution"
            for doc in answer_docs(lab, case, variables.get(student, {})):
                own.apply(json.dumps(doc), namespace=m.student_namespace(student))
            gradings.append(Grading(student, lab, case, expected_of(lab, case)))
    return tokens, gradings


def grade_all(kube: Kube, tokens: dict[str, str], gradings: list[Grading]) -> dict[str, Any]:
    """Every check() at once; the latency and memory figures. Student k asks container k mod N."""
    urls = [f"http://{grading.container_address(name)}:{grading.PORT}" for name in grading.class_containers()]
    url_of = {student: urls[k % len(urls)] for k, student in enumerate(sorted(tokens))}

    def check(g: Grading) -> Grading:
        began = time.monotonic()
        try:
            answer = requests.post(
                f"{url_of[g.student]}/grade?wait=true",
                json={"lab": g.lab},
                headers={"Authorization": f"Bearer {tokens[g.student]}"},
                timeout=1800,
            )
        except requests.RequestException as err:
            g.seconds = time.monotonic() - began
            g.why = f"{type(err).__name__}: {err}"
            return g
        g.seconds = time.monotonic() - began
        if answer.status_code != 200:
            g.why = f"HTTP {answer.status_code}: {answer.text[:200]}"
            return g
        judge(g, answer.json())
        return g

    with Memory(kube) as memory, ThreadPoolExecutor(len(gradings)) as pool:
        start = time.monotonic()
        done = list(pool.map(check, gradings))
        wall = time.monotonic() - start
    seconds = [g.seconds for g in done]
    return {
        "grading_containers": len(urls),
        "all_gradings_wall_s": round(wall, 1),
        "gradings": len(done),
        "correct": sum(g.correct for g in done),
        "check_p50_s": round(statistics.median(seconds), 2),
        "check_p95_s": round(percentile(seconds, 0.95), 2),
        "check_max_s": round(max(seconds), 2),
        "grading_service_peak_mib": round(memory.grading / 2**20, 1),
        "hub_peak_mib": round(memory.hub / 2**20, 1),
        "not_correct": [asdict(g) for g in done if not g.correct],
    }


def free_pod_slots(kube: Kube) -> int:
    """Pods the schedulable nodes can still take: their allocatable pod count less the pods on them."""
    nodes = [
        n for n in kube.list("nodes") if not any(t.get("effect") == "NoSchedule" for t in n["spec"].get("taints") or [])
    ]
    names = {n["metadata"]["name"] for n in nodes}
    used = sum(1 for pod in kube.list("pods", all_namespaces=True) if (pod.get("spec") or {}).get("nodeName") in names)
    return sum(int(n["status"]["allocatable"]["pods"]) for n in nodes) - used


def pods_per_student(labs: tuple[str, ...]) -> int:
    return sum(
        int(doc.get("spec", {}).get("replicas", 1)) if doc.get("kind") == "Deployment" else 1
        for lab in labs
        for doc in answer_docs(lab, "solution", {})
        if doc.get("kind") in ("Deployment", "Pod")
    )


def run_class(
    kube: Kube, students: list[str], labs: tuple[str, ...], context: str, folder: Path, *, service: dict[str, Any]
) -> dict[str, Any]:
    """service: the values' grading settings ({} for the default: one container, its SQLite gradebook)."""
    values = folder / "classroom.yaml"
    chosen = {"students": students, "instructors": ["teacher"], "labs": list(labs)}
    values.write_text(yaml.safe_dump({**chosen, **({"grading": service} if service else {})}))
    figures: dict[str, Any] = {"students": len(students), "labs": list(labs)}
    figures["classroom_up_s"] = round(servicelab("up", "--values", str(values), context=context), 1)
    hub = deploy.answering(kube)[0]
    secret = kube.get("secret", m.SECRET, m.HUB_NAMESPACE) or {}
    api_token = base64.b64decode(secret["data"][m.API_TOKEN]).decode()
    users = requests.get(f"{hub}hub/api/users", headers={"Authorization": f"token {api_token}"}, timeout=30)
    figures["students_listed_by_the_hub"] = len(set(students) & {user["name"] for user in users.json()})
    start = time.monotonic()
    tokens, gradings = hand_in(students, labs, context, folder)
    figures["answers_applied_s"] = round(time.monotonic() - start, 1)
    namespaces = [m.student_namespace(s) for s in students]
    wait_for(lambda: ready(kube, namespaces), what="every student's pods ready", timeout_s=READY_S)
    figures.update(grade_all(kube, tokens, gradings))
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--context", default="kind-servicelab")
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--labs", default=",".join(LABS), help=f"comma-separated, of {', '.join(LABS)}")
    parser.add_argument("--keep", action="store_true", help="leave the classroom up afterwards")
    parser.add_argument("--replicas", type=int, default=1, help="grading containers beside kind (more: --gradebook)")
    parser.add_argument("--gradebook", default="", help="the PostgreSQL database the replicas share")
    args = parser.parse_args(argv)
    if args.replicas > 1 and not args.gradebook:
        print("--replicas > 1 needs --gradebook postgresql://... (the replicas share it)", file=sys.stderr)
        return 2
    service = {"runs": "container", "replicas": args.replicas, "gradebook": args.gradebook} if args.gradebook else {}
    kube = Kube(context=args.context)
    if kube.get("namespace", m.HUB_NAMESPACE) is not None:
        print("a classroom is already on this cluster: `servicelab classroom down` first", file=sys.stderr)
        return 2
    students = [f"s{i + 1:02d}" for i in range(args.students)]
    labs = tuple(lab for lab in args.labs.split(",") if lab)
    if not labs or set(labs) - set(LABS):
        print(f"--labs: of {', '.join(LABS)}", file=sys.stderr)
        return 2
    needed, free = pods_per_student(labs) * len(students), free_pod_slots(kube)
    print(
        f"{len(students)} students x {pods_per_student(labs)} pods = {needed} pods; {free} free pod slots", flush=True
    )
    if needed > free - 1:  # and the hub's pod
        print(
            "the class does not fit this cluster: fewer --students, labs with fewer pods, or a kind cluster made "
            "with fixtures/kind-config.yaml's maxPods (servicelab down; servicelab up)",
            file=sys.stderr,
        )
        return 2
    with tempfile.TemporaryDirectory(prefix="servicelab-bench-classroom-") as tmp:
        try:
            figures = run_class(kube, students, labs, args.context, Path(tmp), service=service)
        finally:
            if not args.keep:
                down_s = round(servicelab("down", context=args.context), 1)
    if not args.keep:
        figures["classroom_down_s"] = down_s
    out = OUT if args.replicas == 1 else OUT.with_name(f"{OUT.stem}-replicas-{args.replicas}.json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(figures, indent=1) + "\n")
    print(f"class run: {args.students} students x {len(labs)} labs ({', '.join(labs)}), all check() calls at once")
    for key, value in figures.items():
        if key != "not_correct":
            print(f"  {key}: {value}")
    for g in figures["not_correct"]:
        print(f"  NOT CORRECT: {g['student']} {g['lab']} ({g['case']}, expected {g['expected']}): {g['why']}")
    print(f"  written to {out.relative_to(REPO)}")
    return 0 if figures["correct"] == figures["gradings"] else 1


if __name__ == "__main__":
    sys.exit(main())
