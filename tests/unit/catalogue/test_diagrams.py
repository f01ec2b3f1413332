"""Every lab's diagrams show as pictures anywhere a notebook is read (grader.catalogue.renderings,
notebooks/build_notebooks.py's picture()).

The pictures beside each diagram.mmd are current (a stale one names `nox -s diagrams`); every built notebook's
picture cell carries them as attachments (PNG and SVG), the kind/AKS pair where a lab declares one; nbconvert's HTML
(nbgrader's feedback page) shows each as an <img> of SVG, never as mermaid text; the learner copies carry them.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path
from types import ModuleType

import pytest
from _builder import load_builder

from grader.base.errors import BadInput
from grader.catalogue.labs import learner_text, load_lab
from grader.catalogue.locate import all_labs
from grader.catalogue.notebookspec import DIAGRAM_FILES, KIND_DIAGRAM_FILE
from grader.catalogue.renderings import (
    FORMATS,
    RENDER_COMMAND,
    mark,
    marked_digest,
    read_rendering,
    rendered_path,
    rendering,
    source_digest,
)

REPO = Path(__file__).resolve().parents[3]
LABS = all_labs(REPO / "labs")
LAB_IDS = [p.name for p in LABS]
SKELETON = REPO / "grader" / "data" / "newlab"
# where the kind stand-in behaves differently from what AKS builds (issue 23): MetalLB layer 2, Traefik
PAIRS = {"loadbalancer", "internal-lb", "static-ip", "ingress", "gateway"}
DIAGRAMS = [(p.name, name) for p in LABS for name in DIAGRAM_FILES if (p / name).is_file()]


@pytest.fixture(scope="module")
def builder() -> ModuleType:
    return load_builder()


# --- the committed pictures are current --------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", sorted(FORMATS))
@pytest.mark.parametrize(("lab_id", "name"), DIAGRAMS)
def test_each_diagram_has_a_current_picture(lab_id: str, name: str, suffix: str) -> None:
    folder = REPO / "labs" / lab_id
    source = (folder / name).read_text(encoding="utf-8").removesuffix("\n")
    try:
        picture = rendering(folder, name, source, suffix)
    except BadInput as err:
        pytest.fail(f"{err}")  # says which picture, and to run nox -s diagrams
    assert picture.startswith(b"\x89PNG" if suffix == ".png" else b"<!-- servicelab diagram")


@pytest.mark.parametrize("suffix", sorted(FORMATS))
def test_the_new_lab_skeleton_starts_with_current_pictures(suffix: str) -> None:
    source = (SKELETON / "diagram.mmd.tmpl").read_text(encoding="utf-8").removesuffix("\n")
    read_rendering(SKELETON / f"diagram{suffix}.tmpl", "diagram.mmd", source, suffix)


def test_the_declared_pairs_are_the_labs_where_kind_differs() -> None:
    assert {lab_id for lab_id, name in DIAGRAMS if name == KIND_DIAGRAM_FILE} == PAIRS


@pytest.mark.parametrize("suffix", sorted(FORMATS))
def test_a_picture_of_an_edited_diagram_is_stale_and_says_how_to_draw_it(tmp_path: Path, suffix: str) -> None:
    lab = shutil.copytree(REPO / "labs" / "clusterip", tmp_path / "clusterip")
    edited = (lab / "diagram.mmd").read_text(encoding="utf-8") + "  k --> p3[pod]\n"
    (lab / "diagram.mmd").write_text(edited, encoding="utf-8")
    with pytest.raises(BadInput) as caught:
        rendering(lab, "diagram.mmd", edited.removesuffix("\n"), suffix)
    assert f"diagram{suffix} is stale" in caught.value.message
    assert caught.value.fix is not None
    assert RENDER_COMMAND in caught.value.fix


def test_a_missing_picture_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"diagram\.svg is missing"):
        rendering(tmp_path, "diagram.mmd", "flowchart LR\n  a --> b", ".svg")


@pytest.mark.parametrize("suffix", sorted(FORMATS))
def test_the_mark_names_the_source_it_was_drawn_from(suffix: str) -> None:
    plain = (REPO / "labs" / "clusterip" / rendered_path(Path("diagram.mmd"), suffix)).read_bytes()
    marked = mark(plain, suffix, "diagram.mmd", "flowchart LR\n  a --> b")
    assert marked_digest(marked, suffix) == source_digest("flowchart LR\n  a --> b")
    assert marked_digest(b"<svg></svg>" if suffix == ".svg" else b"not a png", suffix) is None


# --- the notebooks carry them --------------------------------------------------------------------------------------


def _picture_cell(builder: ModuleType, lab_id: str) -> dict[str, object]:
    nb = builder.build(load_lab(REPO / "labs" / lab_id))
    cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "diagram"]
    assert len(cells) == 1, f"{lab_id}: one picture cell"
    cell: dict[str, object] = cells[0]
    return cell


@pytest.mark.parametrize("lab_id", LAB_IDS)
def test_each_notebooks_picture_cell_holds_its_pictures(builder: ModuleType, lab_id: str) -> None:
    cell = _picture_cell(builder, lab_id)
    attachments = cell["attachments"]
    assert isinstance(attachments, dict)
    wanted = {"diagram.png", "diagram-kind.png"} if lab_id in PAIRS else {"diagram.png"}
    assert set(attachments) == wanted
    for name, bundle in attachments.items():
        assert set(bundle) == {"image/png", "image/svg+xml"}, name
        assert base64.b64decode(bundle["image/png"]).startswith(b"\x89PNG\r\n\x1a\n")
        assert b"<svg " in base64.b64decode(bundle["image/svg+xml"])
        assert f"](attachment:{name})" in str(cell["source"])
    assert "```" not in str(cell["source"]), "no mermaid block: it shows as text outside JupyterLab"
    if lab_id in PAIRS:
        lab = load_lab(REPO / "labs" / lab_id)
        spec = lab.notebook
        assert "**On AKS**" in str(cell["source"])
        assert "**On kind, your lab cluster**" in str(cell["source"])
        assert learner_text(lab, spec.graded_the_same) in str(cell["source"])


def test_nbformat_writes_the_png_first_which_jupyterlab_draws(builder: ModuleType) -> None:
    """JupyterLab draws an attachment's first type, raster types only: image/png must come before image/svg+xml."""
    written = builder.nbformat.writes(builder.build(load_lab(REPO / "labs" / "clusterip")))
    bundle = next(c for c in json.loads(written)["cells"] if c.get("attachments"))["attachments"]["diagram.png"]
    assert list(bundle) == ["image/png", "image/svg+xml"]


@pytest.mark.parametrize("lab_id", ["clusterip", "gateway"])
def test_nbconverts_html_shows_the_diagrams_as_svg_images(builder: ModuleType, lab_id: str) -> None:
    """What nbgrader's feedback page is made with: each attachment becomes an <img> of its SVG."""
    nbconvert = pytest.importorskip("nbconvert")
    html, _ = nbconvert.HTMLExporter().from_notebook_node(builder.build(load_lab(REPO / "labs" / lab_id)))
    images = re.findall(r'<img [^>]*src="data:image/svg\+xml;base64,([^"]+)"', html)
    assert len(images) == (2 if lab_id in PAIRS else 1)
    assert all(b"<svg " in base64.b64decode(data) for data in images)
    assert "attachment:" not in html
    assert "flowchart" not in html, "mermaid source shows as text"


def test_nbgraders_feedback_page_shows_the_diagrams_as_svg_images(builder: ModuleType) -> None:
    """nbgrader's generate_feedback: its own HTMLExporter settings and template, on a graded notebook."""
    nbconvert = pytest.importorskip("nbconvert")
    converters = pytest.importorskip("nbgrader.converters")
    from nbgrader.coursedir import CourseDirectory  # noqa: PLC0415 - the notebooks extra

    feedback = converters.GenerateFeedback(coursedir=CourseDirectory())
    notebook = builder.build(load_lab(REPO / "labs" / "gateway"))
    for cell in notebook.cells:  # what autograde leaves on a grade cell
        if cell.metadata.get("nbgrader", {}).get("grade"):  # the learner's own cells carry none
            cell.metadata["nbgrader"]["score"] = 0
    graded = {"nbgrader": {"notebook": "gateway", "score": 0, "max_score": 6, "late_penalty": 0}}
    html, _ = nbconvert.HTMLExporter(config=feedback.config).from_notebook_node(notebook, resources=graded)
    assert len(re.findall(r'<img [^>]*src="data:image/svg\+xml;base64,', html)) == 2
    assert "flowchart" not in html


def test_the_learner_copies_carry_the_pictures_and_link_nothing_outside(tmp_path: Path) -> None:
    from grader.learner.copies import write_copies  # noqa: PLC0415 - reads the notebooks

    copies = write_copies(tmp_path)
    assert len(copies) == len(LABS)
    for path in copies:
        source = json.loads((REPO / "notebooks" / "source" / path.parent.name / path.name).read_text(encoding="utf-8"))
        copy = json.loads(path.read_text(encoding="utf-8"))
        assert [c.get("attachments") for c in copy["cells"]] == [c.get("attachments") for c in source["cells"]]
        for cell in copy["cells"]:
            if cell["cell_type"] == "markdown":
                text = "".join(cell["source"])
                assert not re.search(r"\]\((?!https?://|attachment:|#)", text), f"{path.name} links a file: {text}"


def test_a_notebook_is_not_built_with_a_stale_picture(builder: ModuleType, tmp_path: Path) -> None:
    lab = shutil.copytree(REPO / "labs" / "loadbalancer", tmp_path / "loadbalancer")
    (lab / "diagram-kind.mmd").write_text("flowchart LR\n  a --> b\n", encoding="utf-8")
    with pytest.raises(BadInput, match=r"diagram-kind\.(png|svg) is stale"):
        builder.build(load_lab(lab))
