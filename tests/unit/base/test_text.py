"""What a learner wrote is shown, never obeyed: terminals, grades.csv, HTML and Markdown get escaped text."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pytest

from grader.base.errors import BadInput, message
from grader.base.text import csv_cell, html, is_printable, markdown, printable, utf8
from grader.classroom.records import Outcome, Record, csv_row, write_reports


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("web\x1b[2J\x1b[31m", "web\\x1b[2J\\x1b[31m"),  # ANSI: clear the screen, turn red
        ("ok\rFAIL", "ok\\rFAIL"),  # a carriage return would print over the line
        ("a\nb\tc", "a\\nb\\tc"),
        ("bell\x07del\x7fcsi\x9b", "bell\\x07del\\x7fcsi\\x9b"),  # C0, DEL and the C1 control sequence introducer
        ("svc\u202egnp.yaml", "svc\\u202egnp.yaml"),  # a right-to-left override: reads 'svclmay.png'
        ("in\u2066vis\u2069ible\u200b", "in\\u2066vis\\u2069ible\\u200b"),  # bidi isolate, zero width space
        (os.fsdecode(b"caf\xe9.yaml"), "caf\\xe9.yaml"),  # a Latin-1 name as os.listdir gives it
        ("\ud800", "\\ud800"),  # a lone surrogate from a JSON escape
        ("nodePort: 30007 (Ünïcödé, 日本)", "nodePort: 30007 (Ünïcödé, 日本)"),  # text stays as it is
    ],
)
def test_printable_escapes_what_would_change_what_is_shown(raw: str, shown: str) -> None:
    assert printable(raw) == shown
    assert printable(shown) == shown  # escaping twice changes nothing
    assert is_printable(shown)
    assert is_printable(raw) == (raw == shown)
    utf8(shown).decode("utf-8")  # writable anywhere


def test_lines_keep_their_breaks_but_not_carriage_returns() -> None:
    assert printable("one\r\ntwo\x1b", lines=True) == "one\\r\ntwo\\x1b"


@pytest.mark.parametrize(
    ("raw", "cell"),
    [
        ('=HYPERLINK("http://x","click")', '\'=HYPERLINK("http://x","click")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'=1"),  # leading blanks go: the formula behind them is still neutralised
        ("\r\n=1", "'=1"),
        ("ada", "ada"),
        ("a = b", "a = b"),
        ("ok\x1b[31m\nnext line", "ok\\x1b[31m next line"),
    ],
)
def test_csv_cells_are_one_line_of_text_never_a_formula(raw: str, cell: str) -> None:
    assert csv_cell(raw) == cell


def test_grades_csv_shows_hostile_names_and_reasons_as_text(tmp_path: Path) -> None:
    student = os.fsdecode(b"=cmd|' -c calc'!A1\xff")
    records = [
        Record(student, "nodeport", Outcome.ERROR, "d1", reason="@import\x1b[2J", source=f"{student}/nodeport"),
        Record("bob", "nodeport", Outcome.GRADED, "d2", score=6, max_score=6, reason="-"),
    ]
    path = write_reports(tmp_path, records)
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["student"] == "'=cmd|' -c calc'!A1\\xff"
    assert rows[0]["reason"] == "'@import\\x1b[2J"
    assert rows[0]["source"] == "'=cmd|' -c calc'!A1\\xff/nodeport"
    assert rows[1]["reason"] == "'-"
    assert csv_row(records[1])["score"] == "6"  # our own numbers are left as they are
    assert "\x1b" not in path.read_text(encoding="utf-8")
    assert (tmp_path / f"{student}.json").is_file()  # the record keeps the name as it is on disk


def test_html_and_markdown_escape_their_markup() -> None:
    assert html("<img src=x onerror=alert(1)>\x1b") == "&lt;img src=x onerror=alert(1)&gt;\\x1b"
    assert html("a\nb") == "a\nb"
    shown = markdown("![x](http://evil/p.png) <b>|`x`|\n*y*")
    assert shown == "\\!\\[x\\](http://evil/p.png) \\<b\\>\\|\\`x\\`\\| \\*y\\*"


def test_refusals_quote_names_and_values_escaped() -> None:
    err = BadInput(
        "Service/we\x1b[2Jb: 'we\x1b[2Jb' is not a valid Service name",
        file=os.fsdecode(b"answer/svc-\xff\x1b].yaml"),
        line=4,
        rule="lowercase letters",
    )
    text = message(err)
    assert text.splitlines()[0] == (
        "error: answer/svc-\\xff\\x1b].yaml:4: Service/we\\x1b[2Jb: 'we\\x1b[2Jb' is not a valid Service name"
    )
    assert is_printable(text.replace("\n", ""))
    out = io.StringIO()
    print(text, file=out)  # a strict UTF-8 stream takes it: no lone surrogate left
    assert message(RuntimeError("boom\x1b[2J")) == "servicelab: internal error: RuntimeError: boom\\x1b[2J"
