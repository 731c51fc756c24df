"""Process logging: one JSON object per line for log collectors, or plain text for a terminal.

``configure_logging`` sets up the root logger once (``verbatim serve`` calls it); uvicorn's own
loggers propagate to it, so start-up messages and request records share one format. A record's
``fields`` extra (a dict, as ``web/request_log.py`` writes) becomes top-level JSON keys, or
``key=value`` pairs in text.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

# The JSON keys every line has; a record's fields never overwrite them.
BASE_KEYS = ("time", "level", "logger", "message")
# Libraries that report routine loading steps at INFO (or set DEBUG themselves): warnings only.
QUIET_LOGGERS = ("faiss", "faiss.loader", "bm25s", "sentence_transformers", "transformers", "httpx")


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", ...fields, "exception"?}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update({key: value for key, value in fields.items() if key not in BASE_KEYS})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message key=value ...`` for people reading a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"{_timestamp(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            text += "".join(f" {key}={json.dumps(value, ensure_ascii=False, default=str)}" for key, value in fields.items())
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def resolve_format(log_format: str, stream: TextIO) -> str:
    """``json`` or ``text``: ``auto`` is text on a terminal and JSON otherwise."""
    if log_format == "auto":
        return "text" if stream.isatty() else "json"
    return log_format


def configure_logging(log_format: str = "auto", level: str = "info", stream: TextIO | None = None) -> str:
    """Send every log record to ``stream`` (stderr) in one format.

    Args:
        log_format: ``json``, ``text`` or ``auto``.
        level: Lowest level written (``debug`` ... ``critical``).
        stream: Where to write; stderr by default.

    Returns:
        The format in use (``json`` or ``text``).
    """
    stream = stream or sys.stderr
    chosen = resolve_format(log_format, stream)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if chosen == "json" else TextFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    # uvicorn's loggers write through the root handler (uvicorn.run(log_config=None) leaves them bare).
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    return chosen
