"""The knowledge check at the end of a lab: `knowledge.yaml` beside task.md holds its questions (each: the question,
lettered choices, the answer, and why). notebooks/build_notebooks.py makes a graded cell pair per question; the
learner's kernel (grader.learner.notebook.knowledge) and the course's autograde (grader.classroom.nbplugin) judge an
answer with `judge`, the one place that decides it. Grading the lab's objects never uses them.

The answer cell is read as data, never run: `answer_N = "b"`, the letter as a string literal.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from grader.base.errors import BadInput
from grader.intake.yamlread import read_mapping

KNOWLEDGE_FILE = "knowledge.yaml"
QUESTIONS = 3  # per lab
POINTS = 1  # per question; the lab's own points are its checks'
MAX_ANSWER_CHARS = 10_000  # an answer cell holds one short line; anything longer is no answer, and is not parsed
QUESTION_KEYS = {"question", "choices", "answer", "why"}
GRADE_ID_PREFIX = "knowledge-"  # every cell of the knowledge check; the lab's own graded cell is "check"
_LETTER = re.compile(r"^[a-e]$")
_RULE = (
    "knowledge.yaml is {questions: [{question: TEXT, choices: {a: TEXT, b: TEXT, ...}, answer: LETTER, "
    f"why: TEXT}}, ...]}} with {QUESTIONS} questions"
)


@dataclass(frozen=True)
class Question:
    number: int  # 1-based, as the notebook numbers them
    question: str
    choices: tuple[tuple[str, str], ...]  # (letter, text), in order
    answer: str  # a letter of choices
    why: str

    @property
    def variable(self) -> str:
        """The name the learner's answer cell assigns."""
        return f"answer_{self.number}"

    @property
    def grade_id(self) -> str:
        """nbgrader grade_id of the question's graded cell (its answer cell is this plus '-answer')."""
        return f"{GRADE_ID_PREFIX}{self.number}"

    @property
    def answer_cell_id(self) -> str:
        """nbgrader grade_id of the question's answer cell."""
        return f"{self.grade_id}-answer"

    @property
    def stub(self) -> str:
        """What the learner's copy has in the answer cell in place of the answer."""
        return f'{self.variable} = ""\n'

    @property
    def letters(self) -> str:
        return ", ".join(f'"{letter}"' for letter, _ in self.choices)


@dataclass(frozen=True)
class Verdict:
    points: float
    text: str


def judge(question: Question, given: object) -> Verdict:
    """The points an answer earns and what to tell the learner: why, once it is right; what to write, if it is none."""
    letter = given.strip().lower() if isinstance(given, str) else ""
    if letter == question.answer:
        return Verdict(float(POINTS), f"Question {question.number}: right. {question.why}")
    if letter not in dict(question.choices):
        shown = "nothing" if given in (None, "") else repr(given)[:40]
        return Verdict(
            0.0,
            f'Question {question.number}: no answer yet ({shown}): set {question.variable} = "a" (one of '
            f"{question.letters}) in the cell above and run it.",
        )
    return Verdict(0.0, f'Question {question.number}: "{letter}" is not it. Read the choices again and try another.')


def feedback(question: Question, given: object) -> Verdict:
    """What the graded notebook says after the hand-in: the verdict, and why the answer is the answer."""
    verdict = judge(question, given)
    if verdict.points:
        return verdict
    return Verdict(0.0, f"{verdict.text} The answer is {question.answer}: {question.why}")


def is_knowledge_cell(grade_id: str) -> bool:
    """Whether an nbgrader grade_id is a cell of the knowledge check (graded on its own, not by the lab's result)."""
    return grade_id.startswith(GRADE_ID_PREFIX)


def answer_given(source: str, question: Question) -> str | None:
    """The letter an answer cell assigns to the question's variable, read as data: the last `answer_N = "x"` with a
    string literal; None when the cell does not parse or assigns anything else."""
    if len(source) > MAX_ANSWER_CHARS:
        return None
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # a hand-in's text, nested as deep as it likes
        return None
    given = None
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == question.variable
        ):
            value = node.value
            given = value.value if isinstance(value, ast.Constant) and isinstance(value.value, str) else None
    return given


def read_knowledge(lab_path: Path) -> tuple[Question, ...]:
    """knowledge.yaml of the lab folder; () when there is none."""
    path = lab_path / KNOWLEDGE_FILE
    if not path.exists():
        return ()
    data, lines = read_mapping(path)
    file = str(path)
    items = data.get("questions")
    if set(data) != {"questions"} or not isinstance(items, list) or len(items) != QUESTIONS:
        raise BadInput(f"wants 'questions:' with {QUESTIONS} questions", file=file, line=1, rule=_RULE)
    questions = []
    for number, item in enumerate(items, start=1):

        def bad(message: str, number: int = number) -> BadInput:
            return BadInput(f"question {number}: {message}", file=file, line=lines.get("questions"), rule=_RULE)

        if not isinstance(item, dict) or set(item) != QUESTION_KEYS:
            raise bad(f"wants exactly {', '.join(sorted(QUESTION_KEYS))}")
        choices = item["choices"]
        if not isinstance(choices, dict) or not 3 <= len(choices) <= 5 or not all(_LETTER.match(k) for k in choices):
            raise bad("choices map 3 to 5 letters (a, b, c, ...) to their text")
        if not all(isinstance(t, str) and t.strip() for t in [item["question"], item["why"], *choices.values()]):
            raise bad("question, why and every choice are non-empty text")
        if list(choices) != [chr(ord("a") + i) for i in range(len(choices))]:
            raise bad("choices are lettered a, b, c, ... in order")
        if item["answer"] not in choices:
            raise bad(f"answer {item['answer']!r} is not one of the choices {', '.join(choices)}")
        questions.append(
            Question(
                number,
                " ".join(item["question"].split()),
                tuple((k, " ".join(v.split())) for k, v in choices.items()),
                item["answer"],
                " ".join(item["why"].split()),
            )
        )
    return tuple(questions)
