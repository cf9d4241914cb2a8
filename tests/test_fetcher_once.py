"""A tick's poll threads share one fetcher: built once however many ask for it at the same
moment, and closed with the pipeline."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest

import ingestor.fetch
from ingestor.fetch import Fetcher
from ingestor.pipeline import Pipeline
from tests.local import local_settings

pytestmark = pytest.mark.timeout(60)


class CountingFetcher(Fetcher):
    """A real fetcher that counts how many were built and closed, and builds slowly enough
    that threads asking at once would all see none yet."""

    built: ClassVar[list[CountingFetcher]] = []
    closed: ClassVar[list[CountingFetcher]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        time.sleep(0.05)
        super().__init__(*args, **kwargs)
        CountingFetcher.built.append(self)

    def close(self) -> None:
        CountingFetcher.closed.append(self)
        super().close()


def test_concurrent_first_use_builds_one_fetcher_and_close_closes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sixteen threads asking for the fetcher at once get the same one; closing the pipeline
    closes it, once."""
    monkeypatch.setattr(ingestor.fetch, "Fetcher", CountingFetcher)
    CountingFetcher.built.clear()
    CountingFetcher.closed.clear()
    pipeline = Pipeline.open(local_settings(tmp_path), migrate=True)
    start = threading.Barrier(16)
    got: list[Any] = []

    def first_use() -> None:
        start.wait(timeout=10)
        got.append(pipeline.fetcher)

    threads = [threading.Thread(target=first_use) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    try:
        assert len(got) == 16
        assert len(CountingFetcher.built) == 1
        assert all(f is CountingFetcher.built[0] for f in got)
    finally:
        pipeline.close()
    assert CountingFetcher.closed == CountingFetcher.built
