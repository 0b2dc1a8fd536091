"""Logging set-up shared by the daemon and the command line."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(log_file: Path, level: str, *, to_stderr: bool) -> None:
    """Log to a rotating file, and to stderr when running in the foreground."""
    root = logging.getLogger()
    root.setLevel(level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    log_file.parent.mkdir(parents=True, exist_ok=True)
    file_handler = logging.handlers.RotatingFileHandler(
        log_file, maxBytes=10 * 1024 * 1024, backupCount=3, encoding="utf-8"
    )
    file_handler.setFormatter(logging.Formatter(_FORMAT))
    root.addHandler(file_handler)
    if to_stderr:
        stream_handler = logging.StreamHandler(sys.stderr)
        stream_handler.setFormatter(logging.Formatter(_FORMAT))
        root.addHandler(stream_handler)
    # Per-request lines from the HTTP client (ActivityWatch polls every second) would
    # drown the daemon's own log; their warnings still come through.
    logging.getLogger("httpx").setLevel(max(root.level, logging.WARNING))
