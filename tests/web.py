"""What the server's tests share: a store filled from samples/ (and a hostile record), and a
client over a read-only ``Ingestor`` of it."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from ingestor.app import Ingestor
from ingestor.config import Settings
from ingestor.web import create_app

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
SEED_SOURCES = sorted(
    meta["source"]
    for meta in json.loads((SAMPLES / "articles" / "sources.json").read_text("utf-8")).values()
)
"""The five outlets that carried the seed story (samples/articles/sources.json)."""
HOSTILE_TITLE = "<script>alert('x')</script>\x01\x1b[31m Red & \"quoted\" \x7f"
HOSTILE_SOURCE = "<b>Evil</b> Source"


def hostile_stream(directory: Path) -> Path:
    """A record stream whose one story has a title, source and link made to break pages."""
    path = directory / "hostile.jsonl"
    record = {
        "id": "hostile-1",
        "title": HOSTILE_TITLE,
        "text": "Zebra quartz ferry lanterns drifted over the harbour of Valparaíso at dawn, "
        "said the <script>harbour</script> master, who counted eleven of them. " * 3,
        "url": "javascript:alert(1)",
        "source": HOSTILE_SOURCE,
        "published": "2024-06-19T10:00:00Z",
    }
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    return path


def fill(directory: Path) -> str:
    """A SQLite store with samples/articles, samples/feeds and the hostile record replayed."""
    directory.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{directory / 'ingestor.db'}"
    with Ingestor(Settings(database_url=url)) as app:
        summary = app.replay([SAMPLES / "articles", SAMPLES / "feeds", hostile_stream(directory)])
    assert summary.errors == 0, summary.error_messages
    # Normalizing strips markup from titles; a store written by another version, or by hand,
    # may still hold anything, so the hostile values are put in place as they are.
    with sqlite3.connect(directory / "ingestor.db") as db:
        changed = db.execute(
            "UPDATE stories SET title = ?, source = ?, url = ? WHERE external_id = 'hostile-1'",
            (HOSTILE_TITLE, HOSTILE_SOURCE, "javascript:alert(1)"),
        ).rowcount
    assert changed == 1
    return url


@contextmanager
def client(url: str, **options: Any) -> Iterator[TestClient]:
    """A test client over a read-only ``Ingestor`` of the store at ``url``."""
    with (
        Ingestor(Settings(database_url=url)) as reader,
        TestClient(create_app(reader, **options)) as test_client,
    ):
        yield test_client


def seed_event_id(test_client: TestClient) -> int:
    """The event of the seed story: the one with five sources."""
    events = test_client.get("/api/events", params={"min_size": 5}).json()["events"]
    [event] = [e for e in events if e["sources"] == 5]
    return int(event["id"])


def check_json_feed(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The items of a JSON Feed 1.1 document, after checking the rules of its specification
    (jsonfeed.org/version/1.1) a reader relies on: feedparser 6.0 reads no JSON Feed, so the
    test checks them itself. Raises ``AssertionError`` naming the first rule broken."""
    assert document["version"] == "https://jsonfeed.org/version/1.1"
    assert isinstance(document["title"], str)
    assert document["title"]
    for key in ("home_page_url", "feed_url"):
        assert document[key].startswith(("http://", "https://")), key
    items = document["items"]
    assert isinstance(items, list)
    ids = [item["id"] for item in items]
    assert len(set(ids)) == len(ids), "ids are unique"
    for item in items:
        assert isinstance(item["id"], str)
        assert item["id"]
        assert isinstance(item.get("content_html"), str) or isinstance(
            item.get("content_text"), str
        ), "content_html or content_text"
        for key in ("date_published", "date_modified"):
            when = datetime.fromisoformat(item[key].replace("Z", "+00:00"))
            assert when.utcoffset() is not None, key  # RFC 3339: with an offset
        for author in item.get("authors", []):
            assert isinstance(author["name"], str)
        for key in item:
            assert key in _JSON_FEED_ITEM or key.startswith("_"), f"unknown item key {key}"
    return list(items)


_JSON_FEED_ITEM = {
    "id", "url", "external_url", "title", "content_html", "content_text", "summary", "image",
    "banner_image", "date_published", "date_modified", "authors", "tags", "language",
    "attachments",
}  # fmt: skip


HOST = "testserver"
ORIGIN = f"http://{HOST}"
"""The test client's own origin (``TestClient``'s base URL)."""


def copy_store(url: str, directory: Path) -> str:
    """A copy of the SQLite store at ``url`` in ``directory`` (curation changes it)."""
    directory.mkdir(parents=True, exist_ok=True)
    copy = directory / "ingestor.db"
    copy.write_bytes(Path(url.removeprefix("sqlite:///")).read_bytes())
    return f"sqlite:///{copy}"


def store_bytes(url: str) -> dict[str, str]:
    """The SHA-256 of the database file and of any journal beside it: equal before and after
    means nothing was written."""
    database = Path(url.removeprefix("sqlite:///"))
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(database.parent.glob(database.name + "*"))
    }


def snapshot(url: str) -> dict[int, tuple[int, int, list[int], list[int]]]:
    """Every event of the store as ``get_event`` gives it: size, canonical story, its stories
    and the events merged into it."""
    with Ingestor(Settings(database_url=url)) as app:
        out = {}
        for event in app.list_events(limit=100_000):
            detail = app.get_event(event.id)
            out[event.id] = (
                detail.event.size,
                detail.canonical.story_id,
                sorted(v.story_id for v in detail.variants),
                sorted(m.gone for m in detail.merges),
            )
        return out


def csrf_of(html: str, path: str) -> str:
    """The CSRF token of the form on ``html`` that posts to ``path``."""
    found = re.search(
        rf'action="{re.escape(path)}">\s*<input type="hidden" name="csrf" value="([0-9a-f]{{64}})"',
        html,
    )
    assert found, f"no form posting to {path}"
    return found.group(1)
