"""Build the configured slow path."""

from __future__ import annotations

import os
from collections.abc import Sequence

from agent.config import SlowPathSettings
from agent.paths import FestinaPaths
from agent.slowpath.base import GateRuleSlowPath, SlowPath
from gate.base import Embedder, GateModel
from memory.store import Store


def build_slow_path(
    settings: SlowPathSettings,
    *,
    paths: FestinaPaths,
    store: Store,
    gate: GateModel,
    repeat_window_s: float = 0.0,
    also_read: Sequence[str] = (),
) -> SlowPath:
    """`gate-rule`, or the reasoning graph drafting with templates or a chat model;
    `repeat_window_s`: the etiquette's, for holding back a drafted offer made before;
    `also_read`: paths the tools may read besides `settings.read_paths` (the calendars
    the daemon follows)."""
    if settings.backend == "gate-rule":
        return GateRuleSlowPath()
    from agent.slowpath.drafter import ChatDrafter, Drafter
    from agent.slowpath.explain import ErrorExplainer
    from agent.slowpath.graph import ReasoningSlowPath, checkpoint_saver
    from agent.slowpath.llm import EmbeddedChat, OpenAICompatibleChat
    from agent.slowpath.template_drafter import TemplateDrafter
    from tools import default_pool

    pool = default_pool(paths.data_dir / "workspace", read_paths=[*settings.read_paths, *also_read])
    drafter: Drafter
    explainer = None
    if settings.backend == "templates":
        # Ranked with the gate's encoder when it has one (the trained gate), by shared
        # words otherwise (the untrained cue gate).
        drafter = TemplateDrafter(pool, gate.embed_texts if isinstance(gate, Embedder) else None)
        # Embedding the templates takes a moment once: at start, not in the first offer.
        drafter.warm_up()
    elif settings.backend == "embedded":
        drafter = ChatDrafter(EmbeddedChat(settings.model or None), pool)
    else:
        api_key = os.environ.get(settings.api_key_env, "") if settings.api_key_env else ""
        chat = OpenAICompatibleChat(
            settings.url, settings.model, api_key=api_key, timeout_s=settings.timeout_s
        )
        drafter = ChatDrafter(chat, pool)
        # The same server explains an accepted "explain this error", streamed.
        explainer = ErrorExplainer(chat, timeout_s=settings.timeout_s)
    return ReasoningSlowPath(
        drafter=drafter,
        pool=pool,
        store=store,
        gate=gate,
        saver=checkpoint_saver(store.url, paths.data_dir / "deliberations.sqlite"),
        repeat_window_s=repeat_window_s,
        explainer=explainer,
    )
