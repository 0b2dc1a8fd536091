"""Logging set-up shared by the daemon and the command line."""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import warnings
from pathlib import Path
from typing import TextIO

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(log_file: Path, level: str, *, to_stderr: bool) -> None:
    """Log to a rotating file, and to stderr when running in the foreground."""
    root = logging.getLogger()
    root.setLevel(level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    log_file.parent.mkdir(parents=True, exist_ok=True)
    file_handler = _LogFile(log_file, maxBytes=10 * 1024 * 1024, backupCount=3, encoding="utf-8")
    file_handler.setFormatter(logging.Formatter(_FORMAT))
    file_handler.addFilter(_LibraryDetail())
    root.addHandler(file_handler)
    if to_stderr:
        stream_handler = logging.StreamHandler(sys.stderr)
        stream_handler.setFormatter(logging.Formatter(_FORMAT))
        stream_handler.addFilter(_LibraryDetail())
        root.addHandler(stream_handler)
    # Per-request lines from the HTTP client (ActivityWatch polls every second) would
    # drown the daemon's own log; their warnings still come through.
    logging.getLogger("httpx").setLevel(max(root.level, logging.WARNING))


class _LogFile(logging.handlers.RotatingFileHandler):
    """The log file; when it cannot be written (a full disk, say), one line on stderr says
    so, instead of logging's traceback for every record, until a record is written again."""

    _failing = False
    _failed_now = False

    def emit(self, record: logging.LogRecord) -> None:
        self._failed_now = False
        super().emit(record)
        if self._failing and not self._failed_now:
            self._failing = False
            sys.stderr.write(f"festina: writing {self.baseFilename} again\n")

    def handleError(self, record: logging.LogRecord) -> None:
        self._failed_now = True
        if not self._failing:
            self._failing = True
            error = sys.exc_info()[1]
            sys.stderr.write(
                f"festina: cannot write {self.baseFilename} ({error}); "
                "its lines are lost until it can\n"
            )


class _LibraryDetail(logging.Filter):
    """Alembic announces its context and every migration at INFO (a dozen lines on a first
    start): detail, demoted to DEBUG and shown only when the log level is DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("alembic") and record.levelno <= logging.INFO:
            # Each handler sees the same record: the first one demotes it.
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


_show_warning = warnings.showwarning
_warnings_logger = logging.getLogger("festina.warnings")


def _library_warning_at_debug(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    # torch's tracer warns about every data-dependent branch of the encoder it exports
    # (harmless here: the export is checked against PyTorch), and its ONNX exporter about
    # opset details: noise on a user's first `make run`, kept in the log at DEBUG.
    if category.__name__ == "TracerWarning" or f"{os.sep}torch{os.sep}onnx{os.sep}" in filename:
        _warnings_logger.debug("%s:%d: %s: %s", filename, lineno, category.__name__, message)
        return
    _show_warning(message, category, filename, lineno, file, line)


def quiet_library_noise() -> None:
    """Keep libraries' chatter off the terminal: tracer warnings to the log at DEBUG, no
    progress bars from the Hugging Face loaders (a first run loads the encoder)."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    warnings.showwarning = _library_warning_at_debug
