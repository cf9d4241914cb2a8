"""The event page in a real headless browser (the system's Chromium, driven by playwright): the
seed event's page shows its five sources, its stylesheet applies under the page's CSP, no
policy violation is reported, and a screenshot of it is a real picture."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingestor.app import Ingestor
from ingestor.config import Settings
from ingestor.web import ServerThread, create_app
from tests.web import SEED_SOURCES, client, fill, seed_event_id

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """The server over a store filled from samples/, on 127.0.0.1 at a free port, in a thread;
    its base URL and the seed event's id."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: apt-get install -y --no-install-recommends chromium")
    pytest.importorskip("playwright.sync_api", reason="the dev extra installs playwright")
    url = fill(tmp_path_factory.mktemp("browser"))
    with client(url) as test_client:
        event_id = seed_event_id(test_client)
    with Ingestor(Settings(database_url=url)) as reader:
        thread = ServerThread(create_app(reader), host="127.0.0.1", port=0).start()
        try:
            yield f"http://127.0.0.1:{thread.port}", event_id
        finally:
            thread.stop()


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
    from playwright.sync_api import sync_playwright

    base, event_id = server
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"], timeout=60_000
        )
        try:
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
        finally:
            browser.close()
    assert not [p for p in problems if "Content Security Policy" in p], problems
    data = shot.read_bytes()
    width, height = _png_size(data)
    assert width == 1280
    assert height >= 900
    assert len(data) > 30_000, "a page with text, not a blank picture"
