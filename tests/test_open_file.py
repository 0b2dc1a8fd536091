"""`open_file`: a file opened with the desktop's own handler where there is a screen to
show it on; elsewhere the step says it opened nothing, and why, never "done". A stand-in
xdg-open records its arguments; real files in a real workspace."""

from __future__ import annotations

import os

import pytest

from core.outcome import StepStatus, outcomes_of
from tests.helpers import stand_in_opener, wait_for
from tools import default_pool


@pytest.fixture
def workspace(tmp_path):
    folder = tmp_path / "workspace"
    (folder / "files").mkdir(parents=True)
    (folder / "files" / "report 2026.txt").write_text("totals\n")
    return folder


@pytest.fixture
def pool(workspace):
    return default_pool(workspace)


@pytest.fixture
def opened(tmp_path, monkeypatch):
    """A display and a stand-in xdg-open recording each call's arguments, a line each."""
    return stand_in_opener(tmp_path, monkeypatch)


def _open(pool, path: str):
    result = pool.call("open_file", {"path": path}, confirmed=True)
    return outcomes_of([result.as_step(0, "open_file")])[0]


def test_a_file_is_opened_through_the_desktop_s_handler(pool, workspace, opened):
    path = workspace / "files" / "report 2026.txt"
    outcome = _open(pool, "files/report 2026.txt")
    assert (outcome.status, outcome.text, outcome.paths) == (
        StepStatus.DONE,
        f"opened with its application\n{path}",
        [str(path)],
    )
    assert opened.read_text() == f"{path}\n"  # one argument, spaces and all


@pytest.mark.parametrize("display", ["DISPLAY", "WAYLAND_DISPLAY"])
def test_either_display_is_enough(pool, workspace, opened, monkeypatch, display):
    monkeypatch.delenv("DISPLAY")
    monkeypatch.setenv(display, "wayland-0" if display == "WAYLAND_DISPLAY" else ":99")
    assert _open(pool, "files/report 2026.txt").status is StepStatus.DONE
    assert opened.exists()


def test_with_no_display_the_step_says_it_opened_nothing(pool, workspace, opened, monkeypatch):
    monkeypatch.delenv("DISPLAY")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    path = workspace / "files" / "report 2026.txt"
    outcome = _open(pool, "files/report 2026.txt")
    assert outcome.status is StepStatus.NOT_PERFORMED
    assert outcome.text == (
        f"{path} not opened: no display to open it on (DISPLAY and WAYLAND_DISPLAY are unset)"
    )
    assert outcome.output == str(path)  # still there to open by hand
    assert not opened.exists()


def test_with_no_xdg_open_the_step_says_so(pool, workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("DISPLAY", ":99")
    outcome = _open(pool, "files/report 2026.txt")
    assert (outcome.status, outcome.text) == (
        StepStatus.NOT_PERFORMED,
        f"{workspace / 'files' / 'report 2026.txt'} not opened: xdg-open is not installed",
    )


def test_a_handler_that_fails_is_a_failed_step(pool, workspace, tmp_path, monkeypatch):
    stand_in_opener(tmp_path, monkeypatch, "exit 3")
    outcome = _open(pool, "files/report 2026.txt")
    assert outcome.status is StepStatus.FAILED
    assert outcome.text == (
        f"xdg-open could not open {workspace / 'files' / 'report 2026.txt'} (exit status 3)"
    )


def test_a_handler_still_running_after_the_handoff_has_the_file(pool, tmp_path, monkeypatch):
    # xdg-open's generic fallback runs the viewer in the foreground: the step is done once
    # the handoff time is up, and the viewer is left running on its own session.
    pid = tmp_path / "pid"
    stand_in_opener(tmp_path, monkeypatch, f"echo $$ > {pid}\nexec sleep 60")
    from tools.browser import open_path

    open_path(tmp_path / "workspace" / "files" / "report 2026.txt", handoff_s=0.2)
    wait_for(lambda: pid.exists() and pid.read_text().strip(), timeout=10)
    os.kill(int(pid.read_text()), 9)


def test_a_pool_that_opens_nothing_and_a_dry_run_open_no_file(workspace, opened):
    quiet = default_pool(workspace, opens_links=False)
    outcome = _open(quiet, "files/report 2026.txt")
    assert outcome.status is StepStatus.NOT_PERFORMED
    assert outcome.text.endswith("not opened: this run opens no files")
    dry = default_pool(workspace, dry_run=True)
    outcome = _open(dry, "files/report 2026.txt")
    assert outcome.status is StepStatus.NOT_PERFORMED and outcome.text.startswith("would open")
    assert not opened.exists()


def test_opening_needs_confirmation_and_only_a_readable_file(pool, opened):
    from tools.pool import ConfirmationRequired

    with pytest.raises(ConfirmationRequired):
        pool.call("open_file", {"path": "files/report 2026.txt"})
    assert _open(pool, "files/missing.txt").status is StepStatus.FAILED
    assert _open(pool, "/etc/hostname").status is StepStatus.FAILED  # outside the workspace
    assert not opened.exists()
