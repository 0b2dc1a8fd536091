"""Reading text off a captured frame, with Debian's tesseract.

Chosen by measurement (`festina eval sources`, "Screen text" in docs/sources.md): on
rendered screens tesseract 5.3 finds 94-100 % of the words in 0.2-0.4 s per window, where
PP-OCRv4 on onnxruntime (rapidocr-onnxruntime 1.4.4) finds 31-67 % (it drops the spaces
between words) in 0.8-1.8 s. It runs as a subprocess on one thread (OMP_THREAD_LIMIT=1): a
background reader must not take every core of the machine for a moment.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from xml.etree import ElementTree

import numpy as np

from agent.sources.cells import restored
from agent.sources.monospace import grids, hocr_lines, rejoined

TIMEOUT_S = 30.0
BORDER_PX = 10
_BLANKS = re.compile(r"\s+")
# tesseract reads straight quotes as typographic ones; screens of code and terminals hold
# the straight kind, and an error's words must match what the program printed.
_STRAIGHT = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


class OcrUnavailable(RuntimeError):
    """The OCR engine cannot run here; the message names what to install."""


def prepared(gray: np.ndarray, factor: float) -> np.ndarray:
    """`gray` framed in its own background and `factor` times larger.

    A window's text starts at its very edge, where tesseract misreads it ("KeyError" as
    "oe"): its documentation asks for a border. Screen fonts (11-20 px) read better
    enlarged, and enlarged by linear interpolation rather than by repeating pixels (both
    measured in `festina eval sources`)."""
    edge = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = int(np.bincount(edge).argmax())
    framed = np.pad(gray, BORDER_PX, constant_values=background)
    if factor == 1:
        return framed
    return enlarged(framed, factor)


def enlarged(gray: np.ndarray, factor: float) -> np.ndarray:
    """`gray` scaled by `factor` with bilinear interpolation (pixel centres aligned)."""
    rows, cols = (_taps(length, factor) for length in gray.shape)
    image = gray.astype(np.float32)
    (top, bottom, down), (left, right, across) = rows, cols
    wide = image[:, left] * (1 - across) + image[:, right] * across
    tall = wide[top] * (1 - down[:, None]) + wide[bottom] * down[:, None]
    return (tall + 0.5).astype(np.uint8)


def _taps(length: int, factor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each pixel of a side `length * factor` long: the two source pixels it lies
    between, and its weight on the second."""
    centres = (np.arange(round(length * factor)) + 0.5) / factor - 0.5
    centres = np.clip(centres, 0, length - 1)
    first = np.floor(centres).astype(np.intp)
    second = np.minimum(first + 1, length - 1)
    return first, second, (centres - first).astype(np.float32)


def to_pgm(gray: np.ndarray) -> bytes:
    """A grayscale frame as a binary PGM image, which tesseract reads from standard input."""
    height, width = gray.shape
    return b"P5\n%d %d\n255\n" % (width, height) + np.ascontiguousarray(gray, np.uint8).tobytes()


@dataclass
class TesseractOcr:
    """Lines of text in a grayscale frame, read by the tesseract command."""

    binary: str | None = field(default_factory=lambda: shutil.which("tesseract"))
    language: str = "eng"
    # Page segmentation 6: one uniform block of text, as a window's content mostly is;
    # measured against 3 (automatic layout) in `festina eval sources`.
    page_mode: int = 6
    # Enlarged 1.5 times (linear interpolation): 1, 1.25, 1.5, 1.75, 2, 2.5 and 3 measured.
    enlarge: float = 1.5
    # On monospace lines, words split inside a character cell joined again
    # (agent.sources.monospace) and underscores, quote marks and backticks put back from
    # their cells' pixels (agent.sources.cells), measured in `festina eval sources`
    # against reading the words as tesseract split them.
    rejoin: bool = True

    @property
    def name(self) -> str:
        kept = "" if self.rejoin else " split"
        return f"tesseract --psm {self.page_mode} x{self.enlarge:g}{kept}"

    def read(self, gray: np.ndarray) -> list[str]:
        """The frame's lines of text, top to bottom, blanks collapsed, empty lines left out.

        Read as hOCR with a box for each character (the same words as tesseract's plain
        text, laid out in the same lines), which the rejoining and the cells need."""
        if self.binary is None:
            raise OcrUnavailable(
                "tesseract is not installed (Debian: apt-get install tesseract-ocr)"
            )
        try:
            done = subprocess.run(
                [
                    *(self.binary, "stdin", "stdout", "-l", self.language),
                    *("--psm", str(self.page_mode), "-c", "hocr_char_boxes=1", "hocr"),
                ],
                input=to_pgm(frame := prepared(gray, self.enlarge)),
                capture_output=True,
                timeout=TIMEOUT_S,
                env={**os.environ, "OMP_THREAD_LIMIT": "1"},
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise OcrUnavailable(f"tesseract failed to run: {error}") from error
        if done.returncode != 0:
            why = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise OcrUnavailable(f"tesseract failed: {why[-1] if why else done.returncode}")
        try:
            lines = hocr_lines(done.stdout)
        except ElementTree.ParseError as error:
            raise OcrUnavailable(f"tesseract wrote no readable hOCR: {error}") from error
        found = grids([line.words for line in lines]) if self.rejoin else [None] * len(lines)
        read = []
        for line, grid in zip(lines, found, strict=True):
            if grid is None:
                raw = " ".join(word.text for word in line.words)
            else:
                words = restored(line.words, grid, frame, line.top, line.bottom)
                raw = rejoined(words, grid.cell)
            if text := _BLANKS.sub(" ", raw.translate(_STRAIGHT)).strip():
                read.append(text)
        return read
