"""Where an accepted plan stands, as every surface shows it.

A plan runs one step at a time; a step with a side effect waits for the person's
confirmation first, and a step may take a while to write its output (a model's streamed
explanation). The dashboard, the command line and the API read the same `PlanProgress`,
so "done", "writing" and "waiting for you" mean the same everywhere.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, JsonValue

from core.outcome import StepOutcome, outcomes_of


class WritingStep(BaseModel):
    """A step still writing its output: the text as far as it got."""

    step: int
    tool: str
    text: str


class WaitingStep(BaseModel):
    """A side-effecting step not yet run, which waits for the person's go.

    `confirmation_id` is set for the step the plan is suspended on now: answer it with
    `festina confirm ID` or `POST /v1/confirmations/ID`. A later step has none yet: it is
    asked for when the plan reaches it."""

    step: int
    tool: str
    args: dict[str, JsonValue]
    confirmation_id: int | None = None


class PlanProgress(BaseModel):
    """An accepted plan's steps done so far, the step being written, the steps waiting
    for the person's confirmation, and whether the plan has finished."""

    done: list[StepOutcome] = []
    writing: WritingStep | None = None
    waiting_for: list[WaitingStep] = []
    finished: bool = False

    @property
    def asking(self) -> WaitingStep | None:
        """The step the plan is suspended on for the person's go now (the first waiting
        one, once it has its confirmation id), or None."""
        first = self.waiting_for[0] if self.waiting_for else None
        return first if first is not None and first.confirmation_id is not None else None


class Confirmation(BaseModel):
    """A stored confirmation of one step, as `progress_of` needs it."""

    id: int
    step: int
    tool: str
    args: dict[str, JsonValue]
    status: str
    """pending, approved or denied"""


def progress_of(
    *,
    executions: list[dict[str, Any]] | None,
    progress: dict[str, Any] | None,
    partial: dict[str, Any] | None,
    confirmations: list[Confirmation],
) -> PlanProgress | None:
    """The stored state of one offer's plan as a `PlanProgress`; None when no plan has
    started (not accepted, or not yet picked up by the slow path).

    `executions`: the finished plan's records (None until it finishes); `progress`: what
    the slow path keeps while it runs ({"done", "to_come"}, None in rows written before it
    did); `partial`: the step being written ({"step", "tool", "text"})."""
    if executions is not None:
        return PlanProgress(done=outcomes_of(executions), finished=True)
    pending = [c for c in confirmations if c.status == "pending"]
    if progress is None and partial is None and not pending:
        return None
    done = outcomes_of((progress or {}).get("done"))
    ran = {outcome.step for outcome in done}
    writing = None
    if partial and int(partial.get("step", -1)) not in ran:
        writing = WritingStep(
            step=int(partial["step"]), tool=str(partial["tool"]), text=str(partial["text"])
        )
    return PlanProgress(
        done=done,
        writing=writing,
        waiting_for=_waiting(progress, confirmations, ran),
        finished=False,
    )


def _waiting(
    progress: dict[str, Any] | None, confirmations: list[Confirmation], ran: set[int]
) -> list[WaitingStep]:
    by_step = {c.step: c for c in confirmations}
    waiting = []
    if progress is not None:
        for planned in progress.get("to_come", []):
            step = int(planned["step"])
            if not planned.get("confirm") or step in ran:
                continue
            asked = by_step.get(step)
            if asked is not None and asked.status != "pending":
                continue  # answered: it runs (or is skipped) as soon as the plan resumes
            waiting.append(
                WaitingStep(
                    step=step,
                    tool=str(planned["tool"]),
                    args=planned.get("args") or {},
                    confirmation_id=None if asked is None else asked.id,
                )
            )
    # A row from before progress was kept knows only the step it waits on now.
    listed = {w.step for w in waiting}
    for asked in confirmations:
        if asked.status == "pending" and asked.step not in listed:
            waiting.append(
                WaitingStep(
                    step=asked.step, tool=asked.tool, args=asked.args, confirmation_id=asked.id
                )
            )
    return sorted(waiting, key=lambda w: w.step)


def confirm_command(confirmation_id: int) -> str:
    """How to answer a waiting step from the command line (shown by every surface)."""
    return f"festina confirm {confirmation_id} / festina confirm {confirmation_id} --no"
