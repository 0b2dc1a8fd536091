"""Characters that tesseract dropped or misread on a monospace line, put back from the
pixels of their character cells: underscores, and quote marks and backticks.

Tesseract reads `__init__` on a screen of code as `_init__`, `. init__` or `— init__`: an
underscore is a bare stroke under the baseline, and two of them touch, so its network
drops one, swallows it into the next letter's box or reads it as a dash. It reads the
backticks of ``` ``s`` ``` as `*` or `°`, and three double quotes as four. On a monospace
line every
character takes one cell of a grid that the other characters' boxes give
(`monospace.grids`), so each cell can be looked at in the frame:
- a cell whose only ink is one thin stroke lying wholly under the baseline of the line's
  letters and across most of the cell's width holds an underscore, whatever tesseract
  made of it (`-` lies above the baseline, `,` and the descenders of `g` or `p` reach above
  it, `.` is narrow);
- a cell read as a mark (`*`, `°`, `~`, a quote) whose only ink is high above the
  baseline, narrow, in two strokes holds `"`, in one upright stroke `'`, in one stroke
  leaning right as it falls a backtick (`*`, `°` and `^` are wider);
- one glyph takes one cell, so two marks tesseract read in one cell are one.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import numpy as np

from agent.sources.monospace import CellGrid, Word

#: Characters that stand on the baseline with nothing under it: their lowest ink row is
#: the baseline, which an underscore lies wholly below.
_ON_BASELINE = frozenset(
    "abcdefhiklmnorstuvwxzABCDEFGHIJKLMNOPRSTUVWXYZ0123456789"
)  # fmt: skip
#: An underscore's stroke covers at least this share of its cell's columns (in DejaVu Sans
#: Mono, and most code fonts, the whole cell: neighbouring underscores touch),
MIN_COVER = 0.6
#: is at most this many cell widths thick (a stroke, not a glyph),
MAX_THICKNESS = 0.25
#: and lies at most this many cell widths under the baseline (0.13-0.23 of the font size
#: in DejaVu Sans Mono, a cell being 0.6 of it), with no ink under it down to one cell
#: under the baseline (where a next line starts that close, its glyphs' tops would look
#: like a stroke: such a cell is left as read).
MAX_DEPTH = 0.5
#: Marks that tesseract reads for a quote or a backtick, or that are one (straightened).
MARKS = frozenset("*°~^'\"`\u2018\u2019\u201c\u201d")
#: A quote mark's or backtick's ink ends at least this many cells over the baseline
#: (in DejaVu Sans Mono 0.45 of the font size, 0.75 cell; an `x` reaches 0.9 cell),
MARK_ABOVE = 0.6
#: and each of its strokes is at most this many cells wide (an `*` or a `°` is 0.5 or
#: more).
MARK_STROKE = 0.4
#: A backtick's stroke leans right by at least this many cells from its top row to its
#: bottom row (in DejaVu Sans Mono 0.1-0.15); an upright `'` by less.
LEAN = 0.06
_STRAIGHT = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


@dataclass(frozen=True)
class _Char:
    text: str
    centre: float
    word: int


def restored(
    words: list[Word], grid: CellGrid, frame: np.ndarray, top: int, bottom: int
) -> list[Word]:
    """`words` (a monospace line on `grid`, lying in rows `top` to `bottom` of `frame`,
    the image tesseract read) with what its cells show put back: underscores (one
    tesseract dropped inserted, a dash or other mark read for one replaced, and a letter
    whose box slid onto an underscore's cell moved to the empty cell beside it holding its
    ink) and quote marks and backticks (a mark read for one replaced, two in one cell made
    one). The words are returned as they were where the line cannot be looked at (no
    letter standing on the baseline to find it by, a word without character boxes)."""
    if any(len(word.text) != len(word.centres) for word in words):
        return words
    chars = [
        _Char(text, centre, index)
        for index, word in enumerate(words)
        for text, centre in zip(word.text, word.centres, strict=True)
    ]
    low = min(frame.shape[0], bottom + math.ceil(2 * grid.cell))
    if not chars or top < 0 or low - top < 2:
        return words
    region = frame[top:low].astype(np.int16)
    background = int(np.bincount(region.ravel().astype(np.intp)).argmax())
    contrast = np.abs(region - background)
    if contrast.max() < 32:
        return words
    ink = _Cells(grid.cell, grid.offset, contrast > contrast.max() / 2)
    baseline = ink.baseline([c for c in chars if c.text in _ON_BASELINE], bottom - top)
    if baseline is None:
        return words
    cells: dict[int, list[_Char]] = {}
    for char in chars:
        cells.setdefault(ink.index(char.centre), []).append(char)
    _one_glyph_a_cell(cells, ink, baseline)
    _underscores(cells, ink, baseline)
    _marks(cells, ink, baseline)
    kept = sorted((c for group in cells.values() for c in group), key=lambda c: c.centre)
    return [
        Word("".join(c.text for c in group), tuple(c.centre for c in group))
        for index in range(len(words))
        if (group := [c for c in kept if c.word == index])
    ]


def _one_glyph_a_cell(cells: dict[int, list[_Char]], ink: _Cells, baseline: int) -> None:
    """Two characters whose boxes' centres fell in one cell: beside an empty cell that
    holds ink, one of them is that cell's (tesseract's boxes of touching glyphs overlap);
    two of the same mark are one."""
    for k in sorted(cells):
        if len(cells[k]) != 2:
            continue
        first, second = cells[k]
        for n, char in ((k + 1, second), (k - 1, first)):
            if n not in cells and ink.has_ink(n, baseline):
                cells[k].remove(char)
                cells[n] = [_Char(char.text, ink.centre(n), char.word)]
                break
        else:
            same = first.text.translate(_STRAIGHT) == second.text.translate(_STRAIGHT)
            if same and first.text in MARKS:
                cells[k].remove(second)


def _underscores(cells: dict[int, list[_Char]], ink: _Cells, baseline: int) -> None:
    first, last = min(cells), max(cells)
    while ink.underscore(first - 1, baseline):
        first -= 1
    while ink.underscore(last + 1, baseline):
        last += 1
    for k in range(first, last + 1):
        here = cells.get(k, [])
        if len(here) > 1 or (here and here[0].text == "_") or not ink.underscore(k, baseline):
            continue
        word = here[0].word if here else _nearest_word(cells, k)
        if here and here[0].text.isalnum():
            # A letter whose box took in the underscore beside it: it goes to the empty
            # neighbouring cell that holds its ink, or stays where no such cell is.
            moved = next(
                (n for n in (k + 1, k - 1) if n not in cells and ink.above(n, baseline)),
                None,
            )
            if moved is None:
                continue
            cells[moved] = [_Char(here[0].text, ink.centre(moved), here[0].word)]
        cells[k] = [_Char("_", ink.centre(k), word)]


def _marks(cells: dict[int, list[_Char]], ink: _Cells, baseline: int) -> None:
    for k, here in cells.items():
        if len(here) == 1 and here[0].text in MARKS:
            mark = ink.mark(k, baseline)
            if mark is not None:
                cells[k] = [_Char(mark, here[0].centre, here[0].word)]


def _nearest_word(cells: dict[int, list[_Char]], k: int) -> int:
    """The word an inserted character belongs to: that of the nearest character, the one
    before it where two are as near (`_` mostly ends or continues a name)."""
    nearest = min(cells, key=lambda n: (abs(n - k), n > k))
    return cells[nearest][0].word


@dataclass(frozen=True)
class _Cells:
    """The ink of a line (rows from its top), cut into the cells of its grid."""

    cell: float
    offset: float
    ink: np.ndarray

    def index(self, x: float) -> int:
        return round((x - self.offset) / self.cell)

    def centre(self, k: int) -> float:
        return self.offset + k * self.cell

    def _columns(self, k: int, share: float = 1.0) -> np.ndarray:
        """The ink of cell `k`'s columns, or of the middle `share` of them."""
        left = max(0, math.ceil(self.centre(k) - share * self.cell / 2))
        right = min(self.ink.shape[1], math.floor(self.centre(k) + share * self.cell / 2))
        return self.ink[:, left:right] if right > left else self.ink[:, :0]

    def baseline(self, letters: list[_Char], box_bottom: int) -> int | None:
        """The row the line's letters stand on: the median of their lowest ink rows (in
        the line's box: under it a next line may begin)."""
        bottoms = []
        for letter in letters:
            columns = self._columns(self.index(letter.centre))[: box_bottom + 1]
            rows = np.flatnonzero(columns.any(axis=1))
            if rows.size:
                bottoms.append(int(rows[-1]))
        return round(statistics.median(bottoms)) if bottoms else None

    def underscore(self, k: int, baseline: int) -> bool:
        """Whether cell `k` holds an underscore and nothing else: one thin, wide stroke
        under the baseline, with no ink over it and none under it down to a cell below."""
        columns = self._columns(k)[: baseline + 1 + math.ceil(self.cell)]
        rows = np.flatnonzero(columns.any(axis=1))
        if not rows.size or columns.shape[1] == 0:
            return False
        thin = rows[-1] - rows[0] + 1 <= max(2.0, MAX_THICKNESS * self.cell)
        shallow = rows[-1] <= baseline + MAX_DEPTH * self.cell
        wide = columns.any(axis=0).mean() >= MIN_COVER
        return bool(rows[0] > baseline and thin and shallow and wide)

    def mark(self, k: int, baseline: int) -> str | None:
        """The quote mark or backtick cell `k` holds, None where its ink is not one."""
        columns = self._columns(k)[: baseline + 1 + math.ceil(self.cell)]
        rows = np.flatnonzero(columns.any(axis=1))
        if not rows.size or rows[-1] > baseline - MARK_ABOVE * self.cell:
            return None
        glyph = columns[rows[0] : rows[-1] + 1]
        across = glyph.any(axis=0)
        strokes = np.flatnonzero(np.diff(np.concatenate(([0], across.astype(np.int8), [0]))))
        widths = strokes[1::2] - strokes[::2]
        if max(widths) > MARK_STROKE * self.cell or len(widths) > 2:
            return None
        if len(widths) == 2:
            return '"'
        lean = _middle(glyph[-1:]) - _middle(glyph[:1])
        return "`" if lean >= LEAN * self.cell else "'"

    def above(self, k: int, baseline: int) -> bool:
        """Whether cell `k` holds ink over the baseline (a glyph, not a lone underscore);
        looked for in the middle half of the cell, as the edges of its neighbours' glyphs
        may reach into it."""
        return bool(self._columns(k, 0.5)[: baseline + 1].any())

    def has_ink(self, k: int, baseline: int) -> bool:
        """Whether cell `k` holds any ink of this line (over the baseline, or an
        underscore)."""
        return self.above(k, baseline) or self.underscore(k, baseline)


def _middle(ink: np.ndarray) -> float:
    """The mean column of the ink in `ink`."""
    return float(np.flatnonzero(ink.any(axis=0)).mean())
