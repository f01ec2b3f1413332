"""Draw every lab's diagrams as pictures: `python tools/diagrams/render.py` (or `nox -s diagrams`).

Each labs/<id>/diagram.mmd (and diagram-kind.mmd) gets diagram.svg and diagram.png beside it (why both:
grader.catalogue.renderings), drawn by mermaid-cli (pinned in package.json and package-lock.json here) in the
machine's chromium, which tools/browser/install puts there: puppeteer is told to use it and never downloads a browser
of its own. The new-lab skeleton's diagram (grader/data/newlab/diagram.mmd.tmpl) is drawn too, so a new lab starts
with its pictures.

Each picture carries the digest of the mermaid it was drawn from; only stale or missing ones are drawn again (--all:
every one). They are committed: learners, instructors and CI need neither node nor a browser, and
tests/unit/catalogue/test_diagrams.py fails when one is stale. --check lists the stale ones and exits 1 (no node).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from grader.base.errors import BadInput  # noqa: E402 - needs the repo on sys.path first
from grader.base.run import run  # noqa: E402
from grader.catalogue.locate import all_labs  # noqa: E402
from grader.catalogue.notebookspec import DIAGRAM_FILES  # noqa: E402
from grader.catalogue.renderings import FORMATS, mark, read_rendering, rendered_path  # noqa: E402

HERE = Path(__file__).resolve().parent
MMDC = HERE / "node_modules" / ".bin" / "mmdc"
CONFIG = HERE / "mermaid.json"  # theme, font (metric-compatible with Arial everywhere), labels as SVG text
SKELETON = REPO / "grader" / "data" / "newlab"
TEMPLATE = ".tmpl"
NPM_TIMEOUT_S = 600.0  # a cold `npm ci`: about 20 s here, registries can be slow
RENDER_TIMEOUT_S = 120.0  # one picture: about 3 to 6 s (chromium start included)
PNG_SCALE = 2  # pixels per CSS pixel: sharp on high-density screens
MAX_WIDTH_PX = 1000  # about the width of a notebook's cell on a laptop screen
# mermaid writes width="100%" and a max-width style: a picture in an <img> then stretches to the page's width.
# The viewBox holds the drawing's own size, which becomes its width and height.
_VIEWBOX = re.compile(r'viewBox="[-\d.]+ [-\d.]+ ([\d.]+) ([\d.]+)"')
_WIDTH = re.compile(r'\A(<svg\b[^>]*?) width="100%"')
_MAX_WIDTH = re.compile(r"max-width: *[\d.]+px; *")


@dataclass(frozen=True)
class Picture:
    mermaid: Path  # the .mmd (or, for the skeleton, .mmd.tmpl)
    file: Path  # the .svg or .png (the skeleton's: .svg.tmpl, .png.tmpl)
    suffix: str  # .svg or .png

    @property
    def name(self) -> str:
        return self.mermaid.name.removesuffix(TEMPLATE)

    def source(self) -> str:
        return self.mermaid.read_text(encoding="utf-8").removesuffix("\n")

    def stale(self) -> bool:
        try:
            read_rendering_of(self)
        except BadInput:
            return True
        return False


def read_rendering_of(picture: Picture) -> bytes:
    return read_rendering(picture.file, picture.name, picture.source(), picture.suffix)


def pictures(labs: Path | None = None) -> list[Picture]:
    """Every picture of every lab's diagrams (and, for the checkout's own catalogue, the new-lab skeleton's)."""
    found = [
        Picture(lab / name, rendered_path(lab / name, suffix), suffix)
        for lab in all_labs(labs)
        for name in DIAGRAM_FILES
        if (lab / name).is_file()
        for suffix in FORMATS
    ]
    if labs is None:
        template = SKELETON / f"{DIAGRAM_FILES[0]}{TEMPLATE}"
        for suffix in FORMATS:
            found.append(
                Picture(template, SKELETON / f"{rendered_path(Path(DIAGRAM_FILES[0]), suffix)}{TEMPLATE}", suffix)
            )
    return found


def ensure_renderer() -> None:
    """mermaid-cli as package-lock.json pins it, installed here once (npm ci), without puppeteer's own browser."""
    if MMDC.is_file():
        return
    run(
        ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--prefix", str(HERE)],
        timeout=NPM_TIMEOUT_S,
        env={"PUPPETEER_SKIP_DOWNLOAD": "1"},
    )


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        if found := shutil.which(name):
            return found
    raise BadInput(
        "no chromium on PATH", rule="the diagrams are drawn in a real browser", fix="run tools/browser/install"
    )


def fixed_size(svg: str) -> str:
    """The SVG sized as drawn (width and height from its viewBox), so an <img> shows it at its own size; a wide
    one scaled down to MAX_WIDTH_PX, since nbgrader's feedback page does not fit images to the page."""
    box = _VIEWBOX.search(svg)
    if box is None or not _WIDTH.match(svg):
        raise ValueError("mermaid-cli's SVG has no viewBox or no width=100%: tools/diagrams/render.py needs a look")
    drawn_width, drawn_height = (float(v) for v in box.groups())
    scale = min(1.0, MAX_WIDTH_PX / drawn_width)
    width, height = round(drawn_width * scale), round(drawn_height * scale)
    return _MAX_WIDTH.sub("", _WIDTH.sub(rf'\1 width="{width}" height="{height}"', svg, count=1), count=1)


def render(picture: Picture, browser_config: Path, out_dir: Path) -> None:
    source = out_dir / "in.mmd"
    source.write_text(picture.source() + "\n", encoding="utf-8")
    drawn = out_dir / "out.svg"
    draw = [str(MMDC), "--quiet", "-p", str(browser_config), "-c", str(CONFIG), "-i", str(source)]
    run([*draw, "-o", str(drawn)], timeout=RENDER_TIMEOUT_S)
    svg = fixed_size(drawn.read_text(encoding="utf-8").strip())
    if picture.suffix == ".svg":
        data = svg.encode("utf-8") + b"\n"
    else:  # at the drawing's own size (--size: its longer side, in CSS pixels), with PNG_SCALE times the pixels
        box = _VIEWBOX.search(svg)
        assert box is not None  # fixed_size found it
        size = str(max(round(float(v)) for v in box.groups()))
        png = out_dir / "out.png"
        run([*draw, "-o", str(png), "--size", size, "-s", str(PNG_SCALE), "-b", "white"], timeout=RENDER_TIMEOUT_S)
        data = png.read_bytes()
    picture.file.write_bytes(mark(data, picture.suffix, picture.name, picture.source()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 if an SVG is missing or stale (draws nothing)")
    mode.add_argument("--all", action="store_true", help="draw every diagram again, stale or not")
    parser.add_argument("--labs", type=Path, help="a catalogue of labs other than the checkout's labs/")
    args = parser.parse_args(argv)
    todo = [p for p in pictures(args.labs) if args.all or p.stale()]
    names = [str(p.file.relative_to(REPO) if p.file.is_relative_to(REPO) else p.file) for p in todo]
    if args.check or not todo:
        verb = "stale or missing (run nox -s diagrams)" if todo else "up to date"
        print(f"{len(todo)} picture(s) {verb}" + (": " + ", ".join(names) if todo else ""))
        return 1 if todo else 0
    ensure_renderer()
    with tempfile.TemporaryDirectory(prefix="servicelab-diagrams-") as folder:
        out_dir = Path(folder)
        browser_config = out_dir / "puppeteer.json"
        # --no-sandbox: chromium refuses to start as root with its sandbox (CI runs as root)
        browser = {"executablePath": chromium(), "headless": True, "args": ["--no-sandbox", "--disable-gpu"]}
        browser_config.write_text(json.dumps(browser), encoding="utf-8")
        for picture, name in zip(todo, names, strict=True):
            render(picture, browser_config, out_dir)
            read_rendering_of(picture)  # what was written is what the notebooks and the test accept
            print(f"drew {name}")
    print(f"{len(todo)} picture(s) drawn")
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except BadInput as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
