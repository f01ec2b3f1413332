"""The pictures of a lab's diagrams, committed beside them: diagram.mmd -> diagram.svg and diagram.png.

tools/diagrams/render.py draws them (mermaid-cli in chromium) and marks each with the digest of the mermaid it was
drawn from: the SVG in a comment on its first line, the PNG in a tEXt chunk. Nobody else needs node or a browser:
the notebook builder takes only pictures that are current, and a unit test fails on a stale one with the command
that draws it again.

Two formats because a notebook carries a picture as a Markdown cell attachment, a bundle of types of which each
viewer picks one. JupyterLab (and Notebook 7) takes the first type and draws only raster ones: an image/svg+xml
attachment shows nothing there (its attachments resolver; jupyterlab/jupyterlab#10464). Classic Notebook
(textcell.js) and VS Code (cellAttachmentRenderer.ts) take the first type too; nbconvert's HTML, so nbgrader's
feedback page, prefers SVG (markdown_mistune.py). nbformat writes the bundle's keys sorted: image/png comes first.
"""

from __future__ import annotations

import hashlib
import re
import struct
import zlib
from pathlib import Path

from grader.base.errors import BadInput

RENDER_COMMAND = "nox -s diagrams"  # or: python tools/diagrams/render.py (needs node and chromium)
FORMATS = {".png": "image/png", ".svg": "image/svg+xml"}  # suffix: the type a notebook attachment names
_MARK = "servicelab diagram: rendered from {name} sha256={digest} by tools/diagrams/render.py"
_MARK_RE = re.compile(r"servicelab diagram: rendered from \S+ sha256=([0-9a-f]{64}) ")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_KEYWORD = b"servicelab"  # the tEXt chunk's keyword


def rendered_path(diagram: Path, suffix: str) -> Path:
    """Where a picture of a diagram is kept: beside it, diagram.mmd -> diagram.svg / diagram.png."""
    return diagram.with_suffix(suffix)


def source_digest(source: str) -> str:
    """The digest a picture carries of the mermaid it was drawn from (the text without its final newline)."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def mark(picture: bytes, suffix: str, name: str, source: str) -> bytes:
    """The picture with the mark naming the mermaid (diagram `name`, text `source`) it was drawn from."""
    text = _MARK.format(name=name, digest=source_digest(source))
    if suffix == ".svg":
        return f"<!-- {text} -->\n".encode() + picture
    chunks = _png_chunks(picture)
    if not chunks or chunks[0][0] != b"IHDR":
        raise ValueError("not a PNG: it does not start with its IHDR chunk")
    body = _PNG_KEYWORD + b"\0" + text.encode("latin-1")
    chunk = struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", zlib.crc32(b"tEXt" + body))
    after_header = chunks[0][2]
    return picture[:after_header] + chunk + picture[after_header:]


def marked_digest(picture: bytes, suffix: str) -> str | None:
    """The digest of the mermaid the picture says it was drawn from; None when it carries no mark."""
    if suffix == ".svg":
        first_line = picture.split(b"\n", 1)[0].decode("utf-8", errors="replace")
        found = _MARK_RE.search(first_line) if first_line.startswith("<!-- ") else None
        return found.group(1) if found else None
    for kind, data, _ in _png_chunks(picture):
        keyword, _, text = data.partition(b"\0")
        if kind == b"tEXt" and keyword == _PNG_KEYWORD and (found := _MARK_RE.search(text.decode("latin-1"))):
            return found.group(1)
    return None


def read_rendering(picture_file: Path, name: str, source: str, suffix: str = "") -> bytes:
    """The picture in picture_file (format: suffix, or the file's own), refused unless it was drawn from `source`
    (the mermaid of diagram `name`)."""
    rule = f"{picture_file.name} is a picture of {name}, drawn from it by tools/diagrams/render.py"
    fix = f"run `{RENDER_COMMAND}` (or python tools/diagrams/render.py) and commit {picture_file.name}"
    if not picture_file.is_file():
        raise BadInput(f"{picture_file.name} is missing", file=str(picture_file), rule=rule, fix=fix)
    picture = picture_file.read_bytes()
    if marked_digest(picture, suffix or picture_file.suffix) != source_digest(source):
        raise BadInput(
            f"{picture_file.name} is stale: it was not drawn from this {name}",
            file=str(picture_file),
            rule=rule,
            fix=fix,
        )
    return picture


def rendering(lab_path: Path, name: str, source: str, suffix: str) -> bytes:
    """The lab's picture of diagram `name` (mermaid `source`) in format suffix; refused when missing or stale."""
    return read_rendering(rendered_path(lab_path / name, suffix), name, source)


def _png_chunks(png: bytes) -> list[tuple[bytes, bytes, int]]:
    """(type, data, offset after the chunk) for each chunk; [] for what is not a PNG."""
    if not png.startswith(_PNG_SIGNATURE):
        return []
    chunks, at = [], len(_PNG_SIGNATURE)
    while at + 8 <= len(png):
        (length,), kind = struct.unpack(">I", png[at : at + 4]), png[at + 4 : at + 8]
        end = at + 12 + length
        chunks.append((kind, png[at + 8 : at + 8 + length], end))
        at = end
    return chunks
