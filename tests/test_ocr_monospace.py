"""Words tesseract split inside a monospace character cell are joined again, on lines drawn
in a real monospace font and read by the real tesseract; proportional text is left as
read."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
from itertools import pairwise

import pytest

from agent.sources.monospace import JOIN_BELOW_CELLS, cell_width, lines_from_hocr, rejoined
from agent.sources.ocr import TesseractOcr, prepared, to_pgm
from evals.sources import Screen, render

pytestmark = pytest.mark.skipif(
    shutil.which("tesseract") is None, reason="needs tesseract (Debian: tesseract-ocr)"
)


def _hocr_lines(kind: str, text: str, px: int, page_mode: int = 6):
    """The lines tesseract reads off `text` drawn as a `kind` window at `px` pixels, as
    festina reads a frame (framed, enlarged 1.5 times, hOCR with character boxes)."""
    done = subprocess.run(
        [
            *("tesseract", "stdin", "stdout", "--psm", str(page_mode)),
            *("-c", "hocr_char_boxes=1", "hocr"),
        ],
        input=to_pgm(prepared(render(Screen(kind, "test", text), px), 1.5)),
        capture_output=True,
        env={**os.environ, "OMP_THREAD_LIMIT": "1"},
        check=True,
    )
    return lines_from_hocr(done.stdout)


@pytest.mark.parametrize(
    ("kind", "px", "text", "split"),
    [
        # The terminal test's git status line, and two lines of Python's textwrap.py and
        # json/encoder.py: tesseract ends a word at a dot or before a bracket.
        ("terminal", 13, "M  shop/invoice.py", "shop/invoice. py"),
        ("editor", 20, "    lines = _leading_whitespace_re.findall(text)", "findall (text)"),
        ("editor", 20, "ESCAPE_DCT[match.group(0)]", "group(0) ]"),
    ],
)
def test_a_word_split_inside_a_monospace_cell_is_joined(kind, px, text, split):
    page_mode = 4 if kind == "terminal" else 6
    frame = render(Screen(kind, "test", text), px)
    # Tesseract itself splits the word: without the joining the line is misread.
    assert split in " ".join(TesseractOcr(page_mode=page_mode, rejoin=False).read(frame))
    assert TesseractOcr(page_mode=page_mode).read(frame) == [" ".join(text.split())]
    # The line is found monospace, with the cell DejaVu Sans Mono has (0.602 of the font
    # size), enlarged 1.5 times.
    (line,) = _hocr_lines(kind, text, px, page_mode)
    assert cell_width(line) == pytest.approx(px * 0.602 * 1.5, abs=1)


def test_a_proportional_line_is_left_as_read():
    # Python's asyncio documentation, as a web page shows it (the eval's `asyncio-docs`).
    text = (
        "Task groups combine a task creation API with a convenient and reliable way to wait "
        "for all tasks in the group to finish. If any of the tasks in the group fail with an "
        "exception, the remaining tasks are cancelled and the group raises an exception group."
    )
    lines = _hocr_lines("browser", text, 13)
    assert len(lines) >= 2
    tight = 0
    for line in lines:
        assert cell_width(line) is None
        # Measured by the median step between letters, as a monospace cell would be, some
        # words of this text lie closer than the joining's bound: without the monospace
        # test they would have been joined.
        steps = [b - a for word in line for a, b in pairwise(word.centres)]
        cell = statistics.median(steps)
        tight += sum(
            after.centres[0] - before.centres[-1] < JOIN_BELOW_CELLS * cell
            for before, after in pairwise(line)
        )
        assert rejoined(line) == " ".join(word.text for word in line)
    assert tight >= 3
    read = TesseractOcr().read(render(Screen("browser", "test", text), 13))
    assert " ".join(read) == text


def test_lines_from_hocr_keeps_each_character_centre_and_words_without_boxes():
    document = """<?xml version="1.0" encoding="UTF-8"?>
<html xmlns="http://www.w3.org/1999/xhtml"><body>
<div class='ocr_page' title='bbox 0 0 100 40'>
 <span class='ocr_line' title='bbox 0 0 100 20'>
  <span class='ocrx_word' title='bbox 10 0 30 20'>
   <span class='ocrx_cinfo' title='x_bboxes 10 0 18 20; x_conf 99'>a</span>
   <span class='ocrx_cinfo' title='x_bboxes 20 0 30 20; x_conf 99'>&amp;</span>
  </span>
  <span class='ocrx_word' title='bbox 50 0 60 20'>plain</span>
 </span>
 <span class='ocr_line' title='bbox 0 20 100 40'></span>
</div></body></html>"""
    (line,) = lines_from_hocr(document)
    assert [(word.text, word.centres) for word in line] == [("a&", (14.0, 25.0)), ("plain", ())]
    # Too short a line to tell its font by: read as it is.
    assert cell_width(line) is None
    assert rejoined(line) == "a& plain"
