"""What a plan's step did, as every surface shows it: never "done" for a step that did
nothing here, the result's own text, links and paths."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from core.outcome import StepStatus, outcomes_of, render


def test_each_kind_of_step_reads_as_what_happened():
    records = [
        {"step": 0, "tool": "web_search_query", "ran": True, "ok": True, "dry_run": False,
         "message": "", "output": "https://duckduckgo.com/?q=KeyError+price"},
        {"step": 1, "tool": "toggle_setting", "ran": True, "ok": True, "dry_run": True,
         "message": "recorded, not performed: turn battery_saver on", "output": {"on": True}},
        {"step": 2, "tool": "create_note", "ran": False, "message": "not confirmed"},
        {"step": 3, "tool": "read_file", "ran": True, "ok": False, "dry_run": False,
         "message": "no such file: /tmp/x", "output": None},
        {"step": 4, "tool": "search_notes", "ran": True, "ok": True, "dry_run": False,
         "message": "", "output": []},
        {"step": 5, "tool": "create_note", "ran": True, "ok": True, "dry_run": False,
         "message": "note saved", "output": "/home/dana/festina/notes/Prices.md"},
    ]  # fmt: skip
    search, toggle, skipped, failed, empty, note = outcomes_of(records)
    assert search.status is StepStatus.DONE
    assert search.links == ["https://duckduckgo.com/?q=KeyError+price"] and search.paths == []
    assert (toggle.status, toggle.text) == (
        StepStatus.NOT_PERFORMED,
        "recorded, not performed: turn battery_saver on",
    )
    assert (skipped.status, skipped.text) == (StepStatus.SKIPPED, "not confirmed")
    assert (failed.status, failed.text) == (StepStatus.FAILED, "no such file: /tmp/x")
    assert (empty.status, empty.text) == (StepStatus.DONE, "nothing found")
    assert note.text == "note saved\n/home/dana/festina/notes/Prices.md"
    assert note.paths == ["/home/dana/festina/notes/Prices.md"]


def test_a_path_with_spaces_on_its_own_line_is_one_path():
    # A saved note's name holds spaces (its title and time); a message with a colon is no
    # path, and a path inside a sentence still ends at its first space.
    saved = "/home/dana/festina/notes/Git - Undoing things 2026-12-07 0930.md"
    [note] = outcomes_of(
        [
            {"step": 0, "tool": "create_note", "ran": True, "ok": True, "dry_run": False,
             "message": "note saved",
             "output": f"{saved}\n/usr/bin/ld: cannot find -lssl\nsee /var/log/x.log today"},
        ]
    )  # fmt: skip
    assert note.paths == [saved, "/usr/bin/ld", "/var/log/x.log"]


def test_outputs_render_as_lines_people_read():
    events = [
        {"title": "Dentist", "start": "2026-12-07T14:30:00+00:00", "location": ""},
        {"title": "Stand-up", "start": "2026-12-08T08:30:00+00:00", "location": "Room 4"},
    ]
    assert render(events) == (
        "title: Dentist; start: 2026-12-07T14:30:00+00:00\n"
        "title: Stand-up; start: 2026-12-08T08:30:00+00:00; location: Room 4"
    )
    assert render({"percent": 18, "plugged": False}) == "percent: 18\nplugged: False"
    assert render(list(range(15))).endswith("11\n... and 3 more")
    assert render(None) == "" and render("  text \n") == "text"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(
    ran=st.booleans(),
    ok=st.booleans(),
    dry_run=st.booleans(),
    message=st.text(max_size=60),
    output=json_values,
)
def test_a_step_is_done_only_when_it_ran_for_real_and_always_says_something(
    ran, ok, dry_run, message, output
):
    record = {"step": 0, "tool": "t", "ran": ran, "ok": ok, "dry_run": dry_run}
    [outcome] = outcomes_of([{**record, "message": message, "output": output}])
    assert (outcome.status is StepStatus.DONE) == (ran and ok and not dry_run)
    assert outcome.text.strip()  # something to show, whatever the tool returned
    assert all(link.startswith(("http://", "https://")) for link in outcome.links)
