"""The stream's clock: the time a replayed story without one of its own counts at.

Owns: ``StreamClock``. A replayed record, article or feed entry without a published time takes
the stream's time, the latest published time read before it, never the clock on the wall: a
backfill of 2021 news replayed in 2026 must not put its undated stories five years away from
their siblings. Stories read before the stream has shown any time wait (``hold``) until one
arrives, and then take it; a stream that shows none at all (or more than ``MAX_HELD`` undated
stories first) gives them one constant time, the replay's start, so they meet each other
without any time constraint.

Pure: stories in, stories out; the replayer (``_replay``) decides what to do with them. The
story keeps its ``published`` empty, so verification still knows its time is only a place in the
stream (``Story.dated``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Generic, TypeVar

from ingestor.models import Story

__all__ = ["MAX_HELD", "StreamClock", "in_time_order"]

T = TypeVar("T")

MAX_HELD = 10_000
"""Undated stories held at the head of a stream, waiting for its first time."""


class StreamClock(Generic[T]):
    """Times for a stream's stories in the order they are read. ``T`` is whatever the caller
    carries with each story (the record it came from)."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        """The time the stories take when the stream shows none (the replay's start)."""
        self.now: datetime | None = None
        """The latest published time read so far."""
        self._held: list[tuple[Story, T]] = []

    def place(self, story: Story, tag: T) -> list[tuple[Story, T]]:
        """The stories now ready to go on, in reading order: ``story`` with the stream's time
        when it has none, and every story held before it once the stream shows a time."""
        if story.published is not None:
            if self.now is None or story.published > self.now:
                self.now = story.published
            ready = self._release(self.now)
            ready.append((story, tag))
            return ready
        if self.now is not None:
            return [(self._at(story, self.now), tag)]
        self._held.append((story, tag))
        if len(self._held) > MAX_HELD:
            self.now = self.start
            return self._release(self.start)
        return []

    def flush(self) -> list[tuple[Story, T]]:
        """The stories still held at the end of the stream, at the replay's start."""
        return self._release(self.now or self.start)

    def _release(self, when: datetime) -> list[tuple[Story, T]]:
        held, self._held = self._held, []
        return [(self._at(story, when), tag) for story, tag in held]

    @staticmethod
    def _at(story: Story, when: datetime) -> Story:
        return replace(story, fetched=when)


def in_time_order(items: Iterable[tuple[Story, T]]) -> list[tuple[Story, T]]:
    """Stories by their time, oldest first; equal times keep their reading order."""
    return sorted(items, key=lambda item: item[0].when)
