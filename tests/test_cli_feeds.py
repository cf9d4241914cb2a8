"""The feed and event commands a first-time operator reaches for: adding a feed twice, feeds
that fail (only those listed, one shown whole, polled again now, its errors forgotten), events
paged by ingestion time with the column they are sorted by, a merged event's id, ``db status
--json``, and the hint ``run --once`` ends with naming a command that can be run."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from ipaddress import ip_network
from pathlib import Path

import pytest

from ingestor.cli._common import command_name
from ingestor.fetch import Fetcher, FetchPolicy
from ingestor.models import FeedSource
from ingestor.store import open_store
from tests.faultserver import FaultServer, feed
from tests.test_cli import FEEDS, Cli, error_line


@pytest.fixture
def failing(tmp_path: Path) -> tuple[Cli, str, str]:
    """One healthy sample feed and one local file that is no feed, polled once."""
    junk = tmp_path / "junk.xml"
    junk.write_text("this is not a feed " * 20, encoding="utf-8")
    cli = Cli.make(tmp_path / "failing", [FEEDS / "rt-rss.xml", junk])
    cli("run", "--once")
    return cli, (FEEDS / "rt-rss.xml").as_uri(), junk.as_uri()


def test_adding_a_feed_twice_says_it_is_already_present(tmp_path: Path) -> None:
    """The second ``feeds add`` of a URL, or of the same URL with another scheme or host case or
    its default port, says ``already present`` and exits 0; the feed list holds it once."""
    cli = Cli.make(tmp_path / "add")
    assert cli("feeds", "add", "https://example.com/feed.xml").stdout.startswith("added ")
    for spelling in ("https://example.com/feed.xml", "HTTPS://Example.COM:443/feed.xml"):
        out = cli("feeds", "add", spelling).stdout
        assert out.startswith("already present: https://example.com/feed.xml")
    assert [f["url"] for f in cli.json("feeds", "list")] == ["https://example.com/feed.xml"]


def test_only_failing_feeds_and_one_feed_whole(failing: tuple[Cli, str, str]) -> None:
    """``feeds list --failing`` lists only the feeds whose polls fail; ``feeds show URL`` and the
    JSON listing carry the last error whole."""
    cli, healthy, junk = failing
    assert [f["url"] for f in cli.json("feeds", "list", "--failing")] == [junk]
    rows = [line for line in cli("feeds", "list", "--failing").stdout.splitlines()[1:]]
    rows = [line for line in rows if not line.startswith("(errors cut")]
    assert len(rows) == 1
    assert "parse_error" in rows[0]
    assert "rt-rss" not in rows[0]
    assert healthy.endswith("rt-rss.xml")
    (stored,) = [f for f in cli.json("feeds", "list") if f["url"] == junk]
    assert stored["last_error"].startswith("parse: ")
    assert not stored["last_error"].startswith("parse: parse")
    shown = cli("feeds", "show", junk).stdout
    assert "errors:       1 in a row" in shown
    assert " ".join(shown.split("last error:")[1].split()) == stored["last_error"]
    assert cli.json("feeds", "show", junk) == stored
    missing = cli("feeds", "show", "https://unknown.example/rss", code=1)
    assert "no such feed" in error_line(missing)


def test_refresh_and_reset_a_failing_feed(failing: tuple[Cli, str, str]) -> None:
    """``feeds refresh URL`` makes a backed-off feed due now (its errors kept), ``--all`` every
    active feed; ``feeds reset URL`` clears its errors; a URL and ``--all`` together (or
    neither) is a usage error, an unknown feed an error."""
    cli, _, junk = failing
    assert "1 feed(s) due now" in cli("feeds", "refresh", junk).stdout
    (after,) = [f for f in cli.json("feeds", "list") if f["url"] == junk]
    assert after["consecutive_errors"] == 1
    assert datetime.fromisoformat(after["next_poll_at"]) <= datetime.now(UTC)
    assert "2 feed(s) due now" in cli("feeds", "refresh", "--all").stdout
    cli("feeds", "refresh", code=2)
    cli("feeds", "refresh", junk, "--all", code=2)
    assert "no such feed" in error_line(cli("feeds", "refresh", "https://x.example/", code=1))
    assert cli("feeds", "reset", junk).stdout.startswith(f"reset {junk}: no errors, due now")
    (reset,) = [f for f in cli.json("feeds", "list") if f["url"] == junk]
    assert (reset["consecutive_errors"], reset["last_error"]) == (0, None)
    assert cli.json("feeds", "list", "--failing") == []


def test_events_list_pages_and_shows_the_column_it_sorts_by(tmp_path: Path) -> None:
    """The table shows last seen (its order) and first seen; a listing cut by ``--limit`` says
    which rows of how many it shows, and ``--offset`` pages on."""
    cli = Cli.make(tmp_path / "events", sorted(FEEDS.glob("*.xml")))
    cli("run", "--once")
    every = cli.json("events", "list")
    total = len(every)
    table = cli("events", "list", "--limit", "2").stdout
    header = table.splitlines()[0]
    assert header.index("LAST SEEN") < header.index("FIRST SEEN")
    assert f"showing 1-2 of {total} events (--limit, --offset; --offset 2 for the next)" in table
    page = cli.json("events", "list", "--limit", "2", "--offset", "2")
    assert page == every[2:4]
    assert "showing" not in cli("events", "list").stdout
    last = cli("events", "list", "--offset", str(total - 1)).stdout
    assert f"showing {total}-{total} of {total} events" in last


def test_a_merged_event_shows_the_event_it_went_into(tmp_path: Path) -> None:
    """``events show`` of an event merged into another shows that one, saying so first."""
    cli = Cli.make(tmp_path / "merged", sorted(FEEDS.glob("*.xml")))
    cli("run", "--once")
    into, gone = (e["id"] for e in cli.json("events", "list")[:2])
    store = open_store(cli.database_url)
    try:
        story_id = store.get_event(gone).variants[0].story_id
        with store.write() as tx:
            tx.merge_events(into, gone, story_id=story_id, now=datetime.now(UTC))
    finally:
        store.close()
    out = cli("events", "show", str(gone)).stdout
    assert out.startswith(f"Event {gone} was merged into event {into}; showing that.")
    assert f"Event {into}:" in out
    shown = cli.json("events", "show", str(gone))
    assert (shown["merged_from"], shown["id"]) == (gone, into)


def test_db_status_as_json(tmp_path: Path) -> None:
    """``db status --json`` gives the database, the schema revisions and the row counts."""
    cli = Cli.make(tmp_path / "db")
    cli("db", "migrate")
    status = json.loads(cli("db", "status", "--json").stdout)
    assert status["up_to_date"] is True
    assert status["current"] == status["head"]
    assert status["counts"] == {"feeds": 0, "stories": 0, "events": 0, "memberships": 0}


def test_a_blocked_address_names_the_setting_that_allows_it() -> None:
    """Refusing a blocked address says which setting would allow it."""
    with FaultServer() as server:
        url = server.route("/feed", feed(b"<rss/>"))
        fetcher = Fetcher(FetchPolicy(timeout_s=2, allow_networks=(ip_network("10.9.9.9/32"),)))
        try:
            result = fetcher.fetch(FeedSource(url=url), now=datetime.now(UTC))
        finally:
            fetcher.close()
    assert result.error is not None
    assert result.error.kind == "blocked_address"
    assert "fetch.allow_networks" in str(result.error)


def test_the_closing_hint_names_a_command_that_can_be_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command ``run --once`` suggests is ``ingestor`` when that is on the PATH and is the
    program running, else the running executable's path (relative under the working
    directory)."""
    exe = tmp_path / ".venv" / "bin" / "ingestor"
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n", encoding="utf-8")
    exe.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", [str(exe), "run", "--once"])
    monkeypatch.setenv("PATH", "/nonexistent")
    assert command_name() == os.path.join(".venv", "bin", "ingestor")
    monkeypatch.setenv("PATH", str(exe.parent))
    assert command_name() == "ingestor"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("PATH", "/nonexistent")
    assert command_name() == str(exe)
