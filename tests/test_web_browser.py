"""The event page in a real headless browser (the system's Chromium, driven by playwright): the
seed event's page shows its five sources, its stylesheet applies under the page's CSP, no
policy violation is reported, and a screenshot of it is a real picture; and one real form
submission: a variant split off the seed event lands on the new event's page."""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from ingestor.app import Ingestor
from ingestor.config import Settings
from ingestor.web import ServerThread, close_actions, create_app
from tests.services import REQUIRE_ENV
from tests.web import SEED_SOURCES, client, copy_store, fill, seed_event_id

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, int]:
    """A store filled from samples/, and the seed event's id."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is absent: apt-get install -y --no-install-recommends chromium"
        if os.environ.get(REQUIRE_ENV) == "1":  # CI (.ci/run installs it): run, never skip
            pytest.fail(reason)
        pytest.skip(reason)
    pytest.importorskip("playwright.sync_api", reason="the dev extra installs playwright")
    url = fill(tmp_path_factory.mktemp("browser"))
    with client(url) as test_client:
        event_id = seed_event_id(test_client)
    return url, event_id


@contextmanager
def serving(url: str) -> Iterator[str]:
    """The server over ``url`` on 127.0.0.1 at a free port, in a thread; its base URL."""
    with Ingestor(Settings(database_url=url)) as reader:
        web = create_app(reader)
        thread = ServerThread(web, host="127.0.0.1", port=0).start()
        try:
            yield f"http://127.0.0.1:{thread.port}"
        finally:
            thread.stop()
            close_actions(web)


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"], timeout=60_000
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def server(filled: tuple[str, int]) -> Iterator[tuple[str, int]]:
    """The server over the filled store; its base URL and the seed event's id."""
    url, event_id = filled
    with serving(url) as base:
        yield base, event_id


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "a PNG file"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_event_page_shows_the_five_sources_in_a_browser(
    server: tuple[str, int], tmp_path: Path
) -> None:
    """Chromium renders the seed event's page: the five outlets' names are in its text, the
    stylesheet applies (the variants sit in a grid), the CSP reports nothing, and the
    screenshot is a PNG of a real page."""
    base, event_id = server
    problems: list[str] = []
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(30_000)
        page.on("console", lambda message: problems.append(message.text))
        response = page.goto(f"{base}/events/{event_id}")
        assert response is not None
        assert response.status == 200
        text = page.inner_text("body")
        for source in SEED_SOURCES:
            assert source in text, source
        assert page.eval_on_selector(".variants", "e => getComputedStyle(e).display") == "grid"
        assert page.locator(".variant").count() == 5
        shot = tmp_path / "event.png"
        page.screenshot(path=str(shot), full_page=True)
    assert not [p for p in problems if "Content Security Policy" in p], problems
    data = shot.read_bytes()
    width, height = _png_size(data)
    assert width == 1280
    assert height >= 900
    assert len(data) > 30_000, "a page with text, not a blank picture"


def test_a_variant_split_off_through_the_form_has_its_own_page(
    filled: tuple[str, int], tmp_path: Path
) -> None:
    """In Chromium, on the seed event's page: tick one variant in the split form and submit.
    The browser lands on the new event's page, which says it was split off and shows that
    variant alone; the seed event's page now has four. No CSP report on the way."""
    url, event_id = filled
    with Ingestor(Settings(database_url=url)) as reader:
        detail = reader.get_event(event_id)
    variants = detail.variants
    moving = next(v for v in variants if v.story_id != detail.canonical.story_id)
    problems: list[str] = []
    with serving(copy_store(url, tmp_path / "split")) as base, chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(30_000)
        page.on("console", lambda message: problems.append(message.text))
        page.goto(f"{base}/events/{event_id}")
        page.check(f'form.split input[name="stories"][value="{moving.story_id}"]')
        with page.expect_navigation():
            page.click("form.split button[type=submit]")
        landed = page.url
        assert re.fullmatch(rf"{re.escape(base)}/events/\d+\?done=split&from={event_id}", landed)
        assert int(landed.split("/events/")[1].split("?")[0]) != event_id
        assert page.inner_text(".notice") == (
            f"These variants were split off event {event_id} into this new event."
        )
        assert page.locator(".variant").count() == 1
        assert moving.story.source in page.inner_text(".variant")
        page.goto(f"{base}/events/{event_id}")
        assert page.locator(".variant").count() == len(variants) - 1
        assert moving.story.source not in page.inner_text(".variants")
    assert not [p for p in problems if "Content Security Policy" in p], problems
