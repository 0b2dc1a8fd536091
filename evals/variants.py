"""The variants log: every configuration scored on the labelled recordings, appended.

A margin chosen as the best of many variants scored on the same recordings is partly the
selection's: the log keeps how many variants stand behind each shipped choice. The gate
benchmark appends a line per run by itself; variants tried outside it are appended by
hand with the same fields. In a checkout the log is `evals/variants.jsonl`, committed
with the change it measured; an installed package has none unless asked for a path
(`FESTINA_VARIANTS_LOG`, or the benchmark's option). The tests point it elsewhere.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CHECKOUT_LOG = Path(__file__).resolve().parent / "variants.jsonl"


def default_log() -> Path | None:
    """`FESTINA_VARIANTS_LOG` (empty: no log), else the checkout's log, else None (an
    installed package)."""
    if (chosen := os.environ.get("FESTINA_VARIANTS_LOG")) is not None:
        return Path(chosen) if chosen else None
    return CHECKOUT_LOG if CHECKOUT_LOG.is_file() else None


def _commit() -> str:
    try:
        found = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=CHECKOUT_LOG.parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return found.stdout.strip()


def log_variant(path: Path | None, what: str, recordings: str, figures: dict[str, Any]) -> None:
    """Append one scored variant: what was scored, on which recordings and how, and its
    figures. Nothing when `path` is None."""
    if path is None:
        return
    entry = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "what": what,
        "recordings": recordings,
        "figures": figures,
    }
    with path.open("a", encoding="utf-8") as log:
        log.write(json.dumps(entry, sort_keys=True) + "\n")
