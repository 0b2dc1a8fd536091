"""`festina eval sources`: OCR accuracy on rendered screens and the screen source's live
cost on a real X server, run end to end on a short live phase."""

from __future__ import annotations

import json
import shutil

import pytest

from evals.sources import character_error_rate, word_accuracy
from tests.helpers import festina

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("Xvfb", "xterm", "tesseract")),
    reason="needs Xvfb, xterm and tesseract (Debian: xvfb, xterm, tesseract-ocr)",
)


def test_the_scores_count_words_in_order_and_character_edits():
    assert word_accuracy("KeyError: 'price' at line 42", "KeyError: 'price' at line 42") == 1
    assert word_accuracy("a b c d", "a x c d") == 0.75
    assert word_accuracy("a b c d", "d c b a") == 0.25  # out of order is not found
    assert character_error_rate("collect2: error", "coulect2: error") == pytest.approx(1 / 15)
    assert character_error_rate("ld  returned\n1", "ld returned 1") == 0


@pytest.mark.timeout(600)
def test_eval_sources_reads_rendered_screens_and_measures_the_live_source(tmp_path):
    (tmp_path / "config.toml").write_text("[screen]\ninterval_s = 1.0\n")
    done = festina(
        *("eval", "sources", "--only-default", "--idle-s", "5", "--busy-s", "5", "--json"),
        home=tmp_path,
        timeout=540,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    accuracy = {(row["setting"], row["kind"]): row["word_accuracy"] for row in result["ocr"]}
    kinds = ["browser", "dialog", "editor", "editor-new", "editor-v3", "editor-v4", "screen"]
    kinds += ["terminal", "xterm"]
    assert sorted({kind for _, kind in accuracy}) == kinds
    # 17 texts, the 6 editor screens added later, the 8 of the third editor set and the 12
    # of the fourth at two sizes, the 5 terminal ones in a real xterm at two sizes, and 3
    # whole screens of two xterms, each read by festina's two settings.
    assert len(result["screens"]) == 2 * (34 + 12 + 16 + 24 + 10 + 3)
    # The target, met by festina's settings for terminals and for the editor
    # screens they were chosen on (not for the editor screens added second, and only just
    # for the third set; the third and fourth sets are left out here so that no setting is
    # fit to them: see "Screen text" in docs/sources.md).
    for kind in ("terminal", "xterm"):
        assert accuracy["tesseract --psm 4 x1.5", kind] >= 0.95
    assert accuracy["tesseract --psm 6 x1.5", "editor"] >= 0.95
    # Two terminals on one screen (side by side, or one below the other), read window by
    # window with festina's setting for terminals.
    assert accuracy["tesseract --psm 4 x1.5", "screen"] >= 0.95
    idle, changing = result["live"]
    assert idle["frames"] >= 3 and idle["unchanged"] == idle["frames"] and idle["read"] == 0
    assert changing["read"] >= 2 and changing["events"] >= 2
