"""Build the configured slow path."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from agent.config import SlowPathSettings
from agent.paths import FestinaPaths
from agent.slowpath.base import GateRuleSlowPath, SlowPath
from agent.slowpath.deferred import DeferredSlowPath, suspended_work
from gate.base import Embedder, GateModel
from memory.store import Store
from tools.pool import ToolPool

if TYPE_CHECKING:
    from agent.slowpath.drafter import Drafter
    from agent.slowpath.graph import ReasoningSlowPath


def build_slow_path(
    settings: SlowPathSettings,
    *,
    paths: FestinaPaths,
    store: Store,
    gate: GateModel,
    repeat_window_s: float = 0.0,
    also_read: Sequence[str] = (),
) -> SlowPath:
    """`gate-rule`, or the reasoning graph drafting with templates or a chat model (built
    when first needed: `DeferredSlowPath`);
    `repeat_window_s`: the etiquette's, for holding back a drafted offer made before;
    `also_read`: paths the tools may read besides `settings.read_paths` (the calendars
    the daemon follows)."""
    if settings.backend == "gate-rule":
        return GateRuleSlowPath()
    from tools import default_pool

    pool = default_pool(paths.data_dir / "workspace", read_paths=[*settings.read_paths, *also_read])
    checkpoints = paths.data_dir / "deliberations.sqlite"

    def build() -> ReasoningSlowPath:
        from agent.slowpath.graph import ReasoningSlowPath, checkpoint_saver

        return ReasoningSlowPath(
            drafter=_drafter(settings, pool, gate),
            pool=pool,
            store=store,
            gate=gate,
            saver=checkpoint_saver(store.url, checkpoints),
            repeat_window_s=repeat_window_s,
        )

    return DeferredSlowPath(build, pool=pool, pending=lambda: suspended_work(store, checkpoints))


def _drafter(settings: SlowPathSettings, pool: ToolPool, gate: GateModel) -> Drafter:
    from agent.slowpath.drafter import ChatDrafter
    from agent.slowpath.llm import EmbeddedChat, OpenAICompatibleChat
    from agent.slowpath.template_drafter import TemplateDrafter

    if settings.backend == "templates":
        # Ranked with the gate's encoder when it has one (the trained gate), by shared
        # words otherwise (the untrained cue gate).
        drafter = TemplateDrafter(pool, gate.embed_texts if isinstance(gate, Embedder) else None)
        drafter.warm_up()  # embedding the templates takes a moment: not in the first offer
        return drafter
    if settings.backend == "embedded":
        return ChatDrafter(EmbeddedChat(settings.model or None), pool)
    api_key = os.environ.get(settings.api_key_env, "") if settings.api_key_env else ""
    chat = OpenAICompatibleChat(
        settings.url, settings.model, api_key=api_key, timeout_s=settings.timeout_s
    )
    return ChatDrafter(chat, pool)
