"""The question asked when an offer is rejected: why? Each answer teaches festina
something different (see memory.feedback.Reason)."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from memory.feedback import Reason

# (option id, what the user reads); "plain" rejects without a reason.
CHOICES: tuple[tuple[str, str], ...] = (
    ("plain", "1  just reject"),
    (Reason.NOT_NOW.value, "2  not now: hold offers for a while"),
    (Reason.NOT_USEFUL.value, "3  not useful"),
    (Reason.WRONG.value, "4  wrong: it misread what I am doing"),
    (Reason.NEVER_APP.value, "5  never for this app: mute it"),
)


class RejectReason(ModalScreen[str | None]):
    """Dismissed with a choice's id ("plain" or a Reason value), or None when cancelled."""

    DEFAULT_CSS = """
    RejectReason { align: center middle; }
    RejectReason > Vertical {
        width: 50; height: auto; border: round $error; padding: 0 1; background: $surface;
    }
    RejectReason OptionList { height: auto; border: none; }
    """
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape", "dismiss(None)", "Cancel"),
        *(Binding(str(n), f"choose({n - 1})", show=False) for n in range(1, len(CHOICES) + 1)),
    ]

    def __init__(self, app_name: str | None) -> None:
        super().__init__()
        self.app_name = app_name

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Reject this offer{f' in {self.app_name}' if self.app_name else ''}: why?")
            yield OptionList(*(Option(text, id=key) for key, text in CHOICES), id="reasons")

    def action_choose(self, index: int) -> None:
        self.dismiss(CHOICES[index][0])

    @on(OptionList.OptionSelected)
    def _selected(self, message: OptionList.OptionSelected) -> None:
        self.dismiss(message.option.id)
