"""tools/diagrams/render.py without node or a browser: what it would draw, and how it sizes mermaid's SVG."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def render() -> ModuleType:
    spec = importlib.util.spec_from_file_location("render_diagrams", REPO / "tools" / "diagrams" / "render.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up while it is made
    spec.loader.exec_module(module)
    return module


def test_check_finds_every_picture_current(render: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert render.main(["--check"]) == 0
    assert capsys.readouterr().out == "0 picture(s) up to date\n"


def test_it_draws_two_pictures_of_every_diagram_and_of_the_skeletons(render: ModuleType) -> None:
    diagrams = len(list((REPO / "labs").glob("*/diagram*.mmd")))
    assert diagrams == 18  # 13 labs, 5 of them with what kind does beside what AKS builds
    assert len(render.pictures()) == 2 * diagrams + 2


def test_check_names_a_stale_picture_and_the_command(
    render: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = shutil.copytree(REPO / "labs" / "headless", tmp_path / "headless")
    with (lab / "diagram.mmd").open("a", encoding="utf-8") as mermaid:
        mermaid.write("  a --> b\n")
    assert render.main(["--check", "--labs", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "2 picture(s) stale or missing (run nox -s diagrams)" in out
    assert "headless/diagram.svg" in out


def test_mermaids_svg_gets_the_size_it_was_drawn_at(render: ModuleType) -> None:
    drawn = '<svg id="my-svg" width="100%" class="flowchart" style="max-width: 842.7px; background-color: white;" '
    drawn += 'viewBox="4 4 842.703125 219"><g/></svg>'
    sized = render.fixed_size(drawn)
    assert sized.startswith('<svg id="my-svg" width="843" height="219" class="flowchart"')
    assert 'style="background-color: white;"' in sized
    wide = render.fixed_size(drawn.replace("842.703125 219", "1500 300"))
    assert wide.startswith('<svg id="my-svg" width="1000" height="200" class="flowchart"')  # fits a feedback page
    with pytest.raises(ValueError, match="no viewBox or no width"):
        render.fixed_size("<svg><g/></svg>")
