"""Start-up without the cyclic garbage collector's wasted passes.

A `festina daemon run` imports some 1 600 modules (LangGraph with LangChain's core and
LangSmith's models, SQLAlchemy, pydantic, onnxruntime) and builds the pipeline: about
270 000 objects the collector tracks, nearly all of them alive until the process exits.
While they are being made the collector scans them again and again, and when the process
exits it scans them all once more, to free almost nothing (1 720 of 271 442 objects after
the daemon's imports). On two cores the exit alone took 0.40-0.46 s of a ten-event cold
start, now 0.05-0.07 s (docs/load.md). So the collector is off while something long-lived
is built, and what was built is then frozen: left out of every later collection, the
daemon's own and the one at exit.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def long_lived() -> Iterator[None]:
    """Build what lives until the process exits (modules, the daemon's parts) with the
    collector off, then freeze everything made so far and put the collector back as it
    was. Cycles made inside are never freed: a few kilobytes of start-up's, not a loop's."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
