"""`festina tui`: watch the gate decide, answer offers, and steer it live.

The dashboard talks to the daemon through memory: it reads decisions as the daemon
stores them, and writes feedback and preferences that the daemon applies before its
next batch (or at its next start, when none is running).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import ValidationError
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.widgets import DataTable, Footer, Header, Input, Label, Sparkline, Static, Switch
from textual.worker import get_current_worker

from agent.pidlock import running_pid
from core.decision import Action, Decision
from core.events import Event, describe_validation_error
from core.progress import PlanProgress
from gate.policy import GatePolicy
from memory.feedback import Outcome, Reason
from memory.health import STORAGE_FAULTS, describe
from memory.preferences import Preferences
from memory.schema import ConfirmationRow, DeliberationRow
from memory.store import Store
from memory.stores.plans import ConfirmationAnswered, UnknownConfirmation
from tui.reasons import RejectReason
from tui.stats import summarize

T = TypeVar("T")

REFRESH_S = 1.0
FEED_LENGTH = 200
OFFER_CELL = 30
_KEYS = {"a": Outcome.ACCEPTED, "r": Outcome.REJECTED, "i": Outcome.IGNORED}


# Shown where there is no figure yet: words, never a "-" or "0" that reads as a value.
NO_FIGURE = "n/a"


def _percent(value: float | None) -> str:
    return NO_FIGURE if value is None else f"{value:.0%}"


def _when(moment: datetime, today: date) -> str:
    """The time of an event, with its date unless it is today (UTC, as in the detail)."""
    return f"{moment:%H:%M:%S}" if moment.date() == today else f"{moment:%Y-%m-%d %H:%M:%S}"


Row = tuple[Event, Decision, str | None]


@dataclass(frozen=True)
class Details:
    """What the detail pane shows of one event besides its decision."""

    run: DeliberationRow | None
    pending: list[ConfirmationRow]
    plan: PlanProgress | None = None
    """Where the accepted plan stands (the same reading as the CLI's and the API's)."""


@dataclass(frozen=True)
class MemoryView:
    """One reading of memory and of the daemon's state, taken in any thread."""

    revision: int
    preferences: Preferences
    recent: list[Row]
    """Newest first, by event time."""
    pid: int | None
    fault: str | None
    selected: str | None
    details: Details | None
    """Of `selected`, when one was."""


class FeedTable(DataTable[str]):
    """The feed: Home and End go to the first and last decision (DataTable's own Home and
    End scroll sideways)."""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("home", "first_row", "First", show=False),
        Binding("end", "last_row", "Last", show=False),
    ]

    def action_first_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=0)

    def action_last_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1)


def _offer_cell(decision: Decision) -> str:
    """What festina offers to do, for the feed: the task, cut to fit a column (the
    detail shows the offer's words and plan in full)."""
    if decision.final_action is not Action.INTERVENE:
        return ""
    if decision.offer is None:
        return "(no draft)"
    task = decision.offer.task
    return task if len(task) <= OFFER_CELL else task[: OFFER_CELL - 1] + "…"


class FestinaApp(App[None]):
    """The dashboard. `base_policy` is the config file's gate policy, which the user's
    preferences override."""

    TITLE = "festina"
    CSS_PATH = "app.tcss"
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("a", "answer('a')", "Accept"),
        Binding("r", "answer('r')", "Reject"),
        Binding("i", "answer('i')", "Ignore"),
        Binding("y", "confirm(True)", "Run step"),
        Binding("n", "confirm(False)", "Skip step"),
        Binding("d", "toggle_dnd", "Do not disturb"),
        Binding("p", "toggle_pause", "Pause/resume"),
        Binding("o", "toggle_offers", "Offers only"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        store: Store,
        base_policy: GatePolicy,
        pid_file: Path | None = None,
        storage_fault: Callable[[], str | None] = lambda: None,
    ) -> None:
        """`storage_fault`: asks the running daemon why memory cannot be written, while it
        cannot (memory itself cannot say so then)."""
        super().__init__()
        self.store = store
        self.base_policy = base_policy
        self.pid_file = pid_file
        self.storage_fault = storage_fault
        self.activity: list[Row] = []  # the rows shown
        self.recent: list[Row] = []  # all, for the stats
        self.offers_only = False
        self.preferences = Preferences()
        self._signature: tuple = ()
        self._fault: str | None = None  # what the running daemon last said of its memory

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            yield FeedTable(id="feed", cursor_type="row", zebra_stripes=True)
            with Vertical(id="side"):
                yield Static("no decision selected", id="detail")
                with Vertical(id="controls"):
                    with Horizontal():
                        yield Label("C_FA (false alarm)")
                        yield Input(id="cost_false_alarm", type="number")
                    with Horizontal():
                        yield Label("C_FN (missed help)")
                        yield Input(id="cost_missed_help", type="number")
                    with Horizontal():
                        yield Label("delta")
                        yield Input(id="delta", type="number")
                    with Horizontal():
                        yield Label("do not disturb")
                        yield Switch(id="dnd")
                        yield Label("off", id="dnd_state")
                    with Horizontal():
                        yield Label("muted apps")
                        yield Input(id="muted", placeholder="none (type names, comma-separated)")
                    yield Static("", id="tau")
                with Vertical(id="stats"):
                    yield Static("", id="figures")
                    yield Label("p_accept, recent decisions")
                    yield Sparkline([], id="spark_accept")
                    yield Label("offers made")
                    yield Sparkline([], id="spark_offers")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#feed", DataTable)
        # What happened, the user's answer and what was offered first; the scores after.
        table.add_columns(
            "time (UTC)", "gate", "final", "answer", "offer", "by", "need", "acc", "tau", "event"
        )
        self.refresh_data()
        self._fill_controls()
        self.set_interval(REFRESH_S, self._refresh_in_background)

    # --- reading memory -----------------------------------------------------

    def _read(self, selected: str | None, *, ask_daemon: bool) -> MemoryView:
        """Memory and the daemon's state as they stand now (any thread); without
        `ask_daemon`, what the daemon last said of its memory stands."""
        revision, preferences = self.store.preferences()
        pid = running_pid(self.pid_file) if self.pid_file else None
        if ask_daemon:
            # Asked over its API (memory cannot say it cannot be written): may take time.
            fault = self.storage_fault() if pid else None
        else:
            fault = self._fault if pid else None
        return MemoryView(
            revision=revision,
            preferences=preferences,
            # In event-time order, newest first: a slow path's late answer or a replay of
            # older events must not reorder what happened.
            recent=sorted(
                self.store.recent_activity(FEED_LENGTH), key=lambda row: row[0].time, reverse=True
            ),
            pid=pid,
            fault=fault,
            selected=selected,
            details=self._details(selected) if selected else None,
        )

    def _details(self, event_id: str) -> Details:
        store = self.store
        return Details(
            store.deliberation(event_id),
            store.pending_confirmations(event_id),
            store.plan_progress([event_id]).get(event_id),
        )

    def refresh_data(self) -> None:
        """Read memory now and redraw what changed: after the user acted, so that what
        they did shows at once."""
        if self.query("#feed"):  # the app may be shutting down
            self._show(self._read(self._selected_id(), ask_daemon=False))

    def _refresh_in_background(self) -> None:
        # Every second, in a worker thread: the queries and the call to the daemon's API,
        # so that a busy database or a daemon slow to answer never freezes the screen.
        # One reading at a time: while one waits (on a locked database, say), no more
        # threads pile up behind it.
        reading = any(w.group == "refresh" and not w.is_finished for w in self.workers)
        if self.query("#feed") and not reading:
            self._read_in_worker(self._selected_id())

    @work(thread=True, group="refresh")
    def _read_in_worker(self, selected: str | None) -> None:
        view = self._read(selected, ask_daemon=True)
        if not get_current_worker().is_cancelled:
            self.call_from_thread(self._show, view)

    def _show(self, view: MemoryView) -> None:
        """Redraw what changed since the last reading."""
        if not self.query("#feed"):
            return
        self._fault = view.fault
        if view.preferences != self.preferences:
            self.preferences = view.preferences
            self._fill_controls()
        # The selection is an event, not a row: read it before the rows change under it.
        selected = self._selected_id()
        self.recent = view.recent
        self.activity = [
            row
            for row in self.recent
            if not self.offers_only or row[1].final_action is Action.INTERVENE
        ]
        rows = [(e.id, d.final_action, d.offer is not None, a) for e, d, a in self.activity]
        signature = (self.offers_only, *rows)
        if signature != self._signature:
            self._signature = signature
            self._redraw_feed(selected)
            self._redraw_stats()
        paused = (
            " · PAUSED (private mode: nothing is kept; p resumes)"
            if self.preferences.paused_at(datetime.now(UTC))
            else ""
        )
        unwritable = (
            f" · MEMORY CANNOT BE WRITTEN ({view.fault}): no events taken" if view.fault else ""
        )
        running = f"running (pid {view.pid})" if view.pid else "not running"
        self.sub_title = f"daemon {running}{unwritable} · preferences rev {view.revision}{paused}"
        # The details read belong to the event selected when they were read.
        self._redraw_detail(view.details if self._selected_id() == view.selected else None)

    def _redraw_feed(self, selected: str | None) -> None:
        table = self.query_one("#feed", DataTable)
        table.clear()
        today = datetime.now(UTC).date()
        for event, decision, answer in self.activity:
            table.add_row(
                _when(event.time, today),
                decision.gate_action.value,
                decision.final_action.value if decision.final_action else "pending",
                answer or "",
                _offer_cell(decision),
                decision.decided_by or "-",
                f"{decision.p_need:.2f}",
                f"{decision.p_accept:.2f}",
                f"{decision.tau:.2f}",
                event.summary()[:60],
                key=event.id,
            )
        ids = [event.id for event, _, _ in self.activity]
        if selected in ids:
            table.move_cursor(row=ids.index(selected))

    def _redraw_stats(self) -> None:
        stats = summarize(self.recent)
        latency = NO_FIGURE if stats.latency_p50_ms is None else f"{stats.latency_p50_ms:.1f} ms"
        self.query_one("#figures", Static).update(
            f"last {stats.decisions} decisions\n"
            f"interventions {_percent(stats.intervention_rate)} · "
            f"escalations {_percent(stats.escalation_rate)}\n"
            f"answered {stats.answered}: accepted {_percent(stats.acceptance_rate)}, "
            f"false alarms {_percent(stats.false_alarm_rate)}\n"
            f"gate time per event, p50: {latency}"
        )
        self.query_one("#spark_accept", Sparkline).data = stats.p_accept_series
        self.query_one("#spark_offers", Sparkline).data = stats.offer_series

    def _selected(self) -> Row | None:
        tables = self.query("#feed").results(DataTable)
        # A highlight or refresh can still be in flight while the app tears its widgets down.
        table = next(tables, None)
        if table is None or not self.activity or table.cursor_row is None:
            return None
        row = min(max(table.cursor_row, 0), len(self.activity) - 1)
        return self.activity[row]

    def _selected_id(self) -> str | None:
        selected = self._selected()
        return selected[0].id if selected else None

    def _redraw_detail(self, details: Details | None = None) -> None:
        """The selected event in full; its slow-path run and pending steps are `details`
        where they were just read, else read now."""
        detail = next(self.query("#detail").results(Static), None)
        if detail is None:
            return  # the app is tearing its widgets down
        selected = self._selected()
        if selected is None:
            detail.update(
                f"no offers among the last {len(self.recent)} decisions (o shows them all)"
                if self.offers_only and self.recent
                else "no decisions yet: start the daemon (festina daemon start)"
            )
            return
        event, decision, answer = selected
        band = abs(decision.p_accept - decision.tau) <= decision.delta
        model = "" if decision.p_accept_model is None else f" (model {decision.p_accept_model:.2f})"
        lines = [
            f"[b]{escape(event.summary()[:200])}[/b]",
            escape(f"{event.kind.value} · {event.app or '-'} · {event.time:%Y-%m-%d %H:%M:%S} UTC"),
            f"p_need {decision.p_need:.3f}  p_accept {decision.p_accept:.3f}{model}",
            f"tau {decision.tau:.3f}  delta {decision.delta:.2f}  "
            f"{'near the boundary' if band else 'clear of the boundary'}",
            f"gate: {decision.gate_action.value} → final: "
            f"{decision.final_action.value if decision.final_action else 'pending'}"
            f" by {decision.decided_by or '-'}",
        ]
        if decision.offer is not None:
            offer = decision.offer
            lines.append(f"[b]says:[/b] {escape(offer.speak)}")
            lines.append(escape(f"task: {offer.task}"))
            for step, call in enumerate(offer.plan, start=1):
                args = ", ".join(f"{k}={v!r}" for k, v in call.args.items())
                lines.append(escape(f"  {step}. {call.tool}({args})"[:160]))
            lines.append(escape(f"drafted by {offer.drafted_by}"))
        if decision.reason:
            lines.append(f"why: {escape(decision.reason)}")
        lines.extend(self._deliberation_lines(details or self._details(event.id)))
        if decision.final_action is Action.INTERVENE:
            lines.append(
                f"your answer: {answer}"
                if answer
                else "[b]a[/b] accept · [b]r[/b] reject · [b]i[/b] ignore"
            )
        detail.update("\n".join(lines))
        self._show_tau()

    @staticmethod
    def _deliberation_lines(details: Details) -> list[str]:
        """The slow path's run on this event: proposal, counterfactual check, node trace."""
        run = details.run
        if run is None:
            return []
        lines = [f"[b]slow path[/b] {escape(f'({run.backend}, {run.tokens} tokens)')}"]
        if run.proposal:
            plan = (
                ", ".join(call["tool"] for call in run.proposal.get("tool_plan", [])) or "no tools"
            )
            lines.append(escape(f"draft: {run.proposal['task'][:120]} [{plan}]"))
        if run.counterfactual:
            check = run.counterfactual
            lines.append(
                f"check: draft p_accept {check['p_accept_task']:.3f} vs tau {check['tau']:.3f}; "
                f"repeat of a turned-down offer: {'yes' if check['repeat_of_rejected'] else 'no'}"
            )
        plan = details.plan
        for outcome in plan.done if plan is not None else []:
            lines.append(f"[b]{escape(outcome.tool)}[/b]: {escape(outcome.status.value)}")
            lines.extend(escape(f"  {line}") for line in outcome.text.splitlines()[:8])
        if plan is not None and plan.writing is not None:
            # A step still writing its output (a streamed explanation): as far as it got.
            lines.append(f"[b]{escape(plan.writing.tool)}[/b]: writing…")
            lines.extend(escape(f"  {line}") for line in plan.writing.text.splitlines()[-8:])
        for pending in details.pending:
            args = ", ".join(f"{k}={v!r}" for k, v in pending.args.items())
            lines.append(f"[b]y[/b] run / [b]n[/b] skip: {escape(f'{pending.tool}({args})'[:160])}")
        steps = " → ".join(
            f"{step['node']} {step['ms']:.0f} ms"
            + (f" ({step['tokens']} tok)" if step["tokens"] else "")
            for step in run.trace
        )
        lines.append(f"trace: {steps}")
        return lines

    # --- steering -------------------------------------------------------------

    def _fill_controls(self) -> None:
        policy = self.preferences.policy(self.base_policy)
        values = {
            "cost_false_alarm": policy.cost_false_alarm,
            "cost_missed_help": policy.cost_missed_help,
            "delta": policy.delta,
        }
        for name, value in values.items():
            field = self.query_one(f"#{name}", Input)
            if not field.has_focus:
                field.value = f"{value:g}"
        self.query_one("#dnd", Switch).value = self.preferences.do_not_disturb
        self.query_one("#dnd_state", Label).update(
            "[b]on[/b]: offers are silenced" if self.preferences.do_not_disturb else "off"
        )
        muted = self.query_one("#muted", Input)
        if not muted.has_focus:
            muted.value = ", ".join(self.preferences.muted_apps)
        self._show_tau()

    def _typed_policy(self) -> GatePolicy:
        values = {
            name: float(self.query_one(f"#{name}", Input).value)
            for name in ("cost_false_alarm", "cost_missed_help", "delta")
        }
        return GatePolicy(**values)

    def _show_tau(self) -> None:
        """tau for the selected event under the costs as typed, before they are saved."""
        label = self.query_one("#tau", Static)
        try:
            policy = self._typed_policy()
        except (ValueError, ValidationError) as error:
            reason = (
                describe_validation_error(error)
                if isinstance(error, ValidationError)
                else str(error)
            )
            label.update(f"[red]{reason}[/red]")
            return
        selected = self._selected()
        if selected is None:
            label.update("")
            return
        tau = policy.threshold(selected[1].p_need)
        label.update(f"tau here with these costs: {tau:.3f} (enter saves)")

    @on(Input.Changed)
    def _typing(self, _: Input.Changed) -> None:
        self._show_tau()

    @on(Input.Submitted)
    def _save_controls(self, _: Input.Submitted) -> None:
        try:
            policy = self._typed_policy()
            muted = [
                a.strip() for a in self.query_one("#muted", Input).value.split(",") if a.strip()
            ]
            updated = self.preferences.model_copy(
                update={
                    "cost_false_alarm": policy.cost_false_alarm,
                    "cost_missed_help": policy.cost_missed_help,
                    "delta": policy.delta,
                    "muted_apps": muted,
                }
            )
            updated = Preferences.model_validate(updated.model_dump())
        except (ValueError, ValidationError) as error:
            self.notify(str(error), severity="error")
            return
        self._save(updated)

    @on(Switch.Changed, "#dnd")
    def _dnd_switched(self, message: Switch.Changed) -> None:
        if message.value != self.preferences.do_not_disturb:
            self._save(self.preferences.model_copy(update={"do_not_disturb": message.value}))

    def action_toggle_dnd(self) -> None:
        self._save(
            self.preferences.model_copy(
                update={"do_not_disturb": not self.preferences.do_not_disturb}
            )
        )

    def action_toggle_offers(self) -> None:
        """Show only the offers made, or every decision again."""
        self.offers_only = not self.offers_only
        self.notify("showing offers only" if self.offers_only else "showing every decision")
        self.refresh_data()

    def action_toggle_pause(self) -> None:
        """Private mode on (until resumed) or off."""
        paused = self.preferences.paused_at(datetime.now(UTC))
        self._save(self.preferences.model_copy(update={"paused": not paused, "paused_until": None}))
        self.refresh_data()

    def _written(self, write: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """`write` done, or None after saying memory cannot be written (a full disk):
        what the user did is not kept, and the dashboard stays up to try again."""
        try:
            return write(*args, **kwargs)
        except STORAGE_FAULTS as error:
            self.notify(
                f"memory cannot be written ({describe(error)}): not kept; try again later",
                severity="error",
            )
            return None

    def _save(self, preferences: Preferences) -> None:
        revision = self._written(self.store.save_preferences, preferences)
        if revision is None:
            return
        self.preferences = preferences
        self._fill_controls()
        self.notify(f"preferences saved (revision {revision})")

    # --- answering offers -------------------------------------------------------

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self, _: DataTable.RowHighlighted) -> None:
        self._redraw_detail()

    def action_confirm(self, approved: bool) -> None:
        """Answer the selected offer's first step waiting for confirmation."""
        selected = self._selected()
        pending = self.store.pending_confirmations(selected[0].id) if selected else []
        if not pending:
            self.notify("nothing here is waiting for your confirmation", severity="warning")
            return
        try:
            if self._written(self.store.answer_confirmation, pending[0].id, approved) is None:
                return
        except (UnknownConfirmation, ConfirmationAnswered) as error:
            # Answered meanwhile elsewhere (`festina confirm`, the API): one answer holds.
            self.notify(str(error), severity="warning")
            self.refresh_data()
            return
        verb = "will run" if approved else "skipped"
        self.notify(f"{pending[0].tool} {verb}; the daemon acts on it within a second")
        self.refresh_data()

    def action_answer(self, key: str) -> None:
        selected = self._selected()
        if selected is None:
            return
        event, decision, _ = selected
        if decision.final_action is not Action.INTERVENE:
            self.notify("no offer was made on this event", severity="warning")
            return
        if _KEYS[key] is Outcome.REJECTED:
            # Why matters: "not now" holds offers, "never for this app" mutes it...
            self.push_screen(RejectReason(event.app), partial(self._rejected, event.id))
            return
        self._record(event.id, _KEYS[key], None)

    def _rejected(self, event_id: str, choice: str | None) -> None:
        if choice is None:
            return  # cancelled: nothing recorded
        reason = None if choice == "plain" else Reason(choice)
        self._record(event_id, Outcome.REJECTED, reason)

    def _record(self, event_id: str, outcome: Outcome, reason: Reason | None) -> None:
        try:
            if self._written(self.store.record_feedback, event_id, outcome, reason=reason) is None:
                return
        except ValueError as error:
            self.notify(str(error), severity="error")
            return
        why = f" ({reason.value.replace('_', ' ')})" if reason else ""
        self.notify(f"{outcome.value}{why}: the daemon learns from it before its next decision")
        self.refresh_data()
