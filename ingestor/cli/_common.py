"""What every command shares: settings loaded once, the library opened for one command, errors
as one line and exit code 1, JSON output and progress bars."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from ingestor.errors import IngestorError

if TYPE_CHECKING:
    from ingestor.app import Ingestor
    from ingestor.config import Settings

__all__ = [
    "COUNT",
    "OFFSET",
    "ROW_ID",
    "Group",
    "State",
    "command_name",
    "fail",
    "json_out",
    "open_app",
    "pass_state",
    "progress",
]

INT64_MAX = 2**63 - 1
"""The largest integer both databases store: a larger id or count is a usage error, not an
``OverflowError`` from the driver."""
ROW_ID = click.IntRange(min=1, max=INT64_MAX)
"""An event or story id."""
COUNT = click.IntRange(min=1, max=INT64_MAX)
"""A row count or size (``--limit``, ``--min-size``)."""
OFFSET = click.IntRange(min=0, max=INT64_MAX)
"""Rows to skip (``--offset``)."""


def command_name() -> str:
    """How the operator can run ``ingestor`` again: its name when that is on the PATH and is
    this program, else the path of the running executable (``.venv/bin/ingestor``, relative to
    the working directory when under it), else ``python -m ingestor``."""
    import os
    import shutil

    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else ""
    running = Path(argv0).resolve() if argv0 and Path(argv0).name == "ingestor" else None
    found = shutil.which("ingestor")
    if found is not None and (running is None or Path(found).resolve() == running):
        return "ingestor"
    if running is not None and running.is_file():
        here = Path.cwd()
        return os.path.relpath(running, here) if running.is_relative_to(here) else str(running)
    return f"{Path(sys.executable).name} -m ingestor"


@dataclass
class State:
    config: Path | None = None
    flags: dict[str, Any] = field(default_factory=dict)
    _settings: Settings | None = None

    def settings(self) -> Settings:
        if self._settings is None:
            from ingestor import logs
            from ingestor.config import load_settings

            self._settings = load_settings(self.config, flags=self.flags)
            logs.configure(fmt=self._settings.log_format, level=self._settings.log_level)
        return self._settings


class Group(click.Group):
    """Turns every expected failure into one line on stderr and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except IngestorError as error:
            fail(str(error))


def fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


pass_state = click.make_pass_decorator(State)


@contextmanager
def open_app(state: State, **kwargs: Any) -> Iterator[Ingestor]:
    """The library for one command; whatever the command opened is closed after it."""
    from ingestor.app import Ingestor

    app = Ingestor(state.settings(), **kwargs)
    try:
        yield app
    finally:
        app.close()


_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
"""Characters ``json.dumps(ensure_ascii=False)`` leaves raw that a terminal would act on (C1
controls, line separators, bidi controls); they can only stand inside strings, so escaping them
as ``\\uNNNN`` keeps the JSON the same."""


def json_out(value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False, indent=2, default=str)
    click.echo(_JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text))


@contextmanager
def progress(total: int | None, label: str) -> Iterator[Callable[[int], None]]:
    if not sys.stderr.isatty():
        yield lambda _n: None
        return
    with click.progressbar(length=total or 0, label=label, file=sys.stderr) as bar:
        yield bar.update
