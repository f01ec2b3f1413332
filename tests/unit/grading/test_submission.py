"""Hostile and malformed submissions are refused before the cluster hears of them: exit 2, the rule named.

The corpora live in tests/hostile/ and tests/badinput/ (<case>/submission/ + case.yaml: lab, refuses; `shows`,
what the refusal's first line names, is manifest.yaml unless said). Each case is graded from a copy, made as
case.yaml says where a checkout could not hold it on every system: `rename` (file: new name, bytes written as
\\xNN) and `symlink` (name: target). Cases too big for a repository (a 10 MB file, a tree 1,100 folders deep,
...) are made here. Every command the grader would start, and any connection to the API, is recorded: a
refusal must have made none. No refusal prints a control character or a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from _corpus import made_case

from grader import cli
from grader.base import run as _run
from grader.base.text import is_printable
from grader.kube import api as _api

TESTS = Path(__file__).parents[2]
CORPUS = sorted(p for root in ("hostile", "badinput") for p in (TESTS / root).iterdir() if p.is_dir())
SERVICE = (
    "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector:\n    app: web\n  ports:\n  - port: 80\n"
)


@pytest.fixture
def no_cluster(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    started: list[list[str]] = []

    def refuse(argv: Any, **_: Any) -> Any:
        started.append(list(argv))
        raise AssertionError(f"a refused submission started {argv[0]}")

    def connect(_session: Any) -> Any:  # the API is reached in process (grader.kube.api), not through a command
        started.append(["kubernetes API"])
        raise AssertionError("a refused submission reached the Kubernetes API")

    monkeypatch.setattr(_run, "run", refuse)
    monkeypatch.setattr(_api.Session, "client", connect)
    return started


def _grade(lab: str, folder: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main(["grade", lab, "--manifests", str(folder), "--kubeconfig", os.devnull])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("case", CORPUS, ids=[f"{p.parent.name}/{p.name}" for p in CORPUS])
def test_corpus_case_is_refused_with_its_rule(
    case: Path, tmp_path: Path, no_cluster: list[list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    spec = yaml.safe_load((case / "case.yaml").read_text())
    code, err = _grade(spec["lab"], made_case(case, spec, tmp_path), capsys)
    assert code == 2, err
    assert spec["refuses"] in err
    assert "rule: " in err, err
    assert spec.get("shows", "manifest.yaml") in err.splitlines()[0], err  # names the file
    assert "Traceback" not in err
    assert is_printable(err.replace("\n", "")), err  # what the submission holds is shown escaped
    assert no_cluster == []


def test_corpus_covers_at_least_forty_hostile_cases_and_forty_eight_bad_inputs() -> None:
    assert len([p for p in CORPUS if p.parent.name == "hostile"]) >= 40
    assert len([p for p in CORPUS if p.parent.name == "badinput"]) >= 48


def _folder(tmp_path: Path, files: dict[str, bytes]) -> Path:
    folder = tmp_path / "answer"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def test_ten_megabyte_file_is_refused_unread(
    tmp_path: Path, no_cluster: list[list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _folder(tmp_path, {"big.yaml": SERVICE.encode() + b"#" * 10_000_000})
    code, err = _grade("clusterip", folder, capsys)
    assert code == 2
    assert "the limit is 262,144" in err


def test_symlink_out_of_the_folder_is_refused(
    tmp_path: Path, no_cluster: list[list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    outside = tmp_path / "secret.yaml"
    outside.write_text(SERVICE)
    folder = _folder(tmp_path, {})
    (folder / "link.yaml").symlink_to(outside)
    code, err = _grade("clusterip", folder, capsys)
    assert code == 2
    assert "symlink points outside the folder" in err


def test_symlinked_folder_out_is_not_walked(
    tmp_path: Path, no_cluster: list[list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "svc.yaml").write_text(SERVICE)
    folder = _folder(tmp_path, {})
    (folder / "sub").symlink_to(elsewhere, target_is_directory=True)
    code, err = _grade("clusterip", folder, capsys)
    assert code == 2
    assert "holds no .yaml" in err


def test_a_tree_deeper_than_python_recurses_is_refused_at_the_limit(
    tmp_path: Path, no_cluster: list[list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _folder(tmp_path, {})
    bottom = folder
    for _ in range(1_100):  # os.makedirs and shutil.rmtree recurse: one folder at a time, both ways
        bottom = bottom / "d"
        bottom.mkdir()
    (bottom / "svc.yaml").write_text(SERVICE)
    try:
        code, err = _grade("clusterip", folder, capsys)
    finally:
        (bottom / "svc.yaml").unlink()
        while bottom != folder:
            bottom.rmdir()
            bottom = bottom.parent
    assert code == 2, err
    assert "answer/d/d/d/d/d/d/d/d/d: folders nested deeper than 8 levels" in err
    assert "Traceback" not in err


def test_a_folder_of_thousands_is_refused_without_walking_it_all(
    tmp_path: Path, no_cluster: list[list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _folder(tmp_path, {"svc.yaml": SERVICE.encode()})
    for i in range(1_000):
        (folder / f"empty-{i}").mkdir()
    code, err = _grade("clusterip", folder, capsys)
    assert code == 2, err
    assert "holds more than 1,000 files and folders" in err


def test_a_symlinked_folder_inside_is_not_walked_and_a_symlink_inside_is_read(tmp_path: Path) -> None:
    from grader.grading.submission import learner_files  # noqa: PLC0415

    folder = _folder(tmp_path, {"svc.yaml": SERVICE.encode()})
    (folder / "sub").mkdir()
    (folder / "sub" / "other.yaml").write_text(SERVICE)
    (folder / "again").symlink_to(folder / "sub", target_is_directory=True)
    (folder / "link.yaml").symlink_to(folder / "svc.yaml")
    assert [shown for _, shown in learner_files(folder)] == [
        f"{folder}/link.yaml",
        f"{folder}/svc.yaml",
        f"{folder}/sub/other.yaml",
    ]


def test_fifo_is_refused_without_reading_it(
    tmp_path: Path, no_cluster: list[list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _folder(tmp_path, {})
    os.mkfifo(folder / "pipe.yaml")
    code, err = _grade("clusterip", folder, capsys)
    assert code == 2
    assert "not a regular file" in err


def test_missing_folder_and_too_many_files(
    tmp_path: Path, no_cluster: list[list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _grade("clusterip", tmp_path / "nope", capsys)
    assert (code, "does not exist" in err) == (2, True)
    folder = _folder(tmp_path, {f"s{i}.yaml": SERVICE.replace("web", f"web{i}").encode() for i in range(41)})
    code, err = _grade("clusterip", folder, capsys)
    assert (code, "at most 40 files" in err) == (2, True)


def test_a_bom_is_tolerated(tmp_path: Path) -> None:
    from grader.catalogue.labs import load_lab  # noqa: PLC0415
    from grader.grading.submission import judge_submission, learner_files  # noqa: PLC0415

    folder = _folder(tmp_path, {"svc.yaml": b"\xef\xbb\xbf" + SERVICE.encode()})
    docs = judge_submission(load_lab("clusterip"), learner_files(folder))
    assert "Service/web" in {d.ref for d in docs}


def test_unquoted_date_stays_text_as_kubernetes_reads_it(tmp_path: Path) -> None:
    from grader.catalogue.labs import load_lab  # noqa: PLC0415
    from grader.grading.submission import judge_submission, learner_files  # noqa: PLC0415

    text = SERVICE.replace("  name: web\n", "  name: web\n  annotations:\n    released: 2026-11-22\n")
    docs = judge_submission(load_lab("clusterip"), learner_files(_folder(tmp_path, {"svc.yaml": text.encode()})))
    service = next(d for d in docs if d.ref == "Service/web")
    assert service.obj["metadata"]["annotations"]["released"] == "2026-11-22"


def test_a_submission_cannot_bring_its_own_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from grader.catalogue.labs import load_lab  # noqa: PLC0415
    from grader.catalogue.locate import labs_root  # noqa: PLC0415

    fake = tmp_path / "labs" / "clusterip"
    fake.mkdir(parents=True)
    (fake / "lab.yaml").write_text("id: clusterip\ntitle: mine\n")
    (fake / "checks.py").write_text("def test_all():\n    pass\n")
    (tmp_path / "clusterip").mkdir()
    (tmp_path / "clusterip" / "lab.yaml").write_text("id: clusterip\ntitle: mine\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SERVICELAB_LABS", raising=False)
    lab = load_lab("clusterip")
    assert lab.path == labs_root() / "clusterip"
    assert tmp_path not in lab.path.parents
