from __future__ import annotations

import numpy as np

from gate.features import FeatureBuilder
from gate.training import HeadData, out_of_fold
from tests.helpers import event_at

TEXTS = {
    "a": ["error in build", "reads the docs", "error again", "types notes", "scrolls page"],
    "b": ["reads the docs", "error in tests", "types notes", "scrolls page", "error shown"],
    "c": ["types notes", "error in build", "scrolls page", "reads the docs", "error shown"],
}
NEEDS = [True, False, True, False, False]


def _rows(texts: dict[str, list[str]]) -> HeadData:
    windows, labels, groups = [], [], []
    for group, lines in texts.items():
        for i, (text, need) in enumerate(zip(lines, NEEDS, strict=True)):
            windows.append([event_at(60 * i, text)])
            labels.append(need)
            groups.append(frozenset({group}))
    return HeadData(windows, np.array(labels), groups)


def test_words_only_a_held_out_group_uses_do_not_move_its_held_out_predictions():
    # As at run time, where a new user's own words are unknown to the head: otherwise the
    # calibration is fitted to predictions the deployed head never makes.
    plain = _rows(TEXTS)
    marked = _rows({**TEXTS, "c": [f"{t} zork quux" for t in TEXTS["c"]]})
    predictions = [
        out_of_fold("need", FeatureBuilder(None, rows.lexical()), rows) for rows in (plain, marked)
    ]
    held = plain.touching("c")
    assert not np.isnan(predictions[0]).any()
    np.testing.assert_allclose(predictions[0][held], predictions[1][held])
