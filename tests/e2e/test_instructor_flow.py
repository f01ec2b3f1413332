"""notebooks/README.md's instructor flow, run as written: its bash blocks, in order, on the real lab cluster.

The course lives under a temporary $HOME. Two departures, both ones the README itself names: the exchange is
a temporary folder (`c.Exchange.root`, the README's "Elsewhere"; no sudo), and one account submits for three
students (`--student`), each with a HOME of their own. Instead of JupyterLab, each student's answer is written
into the fetched notebook.
Run: pytest --e2e tests/e2e/test_instructor_flow.py
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from _coursework import answer_cell, answered

from grader.catalogue.knowledge import POINTS as KNOWLEDGE_POINTS
from grader.catalogue.labs import load_lab

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
README = REPO / "notebooks" / "README.md"
ASSIGNMENT = "02-nodeport"
# student -> (case of labs/nodeport answered, expected score of 6); ada and bob both claim nodePort 30007
STUDENTS = {"ada": ("solution", 6), "bob": ("alternatives/explicit-fields", 6), "cy": ("wrong/nodeport-wrong", 3)}
# nbgrader's total: the lab's 6 points and its knowledge check's (unanswered in these hand-ins: 0 of them earned)
MAX_SCORE = 6.0 + len(load_lab("nodeport").knowledge) * KNOWLEDGE_POINTS
STEP_TIMEOUT_S = 900


def instructor_blocks() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Instructors", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL)


def bash(script: str, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, f"{script}\nexit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def block_with(blocks: list[str], command: str) -> str:
    (found,) = [b for b in blocks if command in b]
    return found


def answer(notebook: Path, case: str) -> None:
    nb = json.loads(notebook.read_text())
    answer_cell(nb)["source"] = answered("nodeport", case)
    notebook.write_text(json.dumps(nb))


@dataclass(frozen=True)
class Flow:
    course: Path
    home: Path
    transcript: str  # what the collect-to-export block printed


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> Flow:
    home = tmp_path_factory.mktemp("home")
    exchange = home / "exchange"
    exchange.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "NBGRADER"))} | {"HOME": str(home)}
    env.setdefault("KUBECONFIG", str(Path.home() / ".kube" / "config"))  # the instructor's, not the temporary HOME's
    blocks = instructor_blocks()
    elsewhere = f'c.Exchange.root = "{exchange}"\n'

    # 1. course folder (its export of COURSE lasts, as in the instructor's shell), then the exchange where the
    # README says to put it elsewhere (the course's and the students' config)
    printed = bash(block_with(blocks, "cp notebooks/nbgrader_config.py") + '\nprintf "\\n%s" "$COURSE"', REPO, env)
    env["COURSE"] = printed.rstrip("\n").rsplit("\n", 1)[-1]
    course = Path(env["COURSE"])
    assert course.is_relative_to(home), course
    with (course / "nbgrader_config.py").open("a", encoding="utf-8") as fh:
        fh.write(elsewhere)
    # 2. release
    bash(block_with(blocks, "nbgrader release_assignment"), REPO, env)
    # 3. each student, at home (their own HOME: nbgrader keeps what they submitted there), fetches, answers, submits
    student_lines = block_with(blocks, "nbgrader submit").strip().splitlines()
    for student, (case, _) in STUDENTS.items():
        folder = home / "students" / student
        (folder / ".jupyter").mkdir(parents=True)
        (folder / ".jupyter" / "nbgrader_config.py").write_text("c = get_config()  # noqa: F821\n" + elsewhere)
        at_home = env | {"HOME": str(folder)}
        for line in student_lines:
            if line.startswith("jupyter lab"):
                answer(folder / ASSIGNMENT / "nodeport.ipynb", case)
            elif line.startswith("nbgrader submit"):
                bash(f"{line} --student {student}", folder, at_home)
            else:
                bash(line, folder, at_home)
    # 4. collect, autograde, feedback, export; then each student fetches their feedback
    transcript = bash(block_with(blocks, "servicelab course autograde"), REPO, env)
    for student in STUDENTS:
        folder = home / "students" / student
        fetch = f"nbgrader fetch_feedback {ASSIGNMENT} --course servicelab --student {student}"
        bash(fetch, folder, env | {"HOME": str(folder)})
    return Flow(course, home, transcript)


def test_export_holds_every_students_score(flow: Flow) -> None:
    print(flow.transcript, (flow.course / "grades.csv").read_text(encoding="utf-8"), sep="\n")
    with (flow.course / "grades.csv").open(newline="", encoding="utf-8") as fh:
        rows = {row["student_id"]: row for row in csv.DictReader(fh) if row["assignment"] == ASSIGNMENT}
    assert sorted(rows) == sorted(STUDENTS)
    for student, (_, score) in STUDENTS.items():
        assert (float(rows[student]["score"]), float(rows[student]["max_score"])) == (score, MAX_SCORE), rows[student]


def test_servicelab_csv_and_the_students_feedback(flow: Flow) -> None:
    with (flow.course / "servicelab" / ASSIGNMENT / "grades.csv").open(newline="", encoding="utf-8") as fh:
        ours = {row["student"]: row for row in csv.DictReader(fh)}
    for student, (_, score) in STUDENTS.items():
        assert (ours[student]["status"], ours[student]["score"]) == ("graded", str(score)), ours[student]
        fetched = list((flow.home / "students" / student / ASSIGNMENT / "feedback").rglob("nodeport.html"))
        assert len(fetched) == 1, f"{student} fetched no feedback"
        page = fetched[0].read_text(encoding="utf-8")
        assert "answers_on_node_port_30007" in page  # the report
        assert "outside" in page  # and its reachability matrix
        assert ("FAIL" in page) == (score < 6), student
