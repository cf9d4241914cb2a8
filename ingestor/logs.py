"""structlog, configured once: JSON lines when not on a terminal, a readable console otherwise.

Owns: the processor chain and ``configure()``. Every module gets its logger with
``structlog.get_logger()`` and logs events, not sentences: ``log.info("feed_polled", feed=url,
status="ok", new=3)``. The feed being worked on is bound through ``structlog.contextvars`` by the
pipeline, so every line about it carries it without passing it around.

Does not: print anything else. Whatever a feed puts into a value (newlines, terminal escapes,
NULs), a record stays on one line: ``_one_line`` escapes control characters in every string value
before rendering (``errors.one_line``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Literal, TextIO

import structlog

from ingestor.errors import one_line

__all__ = ["configure"]


def _one_line(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = one_line(value)
        elif isinstance(value, BaseException):
            event_dict[key] = one_line(str(value))
    return event_dict


def configure(
    *,
    fmt: Literal["auto", "json", "console"] = "auto",
    level: str = "info",
    stream: TextIO | None = None,
) -> None:
    """Set up structlog for the process. Safe to call more than once (the last call wins)."""
    out = stream if stream is not None else sys.stderr
    use_console = fmt == "console" or (fmt == "auto" and out.isatty())
    renderer: structlog.types.Processor = (
        structlog.dev.ConsoleRenderer(colors=out.isatty())
        if use_console
        else structlog.processors.JSONRenderer(ensure_ascii=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _one_line,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
