"""Words that tesseract split inside a monospace character cell, joined again.

On screens of code tesseract sometimes ends a word in the middle of an identifier
(`invoice.py` read as `invoice. py`, `startswith(margin):` as `startswith(margin) :`): its
network places a space where the font has none. (A character it dropped stays dropped:
`__init__` read as `_ init__` becomes `_init__`.) In a monospace line a split can be told
from the character boxes: every character takes one cell, so the centres of two
neighbouring characters are one cell apart, and two cells apart when a blank lies between
them. The cell width is measured per line, and only on a line whose characters do lie on
such a grid: in proportional text (a web page, a dialog) the distance between two words is
one and a half "cells" or so, and joining by it wrecked the text (word accuracy 0.632 on
the web pages when the first attempt joined without this test).
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from itertools import pairwise
from xml.etree import ElementTree

_XHTML = "{http://www.w3.org/1999/xhtml}"
_LINES = {"ocr_line", "ocr_header", "ocr_textfloat", "ocr_caption"}
_BOX = re.compile(r"(?:bbox|x_bboxes) (-?\d+) -?\d+ (-?\d+) -?\d+")

#: A line is judged only with at least this many steps from one character to the next:
#: fewer say little about the font.
MIN_STEPS = 10
#: The share of those steps that must lie within `TOLERANCE` cells of a whole number of
#: cells for the line to count as monospace. On `festina eval sources`' screens (the sets
#: it was chosen on), lines of 10 steps or more: monospace ones have most often 0.85-1.00
#: of their steps on the grid (median 1.00), proportional ones 0.25-0.80; tesseract's
#: character boxes are not exact, so a few steps of a monospace line fall off the grid.
#: Drawn from text it was not chosen on, 162 proportional lines had at most 0.75.
SHARE = 0.85
TOLERANCE = 0.2
#: Two words are one where the centres of the last character of the first and the first
#: character of the second lie closer than this many cells: one cell apart, no blank
#: between them (two cells with a blank).
JOIN_BELOW_CELLS = 1.5


@dataclass(frozen=True)
class Word:
    """A word as tesseract read it, with the horizontal centre of each character's box."""

    text: str
    centres: tuple[float, ...]


def lines_from_hocr(document: bytes | str) -> list[list[Word]]:
    """The lines of words in tesseract's hOCR output (made with `hocr_char_boxes=1`),
    top to bottom; a word without character boxes has no centres."""
    root = ElementTree.fromstring(document)
    lines = []
    for element in root.iter(f"{_XHTML}span"):
        if element.get("class") not in _LINES:
            continue
        words = []
        for word in element.findall(f"{_XHTML}span"):
            if word.get("class") != "ocrx_word":
                continue
            glyphs = [g for g in word.findall(f"{_XHTML}span") if g.get("class") == "ocrx_cinfo"]
            if glyphs:
                text = "".join(glyph.text or "" for glyph in glyphs)
                centres = tuple(_centre(glyph.get("title", "")) for glyph in glyphs)
            else:
                text, centres = "".join(word.itertext()).strip(), ()
            if text:
                words.append(Word(text, centres))
        if words:
            lines.append(words)
    return lines


def _centre(title: str) -> float:
    found = _BOX.search(title)
    if found is None:
        raise ValueError(f"no box in hOCR title {title!r}")
    left, right = (int(x) for x in found.groups())
    return (left + right) / 2


def cell_width(line: list[Word]) -> float | None:
    """The width of a character cell, where the line is monospace by the test above;
    None for a proportional line, or one too short to tell."""
    points = [(index, x) for index, word in enumerate(line) for x in word.centres]
    steps = [(i == j, b - a) for (i, a), (j, b) in pairwise(points)]
    within = [step for same_word, step in steps if same_word]
    if len(steps) < MIN_STEPS or len(within) < 3:
        return None
    cell = statistics.median(within)
    if cell <= 0:
        return None
    on_grid = sum(abs(step / cell - round(step / cell)) < TOLERANCE for _, step in steps)
    return cell if on_grid >= SHARE * len(steps) else None


def rejoined(line: list[Word]) -> str:
    """The line's text, words that lie in neighbouring cells of a monospace line joined."""
    cell = cell_width(line)
    text = line[0].text
    for before, after in pairwise(line):
        split = (
            cell is not None
            and before.centres
            and after.centres
            and after.centres[0] - before.centres[-1] < JOIN_BELOW_CELLS * cell
        )
        text += after.text if split else f" {after.text}"
    return text
