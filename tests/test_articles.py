"""Feeds that carry only a summary: the linked article page is fetched, safely, once, and its
main text is what gets stored and clustered.

Every server here is a loopback ``FaultServer``; host names reach it through a ``StubResolver``,
so each outlet is its own source. The seed test uses the project's own sample articles."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from email.utils import format_datetime
from html import escape
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from ingestor import normalize
from ingestor.config import Settings
from ingestor.fetch import Fetcher
from ingestor.models import Story
from ingestor.pipeline import Pipeline, article_story
from tests.faultserver import FaultServer, Listener, StubResolver, feed, status
from tests.local import local_settings

ARTICLES = Path(__file__).resolve().parents[1] / "samples" / "articles"
NOW = datetime.fromisoformat("2024-06-19T12:00:00+00:00")

NAV = " ".join(f"<li><a href='/s{i}'>Section {i}</a></li>" for i in range(30))
CONSENT = (
    "<html><head><title>Before you continue</title></head><body><main><p>"
    + "We and our partners use cookies and similar technologies to store and access "
    "information on your device, to measure audiences and to personalise advertising. "
    * 12
    + "</p></main></body></html>"
)


def page(title: str, paragraphs: list[str]) -> bytes:
    """An article page with the site furniture real pages have around the story."""
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return (
        f"<!doctype html><html><head><title>{escape(title)} | Daily Site</title></head><body>"
        f"<nav><ul>{NAV}</ul></nav><article><h1>{escape(title)}</h1>{body}</article>"
        "<footer><p>Copyright 2024 Daily Site. All rights reserved.</p>"
        "<p>Share this article on social media.</p></footer></body></html>"
    ).encode()


def rss(items: list[dict[str, str]]) -> bytes:
    parts = []
    for item in items:
        parts.append(
            f"<item><title>{escape(item['title'])}</title><link>{escape(item['link'])}</link>"
            f"<guid isPermaLink='false'>{escape(item['guid'])}</guid>"
            f"<pubDate>{item['date']}</pubDate>"
            f"<description>{escape(item['summary'])}</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Feed</title><link>http://example.test/</link>{''.join(parts)}</channel></rss>"
    ).encode()


def settings_for(tmp_path: Path, **flags: Any) -> Settings:
    return local_settings(
        tmp_path, **{"fetch_timeout_s": 3.0, "fetch_connect_timeout_s": 1.0, **flags}
    )


def open_pipeline(settings: Settings, resolver: StubResolver, budget_workers: int = 0) -> Pipeline:
    fetcher = Fetcher(
        settings.fetch,
        resolver=resolver,
    )
    return Pipeline.open(
        settings, migrate=True, fetcher=fetcher, now=NOW, budget_workers=budget_workers
    )


def poll(pipeline: Pipeline, url: str, now: datetime = NOW) -> Any:
    source = pipeline.store.get_feed(url) or pipeline.store.add_feed(url, now=now)
    return pipeline.poll(source, now=now)


def stored_texts(pipeline: Pipeline) -> dict[str, str]:
    """guid -> stored text."""
    out = {}
    for event in pipeline.store.list_events(limit=1000):
        for variant in pipeline.store.get_event(event.id).variants:
            out[variant.story.guid or ""] = variant.story.text
    return out


FLOOD = [
    "Heavy rain flooded the lower town of Sorvik on Tuesday, forcing four hundred residents "
    "from their homes as the river Alder burst its banks before dawn.",
    "Rescue crews in boats reached the last families by noon, the regional emergency office "
    "said, and no one was reported hurt.",
    "The mayor of Sorvik said the new flood wall, finished last spring, held along the harbour "
    "but the water came in behind it through the old mill canal.",
    "Forecasters expect the river to fall slowly over the next two days; schools stay closed.",
]
FLOOD_SUMMARY = "Heavy rain flooded the lower town of Sorvik, forcing hundreds from their homes."
ROADS = [
    "The council of Brennam approved a plan on Monday to repave forty kilometres of rural "
    "roads over three summers, paid for by a new levy on freight hauliers.",
    "Hauliers' associations said the levy would raise delivery prices, while farmers welcomed "
    "the plan after years of complaints about potholes on the valley roads.",
    "Work on the first section, between Brennam and Holt, is due to start in May.",
]
ROADS_SUMMARY = "Brennam's council approved a plan to repave forty kilometres of rural roads."


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


# -- the decision ----------------------------------------------------------------------------------


def summary_story(title: str, summary: str, url: str = "https://news.test/a") -> Story:
    return Story(
        source="news.test",
        title=title,
        text=summary,
        fetched=NOW,
        content_hash=normalize.content_hash(title, summary),
        url=url,
        guid="g1",
        html=f"<p>{summary}</p>",
    )


def test_the_article_page_replaces_the_summary_and_the_entry_keeps_its_identity() -> None:
    story = summary_story("Floods force hundreds from homes in Sorvik", FLOOD_SUMMARY)
    better = normalize.with_article_page(
        story, page("Floods force hundreds from homes in Sorvik", FLOOD).decode()
    )
    assert better is not None
    assert "old mill canal" in better.text
    assert "Section 7" not in better.text  # the site's navigation is not the article
    assert "Copyright" not in better.text
    assert (better.title, better.url, better.guid) == (story.title, story.url, story.guid)
    assert better.content_hash == story.content_hash  # the entry as its feed delivered it
    assert better.html is None  # the summary's HTML is not the article's


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(CONSENT, id="consent-wall"),
        pytest.param(page("Brennam to repave rural roads", ROADS).decode(), id="another-story"),
        pytest.param("<html><body><p>Subscribe to read.</p></body></html>", id="shorter"),
    ],
)
def test_a_page_that_is_not_the_article_leaves_the_summary(body: str) -> None:
    story = summary_story("Floods force hundreds from homes in Sorvik", FLOOD_SUMMARY)
    assert normalize.with_article_page(story, body) is None


def test_pages_that_are_not_html_are_not_read_and_a_declared_charset_is_honoured() -> None:
    story = summary_story("Floods force hundreds from homes in Sorvik", FLOOD_SUMMARY)
    cafe = "The Café Ærø on the harbour, flooded to its windows, hopes to reopen next week."
    body = page("Floods force hundreds from homes in Sorvik", [*FLOOD[:2], cafe, *FLOOD[2:]])
    assert article_story(story, body, content_type="application/pdf") is None
    assert article_story(story, body, content_type="image/png") is None
    latin = body.decode().encode("latin-1")
    read = article_story(story, latin, content_type="text/html; charset=ISO-8859-1")
    assert read is not None
    assert "Café Ærø" in read.text


# -- polling ---------------------------------------------------------------------------------------


def two_stories_feed(port: int, *, flood_summary: str = FLOOD_SUMMARY) -> bytes:
    return rss(
        [
            {
                "title": "Floods force hundreds from homes in Sorvik",
                "link": f"http://site.test:{port}/flood",
                "guid": "flood",
                "date": "Tue, 18 Jun 2024 09:00:00 GMT",
                "summary": flood_summary,
            },
            {
                "title": "Brennam to repave rural roads",
                "link": f"http://site.test:{port}/roads",
                "guid": "roads",
                "date": "Mon, 17 Jun 2024 09:00:00 GMT",
                "summary": ROADS_SUMMARY,
            },
        ]
    )


@pytest.mark.parametrize("workers", [0, 1], ids=["inline", "budget-worker"])
def test_summaries_get_their_article_text_once_and_edits_fetch_it_again(
    tmp_path: Path, server: FaultServer, workers: int
) -> None:
    """The first poll fetches both pages and stores their main text; polls of the unchanged
    feed fetch no page again; an edited summary fetches its page again and the story keeps
    the article's text, as a revision of the same story. Pages are read inline and in a
    budget worker process, as the daemon does."""
    port = server.port
    server.route("/flood", status(200, {"Content-Type": "text/html"}, page("Flood", FLOOD)))
    server.route("/roads", status(200, {"Content-Type": "text/html"}, page("Roads", ROADS)))
    server.route("/feed", feed(two_stories_feed(port)))
    resolver = StubResolver({"site.test": ["127.0.0.1"]})
    with open_pipeline(settings_for(tmp_path), resolver, workers) as pipeline:
        url = f"http://site.test:{port}/feed"
        first = poll(pipeline, url)
        assert first.status == "ok", first.error
        assert (first.counts.new, first.counts.articles, first.counts.articles_failed) == (2, 2, 0)
        texts = stored_texts(pipeline)
        assert "old mill canal" in texts["flood"]
        assert "freight hauliers" in texts["roads"]
        pages = [r for r in server.recorded if r.path in ("/flood", "/roads")]
        assert len(pages) == 2
        assert pages[0].headers["Accept"].startswith("text/html")

        again = poll(pipeline, url)
        assert (again.counts.new, again.counts.duplicates, again.counts.articles) == (0, 2, 0)
        assert len([r for r in server.recorded if r.path in ("/flood", "/roads")]) == 2

        edited = FLOOD_SUMMARY + " Schools stay closed."
        server.route("/feed", feed(two_stories_feed(port, flood_summary=edited)))
        third = poll(pipeline, url).counts
        assert (third.new, third.updated, third.duplicates, third.articles) == (0, 1, 1, 1)
        assert [r.path for r in server.recorded][-1] == "/flood"
        assert "old mill canal" in stored_texts(pipeline)["flood"]
        assert pipeline.store.counts()["stories"] == 2


def test_failed_refused_and_foreign_links_keep_their_summaries(
    tmp_path: Path, server: FaultServer
) -> None:
    """A 404, a consent wall, a link to an internal address and a file: link: each story is
    stored with its summary, the poll is ``ok``, nothing connects to the internal address and
    no local file is read; the pages that failed are logged as warnings."""
    port = server.port
    secret = tmp_path / "secret.txt"
    secret.write_text("Floods force hundreds from homes in Sorvik. " * 50)
    server.route("/gone", status(404))
    server.route("/consent", status(200, {"Content-Type": "text/html"}, CONSENT.encode()))
    with Listener("127.0.0.2") as internal:
        links = {
            "gone": f"http://site.test:{port}/gone",
            "consent": f"http://site.test:{port}/consent",
            "internal": f"http://internal.test:{internal.port}/admin",
            "file": secret.as_uri(),
        }
        body = rss(
            [
                {
                    "title": f"Floods force hundreds from homes in Sorvik ({name})",
                    "link": link,
                    "guid": name,
                    "date": "Tue, 18 Jun 2024 09:00:00 GMT",
                    "summary": f"{FLOOD_SUMMARY} ({name})",
                }
                for name, link in links.items()
            ]
        )
        server.route("/feed", feed(body))
        resolver = StubResolver({"site.test": ["127.0.0.1"], "internal.test": ["127.0.0.2"]})
        with open_pipeline(settings_for(tmp_path), resolver) as pipeline:
            with capture_logs() as logs:
                result = poll(pipeline, f"http://site.test:{port}/feed")
            texts = stored_texts(pipeline)
        assert internal.accepted == 0
    # A page that failed is a warning with its status; one that is not the article is not.
    failed = {e["url"]: e for e in logs if e["event"] == "article_failed"}
    assert set(failed) == {links["gone"], links["internal"]}
    assert all(e["log_level"] == "warning" for e in failed.values())
    assert failed[links["gone"]]["http_status"] == 404
    assert failed[links["internal"]]["error_kind"] == "blocked_address"
    skipped = [e for e in logs if e["event"] == "article_skipped"]
    assert [e["url"] for e in skipped] == [links["consent"]]
    assert result.status == "ok", result.error
    assert (result.counts.new, result.counts.articles) == (4, 0)
    assert result.counts.articles_failed == 3  # the file: link is never fetched, so it never fails
    assert set(texts) == set(links)
    for name, text in texts.items():
        assert text == f"{FLOOD_SUMMARY} ({name})"


def test_the_page_cap_takes_the_newest_entries_and_zero_turns_fetching_off(
    tmp_path: Path, server: FaultServer
) -> None:
    port = server.port
    server.route("/flood", status(200, {"Content-Type": "text/html"}, page("Flood", FLOOD)))
    server.route("/roads", status(200, {"Content-Type": "text/html"}, page("Roads", ROADS)))
    server.route("/feed", feed(two_stories_feed(port)))
    resolver = StubResolver({"site.test": ["127.0.0.1"]})
    capped = settings_for(tmp_path / "capped", fetch_article_max_per_poll=1)
    with open_pipeline(capped, resolver) as pipeline:
        result = poll(pipeline, f"http://site.test:{port}/feed")
        texts = stored_texts(pipeline)
    assert result.counts.articles == 1
    assert "old mill canal" in texts["flood"]  # the newer entry
    assert texts["roads"] == ROADS_SUMMARY
    before = len(server.recorded)
    off = settings_for(tmp_path / "off", fetch_article_below_words=0)
    with open_pipeline(off, resolver) as pipeline:
        result = poll(pipeline, f"http://site.test:{port}/feed")
        texts = stored_texts(pipeline)
    assert result.counts.articles == 0
    assert [r.path for r in server.recorded[before:]] == ["/feed"]
    assert texts == {"flood": FLOOD_SUMMARY, "roads": ROADS_SUMMARY}


def test_a_local_feed_files_links_are_not_fetched(tmp_path: Path, server: FaultServer) -> None:
    """A feed file the operator names is a local input: its links are not fetched."""
    server.route("/flood", status(200, {"Content-Type": "text/html"}, page("Flood", FLOOD)))
    path = tmp_path / "feed.xml"
    path.write_bytes(two_stories_feed(server.port))
    resolver = StubResolver({"site.test": ["127.0.0.1"]})
    with open_pipeline(settings_for(tmp_path), resolver) as pipeline:
        result = poll(pipeline, path.as_uri())
    assert (result.status, result.counts.new, result.counts.articles) == ("ok", 2, 0)
    assert server.recorded == []


# -- the seed story, from summaries ----------------------------------------------------------------


def seed_feeds(server: FaultServer) -> list[str]:
    """One feed per outlet, each entry carrying the article's first 40 words as its summary and
    linking to a page with the whole article: how most outlets' feeds look."""
    sources = json.loads((ARTICLES / "sources.json").read_text())
    urls = []
    for number, (name, meta) in enumerate(sorted(sources.items())):
        title, _, text = (ARTICLES / name).read_text().strip().partition("\n")
        paragraphs = [p for p in text.split("\n") if p.strip()]
        host = f"outlet{number}.test"
        html = page(title, paragraphs)
        server.route(f"/{number}/story", status(200, {"Content-Type": "text/html"}, html))
        date = format_datetime(datetime.fromisoformat(meta["published"].replace("Z", "+00:00")))
        body = rss(
            [
                {
                    "title": title,
                    "link": f"http://{host}:{server.port}/{number}/story",
                    "guid": f"{number}",
                    "date": date,
                    "summary": " ".join(text.split()[:40]) + "...",
                }
            ]
        )
        server.route(f"/{number}/feed", feed(body))
        urls.append(f"http://{host}:{server.port}/{number}/feed")
    return urls


@pytest.mark.parametrize("below", [150, 0])
def test_the_seed_outlets_summary_feeds_make_one_event_when_pages_are_read(
    tmp_path: Path, server: FaultServer, below: int
) -> None:
    """Five outlets' versions of one story, delivered as 40-word summaries: with their pages
    read (one page a feed) they form one event of five; from the summaries alone they do not
    (their openings share too little), which is why pages are fetched by default."""
    urls = seed_feeds(server)
    resolver = StubResolver({f"outlet{n}.test": ["127.0.0.1"] for n in range(len(urls))})
    settings = settings_for(tmp_path, fetch_article_below_words=below)
    with open_pipeline(settings, resolver) as pipeline:
        for url in urls:
            result = poll(pipeline, url)
            assert result.status == "ok", result.error
            assert result.counts.articles == (1 if below else 0)
        listed = pipeline.store.list_events(limit=100)
    assert len(urls) == 5
    assert sum(e.size for e in listed) == 5
    if below:
        assert len(listed) == 1
    else:
        assert len(listed) > 1
