"""What every command shares: settings loaded once, the library opened for one command, errors
as one line and exit code 1, JSON output and progress bars."""

from __future__ import annotations

import json
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

__all__ = ["ID", "Group", "State", "fail", "json_out", "open_app", "pass_state", "progress"]

ID = click.IntRange(min=1, max=2**63 - 1)
"""A story or event id: positive, and small enough for every database's integer."""


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


def json_out(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


@contextmanager
def progress(total: int | None, label: str) -> Iterator[Callable[[int], None]]:
    if not sys.stderr.isatty():
        yield lambda _n: None
        return
    with click.progressbar(length=total or 0, label=label, file=sys.stderr) as bar:
        yield bar.update
