"""``ingestor search``: stories found by their words on SQLite (FTS5) and PostgreSQL (full-text
search), ranked, kept in step with edits and deletions, including stories stored before the
search index existed; hostile query syntax is never an error, a query without words is one
clear line."""

from __future__ import annotations

from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from ingestor import normalize
from ingestor.app import Ingestor
from ingestor.errors import StoreError
from ingestor.models import Story
from ingestor.store import open_store
from ingestor.store.engine import normalize_url
from ingestor.store.migrate import alembic_config
from tests.local import local_settings
from tests.test_cli import FEEDS, Cli, error_line
from tests.test_merges import NOW, items, open_pipeline

HOSTILE = ['"', '"unclosed', "*", "rates*", "NEAR(", "NEAR(rates bank", "-", "-rates",
           "rates -bank", "OR", "rates OR", "AND NOT", "title:rates", "^rates", "(", ")",
           "{rates}", "rates\x00", "';DROP TABLE stories;--"]  # fmt: skip


def article(n: int, title: str, text: str) -> Story:
    return normalize.normalize_article(
        text, is_html=False, title=title, url=f"https://news{n}.example/a/{n}",
        source=f"news{n}.example", published=NOW, fetched=NOW,
    )  # fmt: skip


def app_for(url: str, tmp_path: Path) -> Ingestor:
    return Ingestor(local_settings(tmp_path, database_url=url))


def test_search_finds_ranks_and_follows_edits_and_deletions(
    database_url: str, tmp_path: Path
) -> None:
    rates = "The central bank held interest rates on Tuesday; rates stay at four percent."
    with open_pipeline(database_url, tmp_path) as pipeline:
        pipeline.ingest(
            items([
                article(1, "Bank holds rates", rates + " Rates, rates and more rates."),
                article(2, "Harvest festival", "Farmers gathered for the harvest festival rates."),
                article(3, "Football final", "The final ended in a draw after extra time."),
            ]),
            now=NOW,
        )  # fmt: skip
    with app_for(database_url, tmp_path) as app:
        hits = app.search("rates")
        assert [h.title for h in hits] == ["Bank holds rates", "Harvest festival"]
        assert hits[0].rank >= hits[1].rank
        assert hits[0].event_id is not None
        assert hits[0].source == "news1.example"
        assert hits[0].when == NOW
        assert [h.title for h in app.search("harvest RATES")] == ["Harvest festival"]
        assert app.search("rates", limit=1)[0].title == "Bank holds rates"
        assert app.search("cricket") == []
        for query in HOSTILE:
            found = app.search(query) if any(c.isalnum() for c in query) else None
            assert found is None or isinstance(found, list), query
        with pytest.raises(StoreError, match="has no words to search for"):
            app.search('"*-(')
        app.delete_event(hits[1].event_id or 0, now=NOW)
        assert [h.title for h in app.search("rates")] == ["Bank holds rates"]
    with open_pipeline(database_url, tmp_path) as pipeline:
        edited = article(3, "Football final", "The final ended in penalties after extra time.")
        assert pipeline.ingest(items([edited]), now=NOW).counts.updated == 1
    with app_for(database_url, tmp_path) as app:
        assert [h.title for h in app.search("penalties")] == ["Football final"]
        assert app.search("draw") == []


def test_stories_stored_before_the_search_migration_are_found(
    database_url: str, tmp_path: Path
) -> None:
    """A database at revision 0002 with stories in it: migrating to head indexes them."""
    engine = sa.create_engine(normalize_url(database_url))
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "0002")
            when = datetime(2024, 6, 1, tzinfo=UTC)
            when_value = when.replace(tzinfo=None) if engine.dialect.name == "sqlite" else when
            conn.execute(
                sa.text(
                    "INSERT INTO stories (source, title, text, fetched, when_at, content_hash,"
                    " revisions) VALUES ('old.example', 'Archived flood report',"
                    " 'The river flooded the valley overnight.', :w, :w, 'h1', 0)"
                ),
                {"w": when_value},
            )
    finally:
        engine.dispose()
    with closing(open_store(database_url)) as store:
        store.migrate()
        hits = store.search("valley flooded")
    assert [(h.title, h.event_id) for h in hits] == [("Archived flood report", None)]


def test_search_on_the_command_line(tmp_path: Path) -> None:
    cli = Cli.make(tmp_path / "search", sorted(FEEDS.glob("*.xml")))
    cli("run", "--once")
    title = cli.json("events", "list")[0]["title"]
    word = max(title.split(), key=len).strip(".,:;!?\"'")
    hits = cli.json("search", word)
    assert hits
    assert {"story_id", "event_id", "title", "source", "when", "rank"} <= hits[0].keys()
    assert len(cli.json("search", word, "--limit", "1")) == 1
    assert "STORY" in cli("search", word).stdout
    for query in HOSTILE:
        if any(c.isalnum() for c in query):
            cli("search", "--", query)  # ``--``: a query may start with "-"
    assert error_line(cli("search", '"', code=1)) == (
        "error: the query '\"' has no words to search for"
    )
    cli("search", word, "--limit", "0", code=2)
