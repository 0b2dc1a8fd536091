"""Build the configured slow path."""

from __future__ import annotations

import os
from collections.abc import Callable

from agent.config import SlowPathSettings
from agent.paths import FestinaPaths
from agent.slowpath.base import GateRuleSlowPath, SlowPath
from gate.base import GateModel
from gate.policy import GatePolicy
from memory.store import Store


def build_slow_path(
    settings: SlowPathSettings,
    *,
    paths: FestinaPaths,
    store: Store,
    gate: GateModel,
    policy: Callable[[], GatePolicy],
) -> SlowPath:
    if settings.backend == "gate-rule":
        return GateRuleSlowPath()
    from agent.slowpath.graph import ReasoningSlowPath, checkpoint_saver
    from agent.slowpath.llm import EmbeddedChat, OpenAICompatibleChat
    from tools import default_pool

    if settings.backend == "embedded":
        chat = EmbeddedChat()
    else:
        api_key = os.environ.get(settings.api_key_env, "") if settings.api_key_env else ""
        chat = OpenAICompatibleChat(
            settings.url, settings.model, api_key=api_key, timeout_s=settings.timeout_s
        )
    return ReasoningSlowPath(
        chat=chat,
        pool=default_pool(paths.data_dir / "workspace"),
        store=store,
        gate=gate,
        policy=policy,
        saver=checkpoint_saver(store.url, paths.data_dir / "deliberations.sqlite"),
    )
