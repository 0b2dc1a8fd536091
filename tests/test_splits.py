"""Which recordings train and which score: the confirmation split and the schemes."""

from __future__ import annotations

from evals.splits import confirmation_names, confirmation_scheme, tuning_schemes
from gate.data import Trace, load_traces


def _trace(name: str, folder: str) -> Trace:
    return Trace(name, [], [], folder=folder)


def test_the_confirmation_split_is_the_last_recording_of_each_series_in_each_collection():
    traces = [
        _trace("code_9", "a"),
        _trace("code_10", "a"),  # numbers, not strings: 10 comes after 9
        _trace("writing_2", "a"),
        _trace("code_3", "b"),
        _trace("notes", "b"),  # unnumbered: a series of one
    ]
    assert confirmation_names(traces) == {"code_10", "writing_2", "code_3", "notes"}


def test_on_the_real_recordings_no_scheme_trains_on_or_scores_the_confirmation_split(
    proactivebench,
):
    traces = load_traces(proactivebench)
    confirmation = confirmation_names(traces)
    assert confirmation == {"code_8", "writing_4", "code_14", "writing_14"}
    loto, extra_to_test, test_to_extra = tuning_schemes(traces)
    for scheme in (loto, extra_to_test, test_to_extra):
        assert not confirmation & set(scheme.scored)
        for scored, excluded in scheme.held_out.items():
            assert scored in excluded and confirmation <= excluded
    assert len(loto.scored) == 14
    folders = {t.name: t.folder for t in traces}
    # Across collections: every recording of the scored collection is held out.
    for scheme in (extra_to_test, test_to_extra):
        [scored_folder] = {folders[n] for n in scheme.scored}
        for excluded in scheme.held_out.values():
            assert {n for n in excluded if folders[n] == scored_folder} == (
                set(scheme.scored)
                | (confirmation & {n for n in folders if folders[n] == scored_folder})
            )
    assert set(extra_to_test.scored) | set(test_to_extra.scored) == set(loto.scored)
    confirm = confirmation_scheme(traces)
    assert set(confirm.scored) == confirmation
    assert all(excluded == confirmation for excluded in confirm.held_out.values())
