"""The notebook API: `check("nodeport")` shows the result and returns a float in [0, 1]; `apply(yaml, lab=...)`;
`cluster_ready()` says whether the lab cluster is there; `explore(lab)` applies the starter and shows its pods,
Services and routes; `flow(lab)` draws the live traffic diagram; `hint(lab)` gives the next hint; `knowledge(lab, n)`
judges question n of the lab's knowledge check; `reset(lab)` starts the lab over; `progress()` shows the labs done
and their points; `clear_other_lab(lab)` lists (and, confirmed, deletes) another lab's competing objects;
`replace_a_pod(lab)` and `outbound_address(lab)` are hands-on steps (grader.learner.tryit). Importing
it inside IPython registers the `%%servicelab_answer` cell magic, so a notebook's setup cell is one import.

In a classroom ($SERVICELAB_GRADING_URL set; grader.learner.classroom) check() asks the classroom's grading
service, apply(), explore(), values(), reset() and cluster_ready() use the student's own rights and values, and the
cells that need more than a student's namespace say so in one line.

They write nothing to stderr (nbgrader scores a cell 0 on any stderr output): logging and warnings are
captured. servicelab's own errors are one line naming the fix, never a traceback (grader.learner.boundary): the
functions that grade nothing print it; check() raises it as `NotGraded` (an `EnvError`), so a broken environment
fails the graded cell instead of looking like a score.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

from grader.base.errors import EnvironmentFault, ServicelabError
from grader.base.names import PARTNER_HOST
from grader.catalogue.knowledge import judge
from grader.catalogue.labs import facts_for, load_lab
from grader.cluster.facts import discover
from grader.cluster.readiness import internal_ip
from grader.cluster.status import api_problems
from grader.grading.deploy import apply_as_learner, apply_into, ensure_namespace, wait_deployments
from grader.grading.environment import environment, new_run_id
from grader.grading.session import grade
from grader.grading.submission import judge_submission, starter_docs
from grader.intake.answers import is_blank_yaml
from grader.intake.manifests import STARTER
from grader.kube.client import Kube
from grader.learner import classroom, lookaround, others, tryit
from grader.learner import progress as coach
from grader.learner.boundary import (
    NotGraded,
    NotGradedInput,
    cluster_answers,
    env_line,
    explain,
    in_classroom,
    not_in_classroom,
    prints_errors,
)
from grader.learner.display import _display, _quiet, pods_table, show
from grader.learner.display import progress as progress_line
from grader.learner.flowchart import chart
from grader.probes.pod import PodVantage

TRAEFIK_ROUTES = {"Ingress", "HTTPRoute"}  # a lab whose answer is one of these is served by the cluster's Traefik


def lab_namespace(default: str, explicit: str | None = None, cwd: Path | None = None) -> str:
    """Where a notebook's objects go: the explicit namespace, else $SERVICELAB_NAMESPACE, else one per
    nbgrader submission (autograde runs each notebook in autograded/<student>/<assignment>/), else the
    lab's default. One namespace per submission keeps students' objects apart during a batch."""
    if explicit:
        return explicit
    if os.environ.get("SERVICELAB_NAMESPACE"):
        return os.environ["SERVICELAB_NAMESPACE"]
    parts = (cwd or Path.cwd()).parts
    if "autograded" in parts[:-1]:
        student = parts[parts.index("autograded") + 1]
        slug = re.sub(r"[^a-z0-9-]+", "-", student.lower()).strip("-") or "student"
        return f"{default}-{slug}"[:63].rstrip("-")
    return default


def check(lab: str, *, namespace: str | None = None, context: str | None = None, display: bool = True) -> float:
    """Grade the objects in the lab's namespace (see lab_namespace); returns the score in [0, 1]. In a classroom the
    grading service grades the student's own namespace (namespace and context are not the student's to choose)."""
    if in_classroom():
        return _check_in_classroom(lab, display=display)
    try:
        with _quiet():
            spec = load_lab(lab)
            with progress_line(), environment(context) as env:
                result = grade(spec, env, namespace=lab_namespace(spec.default_namespace, namespace))
            coach.record(result)  # for hint() and `servicelab progress`
    except EnvironmentFault as err:
        raise NotGraded(explain(err, context)) from err
    except ServicelabError as err:
        raise NotGradedInput(explain(err, context)) from err
    if result.fraction is None:  # ENV-ERROR: no score; the report only when the cluster answers and it says more
        answers = cluster_answers(context)
        if display and answers:
            show(result)
        raise NotGraded(env_line(result.diagnosis, unreachable=not answers))
    if display:
        show(result)
    return result.fraction


def _check_in_classroom(lab: str, *, display: bool) -> float:
    """check() in a classroom: the grading service's result, shown and recorded as a local one."""
    try:
        with _quiet():
            spec = load_lab(lab)
            result = classroom.grade_remotely(spec.id)
            coach.record(result)  # for hint() and progress(); an ENV-ERROR is not kept
    except NotGraded:
        raise
    except EnvironmentFault as err:
        raise NotGraded(explain(err)) from err
    except ServicelabError as err:
        raise NotGradedInput(explain(err)) from err
    if display:
        show(result)
    if result.fraction is None:  # the service answered: its report says what it could not observe
        raise NotGraded(env_line(result.diagnosis, unreachable=False))
    return result.fraction


def apply(yaml_text: str, lab: str, *, namespace: str | None = None, context: str | None = None) -> list[str]:
    """Apply the lab's starter plus your manifest (YAML text) into the lab namespace; returns what was applied.
    In a classroom: into the student's own namespace, with the student's own rights and values."""
    if in_classroom():
        return _apply_in_classroom(yaml_text, lab, namespace=namespace, context=context)
    with _quiet():
        spec = load_lab(lab)
        # judged before the cluster hears of it; nothing written yet: the starter, so check() says what is missing
        judged = starter_docs(spec) if is_blank_yaml(yaml_text) else judge_submission(spec, text=yaml_text)
        ns = lab_namespace(spec.default_namespace, namespace)
        kube = Kube(context=context)
        facts = discover(kube)
        run_id = new_run_id()
        ensure_namespace(kube, ns, run_id, must_be_new=False, facts=facts, policy=spec.policy)
        docs = apply_into(kube, spec, ns, facts, run_id, docs=judged)
        starter = [d.name for d in docs if d.kind == "Deployment" and d.origin == STARTER]
        wait_deployments(kube, ns, starter, spec.ready_timeout_s)
    applied = [d.ref for d in docs]
    print(f"applied into namespace {ns}: {', '.join(applied)}")
    return applied


def _apply_in_classroom(yaml_text: str, lab: str, *, namespace: str | None, context: str | None) -> list[str]:
    """apply() as the student: judged as anywhere, then applied by the student's own client into their namespace;
    nothing cluster-wide is read or written (the classroom made the namespace, its fence and its walls)."""
    with _quiet():
        variables = classroom.student_variables()
        spec = classroom.student_lab(load_lab(lab), variables)
        judged = starter_docs(spec) if is_blank_yaml(yaml_text) else judge_submission(spec, text=yaml_text)
        ns = lab_namespace(spec.default_namespace, namespace)
        values, missing = classroom.student_values(spec, ns, variables)
        kube = Kube(context=context)
        docs = apply_as_learner(kube, ns, judged, values=values, missing=missing, run_id=new_run_id())
        starter = [d.name for d in docs if d.kind == "Deployment" and d.origin == STARTER]
        wait_deployments(kube, ns, starter, spec.ready_timeout_s)
    applied = [d.ref for d in docs]
    print(f"applied into namespace {ns}: {', '.join(applied)}")
    return applied


@prints_errors
def explore(lab: str, *, namespace: str | None = None, context: str | None = None) -> None:
    """Apply the lab's starter objects (your answer is untouched) and show its pods with labels, IPs, nodes, then
    the objects traffic meets on the way in: Services, Ingresses, Gateways (with listeners), HTTPRoutes."""
    apply("", lab, namespace=namespace, context=context)
    with _quiet():
        spec = load_lab(lab)
        ns = lab_namespace(spec.default_namespace, namespace)
        # in a classroom, what the student's Role does not let them read is said, not failed on
        kube = classroom.OwnReads(Kube(context=context)) if in_classroom() else Kube(context=context)
        pods = kube.list("pods", ns)
        l7_markdown, l7_text = lookaround.render(lookaround.l7_tables(kube, ns))
    markdown, text = pods_table(pods)
    refused = kube.refusals() if isinstance(kube, classroom.OwnReads) else ""
    tail = f"\n\n{refused}" if refused else ""
    _display(
        {
            "text/markdown": f"**Pods**\n\n{markdown}\n\n{l7_markdown}{tail}",
            "text/plain": f"{text}\n\n{l7_text}{tail}",
        }
    )


@prints_errors
@not_in_classroom("it reads the nodes and every namespace's pods, beyond a student's rights")
def observe_network(lab: str = "pod-networking", *, context: str | None = None) -> None:
    """The pod-networking lab's observations: nodes (address, pod range), every pod-network pod (hostNetwork
    pods carry their node's address and are left out), and whose address the partner server outside sees."""
    with _quiet():
        ns = lab_namespace(load_lab(lab).default_namespace)
        kube = Kube(context=context)
        nodes, pods = kube.list("nodes"), kube.list("pods", all_namespaces=True)
        toolbox = [
            p
            for p in pods
            if p["metadata"].get("namespace") == ns
            and p["metadata"]["name"].startswith("toolbox-")
            and p.get("status", {}).get("phase") == "Running"
        ]
        asked = (
            kube.exec(
                toolbox[0]["metadata"]["name"],
                ns,
                ["wget", "-qO-", "-T", "5", f"http://{PARTNER_HOST}/cgi-bin/clientip"],
                timeout=20,
            )
            if toolbox
            else None
        )
    rows = [
        f"node {n['metadata']['name']}: address {internal_ip(n) or '?'}, "
        f"pod range {n.get('spec', {}).get('podCIDR', '?')}"
        for n in nodes
    ]
    _, text = pods_table([p for p in pods if not p["spec"].get("hostNetwork") and p["status"].get("podIP")])
    if asked is None:
        seen = "no running toolbox pod: run the explore cell first"
    else:
        who = toolbox[0]
        seen = (
            f"the partner server saw {asked.stdout.strip() or asked.stderr.strip()!r} when pod "
            f"{who['metadata']['name']} ({who['status'].get('podIP')}) on node {who['spec'].get('nodeName')} "
            "called"
        )
    print("\n".join([*rows, "", text, "", seen]))


@prints_errors
@not_in_classroom("it asks the Service from the grader's probe pod, outside your namespace")
def replace_a_pod(
    lab: str = "clusterip", service: str | None = None, *, namespace: str | None = None, context: str | None = None
) -> None:
    """Delete one pod behind the lab's Service (only one its ReplicaSet replaces, only in your lab namespace), wait
    until the Service's EndpointSlices hold a ready replacement with a new IP, then ask the Service from the
    grader's probe pod until the replacement answers; shows the ClusterIP, DNS name and endpoints before and after."""
    with _quiet():
        spec = load_lab(lab)
        ns = lab_namespace(spec.default_namespace, namespace)
        name = service or next((n for kind, n in spec.expects if kind == "Service"), None)
        if name is None:
            raise tryit.Refused(f'lab {lab} asks for no Service. Fix: name one, e.g. replace_a_pod("{lab}", "web")')
        with environment(context) as env:
            probe = env.pod_vantages()[0]  # started before anything is deleted: a broken probe pod deletes nothing
            replaced = tryit.replace_one_pod(env.kube, ns, name, probe=probe)
    markdown, text = tryit.replaced_view(replaced)
    _display({"text/markdown": markdown, "text/plain": text})


@prints_errors
@not_in_classroom("it runs a request inside a pod (pods/exec) and reads its node, beyond a student's rights")
def outbound_address(lab: str = "externalname", *, namespace: str | None = None, context: str | None = None) -> None:
    """From a pod of your lab namespace, ask the partner server outside the cluster which address called it, and
    show that beside the pod's own IP and its node's InternalIP."""
    with _quiet():
        spec = load_lab(lab)
        ns = lab_namespace(spec.default_namespace, namespace)
        kube = Kube(context=context)
        seen = tryit.outbound_source(kube, ns, lambda pod: PodVantage(f"pod {pod}", kube, ns, pod=pod))
    markdown, text = tryit.outbound_view(seen)
    _display({"text/markdown": markdown, "text/plain": text})


@prints_errors
@not_in_classroom("it reads the cluster's nodes, beyond a student's rights")
def flow(lab: str, *, namespace: str | None = None, context: str | None = None) -> None:
    """Draw, from the live cluster, the path a request takes to the lab's Services (the pod network if none)."""
    with _quiet():
        spec = load_lab(lab)
        ns = lab_namespace(spec.default_namespace, namespace)
        kube = Kube(context=context)
        # the Services there, else the ones the lab asks for ("not there yet"); a lab without any: the pod network
        names = sorted(s["metadata"]["name"] for s in kube.list("services", ns)) or [
            name for kind, name in spec.expects if kind == "Service"
        ]
        routed = any(kind in TRAEFIK_ROUTES for kind, _ in spec.expects)
        source = chart(kube, ns, names, via_traefik=routed)
    # JupyterLab (4.1+) renders both mime types as a diagram; the plain text is the mermaid source
    _display({"text/vnd.mermaid": source, "text/markdown": f"```mermaid\n{source}\n```", "text/plain": source})


@prints_errors
def values(lab: str, *, context: str | None = None) -> None:
    """What each `${VAR}` of the lab's task stands for on this cluster (write the placeholder, not the value)."""
    if in_classroom():  # the student's own values: the classroom's, not the cluster's
        with _quiet():
            variables = classroom.student_variables()
            spec = classroom.student_lab(load_lab(lab), variables)
            task = (spec.path / "task.md").read_text(encoding="utf-8")
            lines = classroom.value_lines(spec, task, lab_namespace(spec.default_namespace), variables)
        print("\n".join(lines))
        return
    with _quiet():
        spec = load_lab(lab)
        task = (spec.path / "task.md").read_text(encoding="utf-8")
        facts = facts_for(spec, discover(Kube(context=context)))  # the lab's own values too (its defaults)
    for name in (v for v in spec.variables if "${" + v + "}" in task):
        value = facts.variables.get(name)
        print(f"${{{name}}} = {value}" if value else f"${{{name}}} has no value: {facts.missing.get(name, 'unknown')}")


@prints_errors
def hint(lab: str) -> None:
    """The next hint for the first failing check of your last check(lab); ask again for more."""
    spec = load_lab(lab)
    if in_classroom():  # the hints say the student's own values (their host)
        spec = classroom.student_lab(spec, classroom.student_variables())
    print(coach.next_hint(spec))


_UNSET: Any = object()


def knowledge(lab: str, number: int, answer: Any = _UNSET) -> float:
    """Judge question `number` of the lab's knowledge check: say whether the answer is right (and why, when it
    is) and return its points (the graded cell's value). The answer is `answer_<number>` of the notebook unless
    given."""
    question = next(q for q in load_lab(lab).knowledge if q.number == number)
    if answer is _UNSET:
        answer = _user_variable(question.variable)
    verdict = judge(question, answer)
    print(verdict.text)
    return verdict.points


def _user_variable(name: str) -> Any:
    """A variable of the notebook's own namespace (None when it is not set, or outside IPython)."""
    shell = sys.modules.get("IPython")
    get = getattr(shell, "get_ipython", None) if shell else None
    ipython = get() if get else None
    return ipython.user_ns.get(name) if ipython is not None else None


@prints_errors
def reset(lab: str, *, namespace: str | None = None, context: str | None = None) -> None:
    """Start the lab over: delete its namespace (only if servicelab made it) and forget its hints."""
    with _quiet():
        spec = load_lab(lab)
        ns = lab_namespace(spec.default_namespace, namespace)
        if in_classroom():  # the namespace is the classroom's, holding every lab's work: it stays
            coach.forget_hints(spec)
            said = (
                f"{spec.id}: hints forgotten; your namespace {ns} is the classroom's and stays: delete what you "
                f"want gone with kubectl -n {ns} delete KIND NAME"
            )
        else:
            said = coach.reset(spec, Kube(context=context), ns)
    print(said)


@prints_errors
def progress() -> None:
    """The labs in course order with your best points from check(), and the totals (what `servicelab progress`
    lists in a terminal)."""
    with _quiet():
        markdown, text = coach.progress_table()
    _display({"text/markdown": markdown, "text/plain": text})


@prints_errors
@not_in_classroom(
    "every lab shares your namespace there, so another lab's objects cannot be told from this one's: "
    "delete them by name (kubectl delete KIND NAME)"
)
def clear_other_lab(
    lab: str, *, confirm: bool = False, namespace: str | None = None, context: str | None = None
) -> None:
    """List the objects the other lab `lab` left that compete with this lab's (its answer's kinds, in its own
    namespace); with confirm=True, delete exactly those and wait until they are gone."""
    with _quiet():
        other = load_lab(lab)
        said = others.clear(Kube(context=context), other, namespace or other.default_namespace, confirm=confirm)
    print(said)


@prints_errors
def cluster_ready(*, context: str | None = None) -> None:
    """Whether the lab cluster is there and healthy: one line either way, the fix when it is not."""
    if in_classroom():  # a student may not read nodes or the system's controllers: their own namespace, and grading
        with _quiet():
            ns = lab_namespace("")
            Kube(context=context).list("services", ns)  # the student's rights work (KubeError: said as one line)
            problem = classroom.service_answers()
        print(
            f"the classroom is not ready: {problem}"
            if problem
            else f"the classroom is ready: your namespace {ns} answers and the grading service is up"
        )
        return
    with _quiet():
        problems = api_problems(Kube(context=context))
    if problems:
        print(env_line(f"the lab cluster is not ready: {'; '.join(problems)}", unreachable=False))
    else:
        print("the lab cluster is ready")


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext grader.learner.notebook` registers `%%servicelab_answer LAB`: the cell's body is your manifest (YAML),
    applied like apply(). The grader reads that body as data and never runs a submitted notebook."""
    from grader.intake.answers import MAGIC  # noqa: PLC0415 - only inside Jupyter

    def servicelab_answer(line: str, cell: str) -> None:
        lab = line.strip()
        if not lab:
            print(f"%%{MAGIC} needs the lab id, e.g. %%{MAGIC} nodeport")
            return
        ipython.user_ns["manifest"] = cell
        try:
            apply(cell, lab=lab)
        except ServicelabError as err:  # a mistake (file, line, rule, fix) or the environment (one line, the fix)
            print(f"not applied: {explain(err)}")

    ipython.register_magic_function(servicelab_answer, magic_kind="cell", magic_name=MAGIC)


def _register_in_ipython() -> None:
    shell = sys.modules.get("IPython")
    get = getattr(shell, "get_ipython", None) if shell else None
    ipython = get() if get else None
    if ipython is not None and "servicelab_answer" not in ipython.magics_manager.magics["cell"]:
        load_ipython_extension(ipython)


_register_in_ipython()
