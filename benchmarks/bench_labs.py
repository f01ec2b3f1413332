"""Every lab, end to end: `servicelab grade LAB --namespace NS` on objects that are already ready, against one
bare `kubectl exec ... -- true` into the warm probe pod, both as a user types them (a new process each time),
medians over --repeat runs in this run on this cluster (target: ratio <= 10). Prints a table; asserts nothing.

    python benchmarks/bench_labs.py [--context kind-servicelab] [--repeat 10] [LAB ...]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from grader.catalogue.labs import Lab, load_lab
from grader.catalogue.locate import all_labs
from grader.grading.deploy import apply_into, delete_namespace, ensure_namespace, wait_deployments
from grader.grading.environment import Environment, environment
from grader.intake.manifests import manifest_files

GOAL = 10.0


def timed(argv: list[str], repeat: int) -> tuple[float, list[int]]:
    """Median wall seconds of running argv repeat times, and the exit codes seen."""
    seconds, codes = [], []
    for _ in range(repeat):
        start = time.monotonic()
        done = subprocess.run(argv, capture_output=True, check=False)
        seconds.append(time.monotonic() - start)
        codes.append(done.returncode)
    return statistics.median(seconds), codes


def ready_solution(env: Environment, lab: Lab, ns: str) -> None:
    """The lab's reference solution applied (with its starter) into a fresh namespace with the lab's fence (the
    learner's rights: the lab's kinds), its Deployments ready."""
    ensure_namespace(env.kube, ns, env.run_id, must_be_new=True, facts=env.facts, policy=lab.policy)
    files = [(f, str(f.relative_to(lab.path))) for f in manifest_files(lab.solution.path)]
    docs = apply_into(env.kube, lab, ns, env.facts, env.run_id, files=files)
    wait_deployments(env.kube, ns, [d.name for d in docs if d.kind == "Deployment"], lab.ready_timeout_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labs", nargs="*", help="lab ids (default: every lab)")
    parser.add_argument("--context", default="kind-servicelab")
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args(argv)
    labs = [load_lab(name) for name in args.labs] or [load_lab(str(p)) for p in all_labs()]
    rows = []
    with environment(args.context) as env:
        probe, _ = env.pod_vantages()
        bare = ["kubectl", "--context", args.context, "-n", probe.namespace, "exec", probe.pod, "--", "true"]
        for lab in labs:
            ns = f"bench-{lab.id}-{env.run_id}"[:63]
            try:
                ready_solution(env, lab, ns)
                grade = ["servicelab", "grade", lab.id, "--namespace", ns, "--context", args.context]
                timed(grade, 1)  # the first grading waits for what converges after apply (endpoints, addresses)
                exec_s, _ = timed(bare, args.repeat)
                grade_s, codes = timed(grade, args.repeat)
            finally:
                delete_namespace(env.kube, ns)
            ratio = grade_s / exec_s
            rows.append((lab.id, grade_s, exec_s, ratio, codes))
            print(f"{lab.id:<24} grade {grade_s:6.2f}s  exec {exec_s:5.3f}s  ratio {ratio:5.1f}  exits {set(codes)}")
    met = sum(ratio <= GOAL for _, _, _, ratio, _ in rows)
    print(f"{met}/{len(rows)} labs at ratio <= {GOAL:g} (median of {args.repeat}, end to end through the command)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
