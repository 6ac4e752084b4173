"""pcp-forward's log: one line per event on standard error, as text or as JSON.

Every line is emitted through the standard library's ``logging`` (logger
``pcp.forward``) with an event name and structured fields; the text format
shows the message, the JSON format the message and the fields. The event
loop's own messages (``asyncio``, Twisted's log through its
``STDLibLogObserver``) go through the same handler.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, Dict, Optional, TextIO

__all__ = ["LEVELS", "NOTICE", "JsonFormatter", "TextFormatter", "emit", "logger", "setup"]

logger = logging.getLogger("pcp.forward")

NOTICE = 25
"""Between info and warning: the forwarder's own life (listening, shutting down, stopped), not each connection's."""
logging.addLevelName(NOTICE, "NOTICE")

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "notice": NOTICE,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
_NAMES = {logging.DEBUG: "debug", logging.INFO: "info", NOTICE: "notice", logging.WARNING: "warning",
          logging.ERROR: "error", logging.CRITICAL: "critical"}


def emit(level: int, event: str, message: str, **fields: Any) -> None:
    """Log *message* at *level* as *event*, with *fields* for the JSON format.

    The record is made and handled directly (``logger.handle``): the same
    handlers and filters see it, without ``Logger.log`` walking the stack
    for the caller's file and line, which no format here shows (a tenth of
    the cost of a line; pcp-forward logs two per connection).
    """
    if logger.isEnabledFor(level):
        logger.handle(logger.makeRecord(logger.name, level, __file__, 0, message, (), None,
                                        extra={"pcp_event": event, "pcp_fields": fields}))


_second = -1
_second_text = ""


def _timestamp(created: float) -> str:
    global _second, _second_text
    seconds = int(created)
    millis = int((created - seconds) * 1000)
    if seconds != _second:  # formatted once a second, not once a line
        _second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _second = seconds
    return f"{_second_text}.{millis:03d}Z"


class TextFormatter(logging.Formatter):
    """``2026-12-02T10:47:03.123Z info listening on ...`` (UTC), then any traceback."""

    def format(self, record: logging.LogRecord) -> str:
        """One line, and a traceback below it when the record carries one."""
        source = "" if record.name == logger.name else f"[{record.name}] "
        line = f"{_timestamp(record.created)} {_NAMES.get(record.levelno, record.levelname)} {source}{record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, event, message, then the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON (a traceback goes into ``exception``)."""
        entry: Dict[str, Any] = {
            "time": _timestamp(record.created),
            "level": _NAMES.get(record.levelno, record.levelname.lower()),
            "logger": record.name,
            "event": getattr(record, "pcp_event", "message"),
            "message": record.getMessage(),
        }
        for key, value in getattr(record, "pcp_fields", {}).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, separators=(",", ":"))


def setup(level: str = "info", fmt: str = "text", stream: Optional[TextIO] = None) -> logging.Handler:
    """Send every logger's records at *level* or above to *stream* (stderr) in *fmt*."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(LEVELS[level])
    logging.captureWarnings(True)
    # No format here shows them: records need not look them up (thread,
    # process and multiprocessing names cost a quarter of a record's making).
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    return handler
