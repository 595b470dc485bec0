"""Set up kmop's logging: plain text lines, or one JSON object a line (``KMOP_LOG_FORMAT=json``).

A JSON line has ``time``, ``level``, ``logger`` and ``message``, plus the fields a log call passes as
``extra`` (an engine run: ``instance_id``, ``business_key``, ``process_key``, ``elements``,
``duration_ms``, ``status``). kmop logs ids and keys, never a case's data: no names, e-mail addresses or
bank accounts.
"""

from __future__ import annotations

import logging
import sys

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FORMATS = ("text", "json")


def configure(log_format: str = "text", level: str = "INFO") -> None:
    """Send log lines to stderr in ``log_format``, kmop's own from ``level`` up and the libraries' from
    WARNING; a process whose logging is already set up (a test runner, a host) keeps its handlers."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(log_format))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    logging.getLogger("kmop").setLevel(level)


def formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        from pythonjsonlogger.json import JsonFormatter

        return JsonFormatter(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",  # ISO 8601, UTC
        )
    return logging.Formatter(TEXT_FORMAT)
