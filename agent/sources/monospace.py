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

import math
import re
import statistics
from dataclasses import dataclass
from itertools import pairwise
from xml.etree import ElementTree

_XHTML = "{http://www.w3.org/1999/xhtml}"
_LINES = {"ocr_line", "ocr_header", "ocr_textfloat", "ocr_caption"}
_BOX = re.compile(r"(?:bbox|x_bboxes) (-?\d+) -?\d+ (-?\d+) -?\d+")
_ROWS = re.compile(r"bbox -?\d+ (-?\d+) -?\d+ (-?\d+)")

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
#: A line too short or too irregular to be judged by itself is judged on the screen's
#: grid with at least this many characters (by chance alone, 6 characters of
#: proportional text lie within 0.2 cell of a grid's centres with a chance of 0.4 ** 6).
PAGE_MIN_CHARS = 6


@dataclass(frozen=True)
class Word:
    """A word as tesseract read it, with the horizontal centre of each character's box."""

    text: str
    centres: tuple[float, ...]


@dataclass(frozen=True)
class Line:
    """A line of words as tesseract read it, with the rows its box spans (top, bottom)."""

    words: list[Word]
    top: int
    bottom: int


def lines_from_hocr(document: bytes | str) -> list[list[Word]]:
    """The lines of words in tesseract's hOCR output (made with `hocr_char_boxes=1`),
    top to bottom; a word without character boxes has no centres."""
    return [line.words for line in hocr_lines(document)]


def hocr_lines(document: bytes | str) -> list[Line]:
    """As `lines_from_hocr`, each line with the rows of its box."""
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
            found = _ROWS.search(element.get("title", ""))
            top, bottom = (int(y) for y in found.groups()) if found else (0, 0)
            lines.append(Line(words, top, bottom))
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


@dataclass(frozen=True)
class CellGrid:
    """The character cells of a monospace line: their width, and the centre of cell 0
    (cell k is centred at `offset + k * cell`)."""

    cell: float
    offset: float

    def error(self, x: float) -> float:
        """How far (in cells) `x` lies from the nearest cell centre."""
        at = (x - self.offset) / self.cell
        return abs(at - round(at))


def fitted(centres: list[float], cell: float) -> CellGrid:
    """The grid of a monospace line, fitted to its character centres (`cell` being the
    line's `cell_width`, a median of integer box steps, a few hundredths of a pixel off:
    over 60 cells that would be a whole cell). The width is first the mean of the steps
    of about one cell; each character then takes the nearest cell, and the grid is fitted
    by least squares, leaving out, the second time, characters over a third of a cell off
    it (tesseract's boxes of touching glyphs overlap)."""
    single = [b - a for a, b in pairwise(centres) if abs((b - a) / cell - 1) < TOLERANCE]
    width = statistics.fmean(single) if single else cell
    angles = [2 * math.pi * x / width for x in centres]
    mean = math.atan2(sum(map(math.sin, angles)), sum(map(math.cos, angles)))
    offset = mean / (2 * math.pi) * width
    points = [(round((x - offset) / width), x) for x in centres]
    for _ in range(2):
        if len({k for k, _ in points}) < 2:
            break
        width, offset = _least_squares(points)
        points = [(round((x - offset) / width), x) for x in centres]
        points = [(k, x) for k, x in points if abs(offset + k * width - x) < width / 3]
    return CellGrid(width, offset)


def _least_squares(points: list[tuple[int, float]]) -> tuple[float, float]:
    mean_k = statistics.fmean(k for k, _ in points)
    mean_x = statistics.fmean(x for _, x in points)
    spread = sum((k - mean_k) ** 2 for k, _ in points)
    slope = sum((k - mean_k) * (x - mean_x) for k, x in points) / spread
    return slope, mean_x - slope * mean_k


def grids(lines: list[list[Word]]) -> list[CellGrid | None]:
    """Each line's grid of cells, None for a line not found monospace.

    A line is monospace by its own characters (`cell_width`), or, where its boxes are too
    few or too irregular to tell, by the screen's: a window of code or a terminal has one
    grid, shared by all its lines, so a line of `PAGE_MIN_CHARS` characters or more whose
    centres lie on the grid of the screen's monospace lines (`SHARE` of them within
    `TOLERANCE` of a cell centre) is monospace too."""
    found: list[CellGrid | None] = []
    for line in lines:
        cell = cell_width(line)
        centres = [x for word in line for x in word.centres]
        found.append(fitted(centres, cell) if cell is not None else None)
    own = [grid for grid in found if grid is not None]
    if not own:
        return found
    cell = statistics.median(grid.cell for grid in own)
    angles = [2 * math.pi * grid.offset / cell for grid in own]
    offset = (
        math.atan2(sum(map(math.sin, angles)), sum(map(math.cos, angles))) * cell / (2 * math.pi)
    )
    page = CellGrid(cell, offset)
    for index, line in enumerate(lines):
        centres = [x for word in line for x in word.centres]
        if found[index] is None and len(centres) >= PAGE_MIN_CHARS:
            on_grid = sum(page.error(x) < TOLERANCE for x in centres)
            if on_grid >= SHARE * len(centres):
                found[index] = page
    return found


def rejoined(line: list[Word], cell: float | None = None) -> str:
    """The line's text, words that lie in neighbouring cells of a monospace line joined;
    the line's cell width is found from its characters unless given."""
    cell = cell_width(line) if cell is None else cell
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
