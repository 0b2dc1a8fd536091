"""Underscores, quote marks and backticks that tesseract dropped or misread on a monospace
line are put back from the pixels of their cells: lines drawn in a real monospace font
(and shown in a real xterm) and read by the real tesseract."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from agent.sources.cells import restored
from agent.sources.monospace import cell_width, grids, hocr_lines
from agent.sources.ocr import TesseractOcr, prepared, to_pgm
from evals.sources import Screen, X11Display, _drawn, _terminal, _x_server, render
from tests.test_ocr_monospace import _hocr_lines

pytestmark = pytest.mark.skipif(
    shutil.which("tesseract") is None, reason="needs tesseract (Debian: tesseract-ocr)"
)


def _reads(text: str, px: int) -> tuple[list[str], list[str]]:
    """`text` drawn as an editor at `px` pixels, read as tesseract splits it and by festina."""
    frame = render(Screen("editor", "test", text), px)
    return TesseractOcr(rejoin=False).read(frame), TesseractOcr().read(frame)


@pytest.mark.parametrize(
    ("px", "text", "misread"),
    [
        # Lines of Python's json/decoder.py: a dropped underscore (13 px), an underscore
        # swallowed by the next letter's box (20 px), and two read as a blank.
        (13, "    def __init__(self, msg, doc, pos):", "def _init_(self,"),
        (20, "    def __init__(self, msg, doc, pos):", "def _ init__(self,"),
        (20, "        ValueError.__init__(self, errmsg)", "ValueError. init__(self,"),
    ],
)
def test_underscores_tesseract_dropped_are_put_back(px, text, misread):
    raw, read = _reads(text, px)
    assert misread in raw[0]
    assert read == [" ".join(text.split())]


def test_backticks_and_a_fourth_quote_are_read_from_their_cells():
    # json/decoder.py again: tesseract reads four quotes for three and the backticks of
    # ``s`` as asterisks.
    text = (
        "    def raw_decode(self, s, idx=0):\n"
        '        """Decode a JSON document from ``s`` (a ``str`` beginning with'
    )
    raw, read = _reads(text, 20)
    assert raw[1].startswith('""""Decode') and "**s**" in raw[1]
    assert read == [" ".join(line.split()) for line in text.splitlines()]
    # A backtick at the small size too (a JavaScript template string).
    raw, read = _reads("    fetch(`/api/orders`);", 13)
    assert "`" not in raw[0]
    assert read == ["fetch(`/api/orders`);"]


def test_a_line_without_underscores_or_backticks_is_left_as_read():
    # Dashes, commas, descenders, asterisks and quotes: none is an underscore or a
    # backtick, and no cell is changed (tesseract's own `a- b` stays).
    text = "    x = a - b, *args, gap(y) ** 2  # -- ok: 'quoted' \"twice\""
    for px in (13, 20):
        raw, read = _reads(text, px)
        assert read == raw
        assert "_" not in read[0] and "`" not in read[0]
    # The line is monospace, so its cells were looked at: tesseract's curly quotes are
    # made straight (as festina makes all quotes), nothing else changes.
    frame = prepared(render(Screen("editor", "test", text), 20), 1.5)
    (line,) = hocr_lines(_hocr_document(frame))
    (grid,) = grids([line.words])
    assert grid is not None
    straight = str.maketrans("\u2018\u2019\u201c\u201d", "''\"\"")
    kept = restored(line.words, grid, frame, line.top, line.bottom)
    assert [(w.text, w.centres) for w in kept] == [
        (w.text.translate(straight), w.centres) for w in line.words
    ]


def _hocr_document(frame: np.ndarray) -> bytes:
    return subprocess.run(
        [*("tesseract", "stdin", "stdout", "--psm", "6", "-c", "hocr_char_boxes=1", "hocr")],
        input=to_pgm(frame),
        capture_output=True,
        env={**os.environ, "OMP_THREAD_LIMIT": "1"},
        check=True,
    ).stdout


def test_the_fitted_grid_is_the_fonts_cell_and_short_lines_take_the_screens_grid():
    # Lines of textwrap.py. DejaVu Sans Mono's cell is 0.602 of the font size: at 13 px,
    # enlarged, 11.74 pixels; the median of integer box steps says 12, which over the
    # first line's 70 characters would be off by more than a cell.
    text = (
        "    # Look for the longest leading string of spaces and tabs common to\n"
        "    # all lines.\n"
        "    margin = None\n"
        "    text = _whitespace_only_re.sub('', text)\n"
        "    indents = _leading_whitespace_re.findall(text)\n"
        "    for indent in indents:"
    )
    lines = _hocr_lines("editor", text, 13)
    first = grids(lines)[0]
    assert first is not None
    assert first.cell == pytest.approx(13 * 0.602 * 1.5, abs=0.05)
    assert abs(cell_width(lines[0]) - 13 * 0.602 * 1.5) > 0.2
    # At 20 px the short lines are too irregular to be judged by themselves but lie on
    # the grid of the screen's other lines.
    lines = _hocr_lines("editor", text, 20)
    found = grids(lines)
    page = found[0]
    assert page is not None
    for index in (1, 5):
        assert cell_width(lines[index]) is None
        assert found[index] is not None
        assert found[index].cell == pytest.approx(page.cell, abs=0.1)


@pytest.mark.skipif(
    shutil.which("Xvfb") is None or shutil.which("xterm") is None, reason="needs Xvfb, xterm"
)
@pytest.mark.timeout(120)
def test_the_next_lines_tops_in_a_real_xterm_are_not_read_as_underscores(tmp_path: Path):
    # In xterm the next line starts close under this one: without the test that an
    # underscore has no ink under it, the tops of `ERROR` under the blank after `$` were
    # read as one (`$_pip`).
    text = tmp_path / "pip.txt"
    text.write_text(
        "$ pip install torch==9.9\n"
        "ERROR: Could not find a version that satisfies the requirement torch==9.9\n"
    )
    with _x_server() as display:
        x11 = X11Display(display)
        try:
            with _terminal(display, f"cat {text}; sleep 3600", 16):
                gray = _drawn(x11)
        finally:
            x11.close()
    read = TesseractOcr(page_mode=4).read(gray)
    assert read[0] == "$ pip install torch==9.9"
