"""`festina eval sources`: how well and how cheaply the screen source reads the screen.

Two parts:
- OCR accuracy on rendered screens: the texts of `evals/data/screens-v1.jsonl` (real tool
  output: tracebacks, linker and shell errors, code, documentation, dialogs) drawn as a
  terminal (light on dark), an editor, a web page and a dialog would draw them, at a small
  (13 px) and a large (20 px) font, and read back by each OCR setting; the terminal texts
  also as a real xterm on Xvfb draws them (11 and 16 points), where Xvfb and xterm exist.
  Word accuracy is the share of the true words found in order; the character error rate
  is the edit distance over the true text's length.
- The live cost (needs Xvfb and xterm): the screen source at its interval on a real X
  server, first on a screen that does not change (an idle minute), then on a terminal that
  prints a new line every second; CPU as a share of one core (festina and its tesseract
  subprocesses together) and the frames skipped as unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import difflib
import json
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from agent.config import PrivacySettings
from agent.privacy import ExclusionRules
from agent.sources.ocr import TesseractOcr
from agent.sources.screen import ScreenSource, X11Display, window_parts

SIZES = {"small": 13, "large": 20}
# Background and text grey of each kind of screen.
STYLES = {
    "terminal": (30, 225, "mono"),
    "editor": (255, 35, "mono"),
    "browser": (255, 20, "sans"),
    "dialog": (236, 20, "sans"),
}
FONTS = {"mono": "DejaVu Sans Mono", "sans": "DejaVu Sans"}
PAGE_WIDTH_PX = 900
#: The OCR settings compared: (page segmentation mode, enlargement, words split inside a
#: monospace cell joined again). The first two are festina's: page mode 4 for terminals, 6
#: for every other window (see ScreenSource); the next two the same without the joining.
SETTINGS = (
    *((6, 1.5, True), (4, 1.5, True), (6, 1.5, False), (4, 1.5, False)),
    *((6, 2, True), (4, 2, True), (6, 1, True), (4, 1, True)),
    *((3, 1.5, True), (3, 2, True), (3, 1, True)),
)
FESTINA_SETTINGS = SETTINGS[:2]


#: The fixture sets: the first, on which festina's settings were first chosen; editor
#: screens of real source code (Python's standard library, a C header) added afterwards
#: ("new"), which the settings were then tuned with too; and a third set of editor
#: screens ("v3": Python, C headers, a shell script, 12-line windows drawn at random
#: from files on the machine) added before the joining of split words was tuned (its means
#: were printed while the cells were tuned); and a fourth ("v4": 12-line windows of 12
#: modules of Python's standard library, drawn to hold dunder names, docstring quotes and
#: backticks) added before the cells and never tuned on. Each is reported apart, so that
#: a setting is not judged only on the screens it was fit to.
FIXTURES = {
    "v1": "screens-v1.jsonl",
    "new": "screens-new-editor-v1.jsonl",
    "v3": "screens-editor-v3.jsonl",
    "v4": "screens-editor-v4.jsonl",
}


@dataclass(frozen=True)
class Screen:
    kind: str
    name: str
    text: str
    fixtures: str = "v1"
    #: Where a real text was taken from (file and lines), when it was.
    origin: str = ""

    @property
    def group(self) -> str:
        """The row it is reported in: its kind, and its fixture set where not the first."""
        return self.kind if self.fixtures == "v1" else f"{self.kind}-{self.fixtures}"


@dataclass
class Reading:
    """One setting's reading of one rendered screen."""

    setting: str
    kind: str
    name: str
    size: str
    word_accuracy: float
    cer: float
    ms: float


@dataclass
class LiveCost:
    """The screen source running on a real X server for a while."""

    phase: str
    seconds: float
    interval_s: float
    frames: int
    unchanged: int
    read: int
    events: int
    cpu_share: float


def screens() -> list[Screen]:
    """The texts to render, from the package's data, every fixture set."""
    found = []
    for fixtures, file in FIXTURES.items():
        path = resources.files("evals.data").joinpath(file)
        for line in path.read_text().splitlines():
            if line:
                found.append(Screen(**json.loads(line), fixtures=fixtures))
    return found


def _font_file(family: str) -> str | None:
    matcher = shutil.which("fc-match")
    if matcher is None:
        return None
    found = subprocess.run(
        [matcher, "--format=%{file}", family], capture_output=True, text=True, check=False
    ).stdout
    return found or None


def render(screen: Screen, size: int) -> np.ndarray:
    """The screen's text drawn as its kind of window would draw it, in grey levels."""
    try:
        from PIL import Image, ImageDraw, ImageFont
    except ImportError as error:
        raise RuntimeError("rendering screens needs Pillow: pip install 'festina[dev]'") from error
    background, ink, family = STYLES[screen.kind]
    file = _font_file(FONTS[family])
    font = ImageFont.truetype(file, size) if file else ImageFont.load_default(size)
    lines = _wrapped(screen.text, font) if family == "sans" else screen.text.splitlines()
    lines = [line.expandtabs(4) for line in lines]
    step = round(size * 1.4)
    margin = size
    width = max(PAGE_WIDTH_PX, max(int(font.getlength(line)) for line in lines) + 2 * margin)
    image = Image.new("L", (width, step * (len(lines) + 1) + 2 * margin), background)
    draw = ImageDraw.Draw(image)
    for number, line in enumerate(lines):
        draw.text((margin, margin + number * step), line, fill=ink, font=font)
    if screen.kind == "terminal":  # the prompt's cursor, an outlined box, as xterm draws it
        top = margin + len(lines) * step
        draw.rectangle((margin, top, margin + size // 2, top + size), outline=ink)
    return np.asarray(image, dtype=np.uint8)


def _wrapped(text: str, font: Any) -> list[str]:
    """Prose broken into lines that fit the page, as a browser or a dialog lays it out."""
    lines: list[str] = []
    for paragraph in text.splitlines():
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}".strip()
            if line and font.getlength(candidate) > PAGE_WIDTH_PX - 60:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return lines


def word_accuracy(truth: str, read: str) -> float:
    """The share of the true words found, in order."""
    expected, found = truth.split(), read.split()
    matcher = difflib.SequenceMatcher(a=expected, b=found, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks()) / max(len(expected), 1)


def character_error_rate(truth: str, read: str) -> float:
    """Edits (insertions, deletions, substitutions) to turn what was read into the truth,
    over the truth's length; blanks collapsed on both sides."""
    a, b = " ".join(truth.split()), " ".join(read.split())
    previous = list(range(len(b) + 1))
    for i, left in enumerate(a, 1):
        current = [i]
        for j, right in enumerate(b, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (left != right))
            )
        previous = current
    return previous[-1] / max(len(a), 1)


def xterm_screens() -> list[tuple[Screen, str, np.ndarray]]:
    """The terminal texts as a real xterm on a real X server draws them (fonts of 11 and
    16 points), captured by the screen source's own display; none without Xvfb and xterm."""
    if shutil.which("Xvfb") is None or shutil.which("xterm") is None:
        return []
    captured = []
    with tempfile.TemporaryDirectory() as folder, _x_server() as display:
        x11 = X11Display(display)
        try:
            for screen in screens():
                if screen.kind != "terminal":
                    continue
                text = Path(folder) / f"{screen.name}.txt"
                text.write_text(screen.text + "\n")
                for size, points in (("small", 11), ("large", 16)):
                    with _terminal(display, f"cat {text}; sleep 3600", points):
                        gray = _drawn(x11)
                    captured.append((Screen("xterm", screen.name, screen.text), size, gray))
        finally:
            x11.close()
    return captured


#: Where whole_screens puts its two xterms: side by side (columns that a reading in rows
#: would interleave), or one below and to the right of the other.
LAYOUTS = {
    "side-by-side": ("56x10+0+0", "56x10+512+0", 56),
    "stacked": ("90x10+0+0", "90x10+120+300", 90),
}


def whole_screens() -> list[tuple[Screen, str, list[np.ndarray]]]:
    """Two terminal texts at once, in two real xterms on a real X server, the whole
    screen captured and cut into windows as `[screen] region = "screen"` does (the left or
    upper window's pixels, then the other's); the truth is the first (left or upper) text,
    then the second, lines wrapped where the xterm wraps them. None without Xvfb and
    xterm."""
    if shutil.which("Xvfb") is None or shutil.which("xterm") is None:
        return []
    texts = [screen for screen in screens() if screen.kind == "terminal"]
    pairs = [(texts[i], texts[(i + 1) % len(texts)]) for i in range(0, len(texts), 2)]
    layouts = ["side-by-side", "stacked", "side-by-side"]
    captured = []
    with tempfile.TemporaryDirectory() as folder, _x_server() as display:
        x11 = X11Display(display)
        try:
            for (first, second), layout in zip(pairs, layouts, strict=True):
                *places, columns = LAYOUTS[layout]
                files = []
                for screen in (first, second):
                    files.append(Path(folder) / f"{screen.name}.txt")
                    files[-1].write_text(screen.text + "\n")
                with (
                    _terminal(display, f"cat {files[0]}; sleep 3600", 11, places[0]),
                    _terminal(display, f"cat {files[1]}; sleep 3600", 11, places[1]),
                ):
                    gray = _drawn(x11, windows=2)
                    shown = x11.visible_windows() or []
                cut = window_parts(gray, x11.whole_screen(), shown)
                # The first window is the one at the left or on top (the two start at once,
                # either may be above the other).
                parts = [part for w, part in sorted(cut, key=lambda c: (c[0].left, c[0].top))]
                truth = "\n".join(_wrapped_at(t.text, columns) for t in (first, second))
                name = f"{first.name}+{second.name} ({layout})"
                captured.append((Screen("screen", name, truth), "small", parts))
        finally:
            x11.close()
    return captured


def _wrapped_at(text: str, columns: int) -> str:
    """`text` as a terminal `columns` wide shows it: long lines cut at the last column."""
    lines = []
    for line in text.expandtabs(8).splitlines():
        lines += [line[i : i + columns] for i in range(0, max(len(line), 1), columns)]
    return "\n".join(lines)


def _drawn(x11: X11Display, timeout_s: float = 20.0, windows: int = 0) -> np.ndarray:
    """The window in front (with `windows`, the whole screen once that many windows are
    shown) once it holds text and has stopped changing."""
    deadline = time.monotonic() + timeout_s
    previous = None
    while time.monotonic() < deadline:
        if windows:
            shown = x11.visible_windows()
            region = x11.whole_screen() if shown is not None and len(shown) >= windows else None
        else:
            region = x11.front_window()
        if region is not None:
            gray = x11.grab(region)
            if previous is not None and np.array_equal(previous, gray) and gray.std() > 5:
                return gray
            previous = gray
        time.sleep(0.2)
    raise RuntimeError("xterm drew nothing in time")


class RapidOcrReader:
    """PP-OCRv4 on onnxruntime (rapidocr-onnxruntime, models inside its wheel), the other
    engine the screen source could use; its text boxes joined into lines."""

    name = "rapidocr-onnxruntime (PP-OCRv4)"

    def __init__(self) -> None:
        from rapidocr_onnxruntime import RapidOCR

        self._engine = RapidOCR()

    def read(self, gray: np.ndarray) -> list[str]:
        found, _ = self._engine(np.stack([gray] * 3, axis=-1))
        boxes = sorted(
            ((sum(p[1] for p in box) / 4, box[0][0], box[2][1] - box[0][1], text)
             for box, text, _ in found or []),
        )  # fmt: skip
        lines: list[list[tuple[float, str]]] = []
        last_y = float("-inf")
        for y, x, height, text in boxes:
            if lines and y - last_y < max(height, 1) / 2:
                lines[-1].append((x, text))
            else:
                lines.append([(x, text)])
                last_y = y
        return [" ".join(text for _, text in sorted(line)) for line in lines]


def measure_ocr(
    settings: tuple[tuple[int, float, bool], ...] = SETTINGS, *, other_engines: bool = False
) -> list[Reading]:
    """Every setting's reading of every rendered screen; with `other_engines`, also each
    other engine's that is installed (rapidocr-onnxruntime)."""
    readings = []
    rendered = [(s, size, [render(s, px)]) for s in screens() for size, px in SIZES.items()]
    rendered += [(s, size, [gray]) for s, size, gray in xterm_screens()] + whole_screens()
    engines: list[Any] = [
        TesseractOcr(page_mode=mode, enlarge=factor, rejoin=rejoin)
        for mode, factor, rejoin in settings
    ]
    if other_engines:
        with contextlib.suppress(ImportError):
            engines.append(RapidOcrReader())
    for ocr in engines:
        for screen, size, parts in rendered:
            started = time.perf_counter()
            text = "\n".join(line for part in parts for line in ocr.read(part))
            ms = (time.perf_counter() - started) * 1000
            readings.append(
                Reading(
                    ocr.name,
                    screen.group,
                    screen.name,
                    size,
                    word_accuracy(screen.text, text),
                    character_error_rate(screen.text, text),
                    ms,
                )
            )
    return readings


def summarise(readings: list[Reading]) -> list[dict[str, Any]]:
    """Mean word accuracy, character error rate and ms per setting and kind of screen."""
    rows = []
    keys = sorted({(r.setting, r.kind) for r in readings}, key=lambda k: (k[0], k[1]))
    for setting, kind in keys:
        group = [r for r in readings if (r.setting, r.kind) == (setting, kind)]
        rows.append(
            {
                "setting": setting,
                "kind": kind,
                "screens": len(group),
                "word_accuracy": float(np.mean([r.word_accuracy for r in group])),
                "cer": float(np.mean([r.cer for r in group])),
                "ms_median": float(np.median([r.ms for r in group])),
            }
        )
    return rows


# --- the live cost ----------------------------------------------------------------------


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@contextlib.contextmanager
def _x_server() -> Iterator[str]:
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", "1", "-screen", "0", "1024x600x24", "-nolisten", "tcp", "-noreset"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        yield f":{int(server.stdout.readline())}"
    finally:
        server.terminate()
        server.wait(timeout=10)


@contextlib.contextmanager
def _terminal(
    display: str, script: str, points: int = 11, geometry: str = "90x20+0+0"
) -> Iterator[None]:
    process = subprocess.Popen(
        [
            *("xterm", "-display", display, "-geometry", geometry),
            *("-fa", "DejaVu Sans Mono", "-fs", str(points), "-e", "sh", "-c", script),
        ],
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)


async def _run_source(display: str, phase: str, seconds: float, interval_s: float) -> LiveCost:
    rules = ExclusionRules.from_settings(PrivacySettings())
    source = ScreenSource(
        rules=rules, interval_s=interval_s, open_display=lambda: X11Display(display)
    )
    events = 0

    async def read() -> None:
        nonlocal events
        async for _ in source.items():
            events += 1

    # Up to the first frame read, so both phases start from a window already seen.
    while not await source.poll():
        await asyncio.sleep(0.2)
    before = dataclasses.replace(source.counts)
    cpu, started = _cpu_seconds(), time.monotonic()
    reader = asyncio.ensure_future(read())
    await asyncio.sleep(seconds)
    await source.close()
    await reader
    wall = time.monotonic() - started
    counts = source.counts
    return LiveCost(
        phase,
        wall,
        interval_s,
        counts.frames - before.frames,
        counts.unchanged - before.unchanged,
        counts.read - before.read,
        events,
        (_cpu_seconds() - cpu) / wall,
    )


def measure_live(idle_s: float, busy_s: float, interval_s: float) -> list[LiveCost] | str:
    """The source's cost on a real X server, or why it cannot be measured here."""
    missing = [tool for tool in ("Xvfb", "xterm") if shutil.which(tool) is None]
    if missing:
        return f"not measured: {' and '.join(missing)} not installed (Debian: xvfb, xterm)"
    with tempfile.TemporaryDirectory() as folder:
        text = Path(folder) / "screen.txt"
        text.write_text(screens()[0].text + "\n")
        results = []
        with _x_server() as display:
            with _terminal(display, f"cat {text}; sleep 3600"):
                results.append(asyncio.run(_run_source(display, "idle", idle_s, interval_s)))
            busy = 'i=0; while true; do i=$((i+1)); echo "line $i: build step $i of 900 done"; '
            busy += "sleep 1; done"
            with _terminal(display, busy):
                results.append(asyncio.run(_run_source(display, "changing", busy_s, interval_s)))
        return results


def report(readings: list[Reading], live: list[LiveCost] | str) -> dict[str, Any]:
    return {
        "ocr": summarise(readings),
        "screens": [asdict(r) for r in readings],
        "live": live if isinstance(live, str) else [asdict(cost) for cost in live],
    }


def format_report(result: dict[str, Any]) -> str:
    shown = len({(s["kind"], s["name"], s["size"]) for s in result["screens"]})
    lines = [
        f"OCR on {shown} rendered screens (festina's settings: {TesseractOcr(page_mode=4).name} "
        f"for terminals, {TesseractOcr().name} for the rest; editor-new: editor screens "
        "added after the settings were first chosen; editor-v3: added before the joining; "
        "editor-v4: never tuned on; screen: two xterms on one screen, "
        "read window by window)",
        f"{'setting':<32} {'screen':<10} {'n':>3} {'word acc':>9} {'CER':>7} {'ms (median)':>12}",
    ]
    for row in result["ocr"]:
        lines.append(
            f"{row['setting']:<32} {row['kind']:<10} {row['screens']:>3} "
            f"{row['word_accuracy']:>9.3f} {row['cer']:>7.3f} {row['ms_median']:>12.0f}"
        )
    live = result["live"]
    lines.append("")
    if isinstance(live, str):
        lines.append(f"Live cost: {live}")
    else:
        lines.append("Live cost of the screen source on Xvfb + xterm (CPU: share of one core)")
        lines.append(
            f"{'phase':<9} {'seconds':>8} {'interval':>8} {'frames':>7} {'unchanged':>9} "
            f"{'read':>5} {'events':>6} {'CPU':>6}"
        )
        for cost in live:
            lines.append(
                f"{cost['phase']:<9} {cost['seconds']:>8.1f} {cost['interval_s']:>8.1f} "
                f"{cost['frames']:>7} {cost['unchanged']:>9} {cost['read']:>5} "
                f"{cost['events']:>6} {cost['cpu_share']:>6.1%}"
            )
    return "\n".join(lines)
