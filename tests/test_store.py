"""The store contract, one suite run against SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import random
import struct
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from ingestor.errors import NotFound, StoreError
from ingestor.models import Assignment, FeedSource, FeedState, Signature, Story, StoryKey
from ingestor.store import open_store
from ingestor.store.sql import SQLStore
from ingestor.store.tx import SQLWriteTx
from tests.services import postgres_schema, require_postgres

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
NEW = Assignment(event_id=None, reason="new", similarity=0.0)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'ingestor.db'}"
        return
    # A session zone far from UTC, so any value the store failed to convert would show.
    with postgres_schema(require_postgres(), timezone="Asia/Kolkata") as url:
        yield url


def _open(url: str, **kwargs: int) -> SQLStore:
    store = open_store(url, **kwargs)
    assert isinstance(store, SQLStore)
    return store


@pytest.fixture
def store(store_url: str) -> Iterator[SQLStore]:
    with _open(store_url) as opened:
        opened.migrate()
        yield opened


def make_signature(seed: int) -> Signature:
    rng = random.Random(seed)
    return Signature(
        version="mh-w5-128/t64",
        shingles=struct.pack("<128I", *(rng.getrandbits(32) for _ in range(128))),
        terms=struct.pack("<64I", *(rng.getrandbits(32) for _ in range(64))),
        weights={"flood": 0.7310585786300049, "ministry": 1.25, "Київ": rng.random()},
        length=rng.randint(50, 900),
        credits=("Reuters", "AFP"),
    )


def make_story(n: int, *, source: str = "news.example.com", **fields: object) -> Story:
    text = fields.pop("text", f"Story {n}: the river rose overnight and {n} homes were evacuated.")
    assert isinstance(text, str)
    base = Story(
        source=source,
        title=f"Flood update {n}",
        text=text,
        fetched=T0 + timedelta(minutes=n),
        content_hash=hashlib.sha256(text.encode()).hexdigest(),
        url=f"https://{source}/2024/05/flood-{n}",
        guid=f"urn:{source}:{n}",
        html=f"<p>{text}</p>",
        published=T0 + timedelta(minutes=n) - timedelta(hours=1),
        feed_url=f"https://{source}/rss.xml",
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def ingest(tx: SQLWriteTx, story: Story, *, feed_id: int | None = None, seed: int = 0) -> int:
    """The pipeline's exact-copy path: find first, insert only when new."""
    match = tx.find_story(StoryKey.of(story, feed_id))
    if match is not None:
        return match.story_id
    return tx.insert_story(story, make_signature(seed), feed_id=feed_id)


def new_event(store: SQLStore, *stories: Story, now: datetime = T0) -> tuple[int, list[int]]:
    with store.write() as tx:
        ids = [ingest(tx, s, seed=i) for i, s in enumerate(stories)]
        event_id = tx.create_event(ids[0], now=now)
        for story_id in ids:
            tx.add_membership(story_id, event_id, NEW, now=now)
    return event_id, ids


def known(store: SQLStore, url: str) -> FeedSource:
    feed = store.get_feed(url)
    assert feed is not None, url
    return feed


def scalar(url: str, query: str) -> object:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(query)).scalar()
    finally:
        engine.dispose()


def test_open_does_not_migrate_and_migrate_reaches_head(store_url: str) -> None:
    """A new database opens at no revision, refuses queries as StoreError, and migrates to head."""
    with _open(store_url) as store:
        before = store.schema_status()
        assert before.current is None
        assert not before.up_to_date
        with pytest.raises(StoreError):
            store.counts()
        after = store.migrate()
        assert after.up_to_date
        assert after.current == after.head
        assert store.migrate() == after
        assert store.schema_status() == after
        assert store.counts() == {"feeds": 0, "stories": 0, "events": 0, "memberships": 0}


def test_unreachable_and_unsupported_urls_give_one_line_errors(tmp_path: Path) -> None:
    """Unreachable servers and unknown schemes fail at open with one line and no password."""
    with pytest.raises(StoreError) as caught:
        open_store("postgres://postgres:hunter2@127.0.0.1:1/test")
    assert "\n" not in str(caught.value)
    assert "hunter2" not in str(caught.value)
    assert "cannot reach" in str(caught.value)
    with pytest.raises(StoreError, match="unsupported"):
        open_store("mysql://root@127.0.0.1/ingestor")
    store = SQLStore("postgresql://user:hunter2@db.internal:5432/news")
    assert store.url == "postgresql+psycopg://user:***@db.internal:5432/news"
    assert open_store(f"sqlite:///{tmp_path}/a/b/c.db").schema_status().current is None


def test_reingest_is_idempotent_and_found_by_every_key(store: SQLStore) -> None:
    """The same story twice is one row, found by guid, canonical url, external id and content."""
    feed = store.add_feed("https://news.example.com/rss.xml", now=T0)
    story = make_story(1, external_id="dataset-17")
    for _ in range(2):
        with store.write() as tx:
            story_id = ingest(tx, story, feed_id=feed.id)
    assert store.counts()["stories"] == 1
    with store.write() as tx:
        by_guid = tx.find_story(StoryKey("x", "other", feed_id=feed.id, guid=story.guid))
        by_url = tx.find_story(StoryKey("x", "other", guid="urn:other", url=story.url))
        by_external = tx.find_story(StoryKey("x", "o", external_id="dataset-17"))
        by_content = tx.find_story(StoryKey(story.content_hash, story.source))
        other_feed = tx.find_story(StoryKey("x", story.source, guid=story.guid))
    assert by_guid is not None
    assert by_guid.matched_on == "guid"
    assert by_url is not None
    assert by_url.matched_on == "url"
    assert by_external is not None
    assert by_external.story_id == story_id
    assert by_content is not None
    assert by_content.matched_on == "content"
    assert {by_guid.story_id, by_url.story_id, by_content.story_id} == {story_id}
    assert by_content.content_hash == story.content_hash
    assert by_content.event_id is None
    assert other_feed is None
    # The same lookup outside a write transaction (the poll asks it before fetching a page).
    read = store.find_story(StoryKey("x", "other", feed_id=feed.id, guid=story.guid))
    assert read == by_guid
    unknown = store.find_story(StoryKey("x", "other", feed_id=feed.id, guid="urn:new"))
    assert unknown is None


def test_unique_indexes_back_up_find_story(store: SQLStore) -> None:
    """Inserting a copy without looking first is refused and rolls the whole write back."""
    with store.write() as tx:
        tx.insert_story(make_story(1), None, feed_id=None)

    def insert_new_then(copy: Story) -> None:
        with store.write() as tx:
            tx.insert_story(make_story(2), None, feed_id=None)
            tx.insert_story(copy, None, feed_id=None)

    for copy in (make_story(1, guid=None, text="other"), make_story(1, url=None, guid=None)):
        with pytest.raises(StoreError, match="constraint"):
            insert_new_then(copy)
    assert store.counts()["stories"] == 1


def test_update_story_keeps_at_most_max_revisions(store_url: str) -> None:
    """Edits replace the text and keep previous versions up to the cap, then are refused."""
    with _open(store_url, max_revisions=2) as store:
        store.migrate()
        _, (story_id,) = new_event(store, make_story(1))
        results = []
        for n in range(3):
            edited = make_story(1, text=f"Corrected {n}: the river rose.", title=f"Fix {n}")
            edited = replace(edited, fetched=T0 + timedelta(hours=n + 1))
            with store.write() as tx:
                results.append(tx.update_story(story_id, edited, make_signature(n)))
                assert not tx.update_story(story_id, edited, None)  # same hash: no change
        assert results == [True, True, False]
        variant = store.get_event(store.list_events()[0].id).variants[0]
        assert variant.story.text == "Corrected 1: the river rose."
        assert variant.story.fetched == make_story(1).fetched
        assert scalar(store_url, "SELECT count(*) FROM story_revisions") == 2
        assert scalar(store_url, "SELECT revisions FROM stories") == 2


def test_event_counters_follow_memberships(store: SQLStore) -> None:
    """Size and first/last seen come from the members' times; one event per story."""
    late = make_story(1)
    early = make_story(2, published=T0 - timedelta(days=1))
    unpublished = make_story(3, published=None)
    event_id, ids = new_event(store, late, early, unpublished)
    (event,) = store.list_events()
    assert (event.size, event.sources) == (3, 1)
    assert event.first_seen == early.when
    assert event.last_seen == unpublished.fetched
    with store.write() as tx:
        tx.add_membership(ids[0], event_id, NEW, now=T0)  # already there: no change
    assert store.list_events()[0].size == 3
    other, _ = new_event(store, make_story(9))
    with pytest.raises(StoreError, match="already belongs"), store.write() as tx:
        tx.add_membership(ids[1], other, NEW, now=T0)
    with pytest.raises(NotFound), store.write() as tx:
        tx.add_membership(ids[1], 10_000, NEW, now=T0)


def test_exception_rolls_back_stories_and_feed_state(store: SQLStore) -> None:
    """An exception inside write() leaves no story and the feed's poll state untouched."""
    feed = store.add_feed("https://news.example.com/rss.xml", now=T0)
    assert feed.id is not None
    state = FeedState(
        status="active",
        next_poll_at=T0 + timedelta(hours=1),
        last_polled_at=T0,
        last_status="200",
        consecutive_errors=0,
        etag='"abc"',
    )

    def poll_then_crash(feed_id: int) -> None:
        with store.write() as tx:
            new_story = tx.insert_story(make_story(1), make_signature(1), feed_id=feed_id)
            tx.add_membership(new_story, tx.create_event(new_story, now=T0), NEW, now=T0)
            tx.update_feed(feed_id, state)
            raise RuntimeError("crash between stories and commit")

    with pytest.raises(RuntimeError, match="crash"):
        poll_then_crash(feed.id)
    assert store.counts() == {"feeds": 1, "stories": 0, "events": 0, "memberships": 0}
    assert store.get_feed(feed.url) == feed


def test_feed_lifecycle(store: SQLStore) -> None:
    """Add, remove, sync and revive keep tombstones; revived feeds are due at once."""
    a, b, c = (f"https://{h}.example.org/feed" for h in "abc")
    store.add_feed(a, now=T0, title="A")
    assert store.sync_feeds([a, b, b, ""], now=T0) == 1
    assert store.remove_feed(b)
    assert not store.remove_feed(c)
    assert store.sync_feeds([a, b, c], now=T0) == 1
    assert [f.url for f in store.list_feeds()] == [a, c]
    assert known(store, b).status == "removed"
    assert len(store.list_feeds(include_removed=True)) == 3
    later = T0 + timedelta(days=2)
    feed_c = known(store, c)
    assert feed_c.id is not None
    with store.write() as tx:
        parked = FeedState("parked", later + timedelta(days=9), later, "error", 10, last_error="x")
        tx.update_feed(feed_c.id, parked)
    with store.write() as tx:  # a poll that ends after the operator removed the feed
        tx.update_feed(known(store, b).id or 0, FeedState("active", later, later, "200", 0))
    assert known(store, b).status == "removed"
    revived_b, revived_c = store.add_feed(b, now=later), store.add_feed(c, now=later)
    assert (revived_b.status, revived_b.next_poll_at) == ("active", later)
    assert (revived_c.status, revived_c.consecutive_errors, revived_c.last_error) == (
        "active",
        0,
        None,
    )
    assert known(store, a).title == "A"


def test_due_feeds_most_overdue_first(store: SQLStore) -> None:
    """Only active feeds due at now, most overdue first (ties in order added), up to limit."""
    urls = [f"https://feeds.example.net/{n}" for n in range(5)]
    schedule = [T0 - timedelta(hours=1), T0 + timedelta(hours=1), T0 - timedelta(hours=2), T0, T0]
    for url, when in zip(urls, schedule, strict=True):
        feed = store.add_feed(url, now=T0)
        assert feed.id is not None
        with store.write() as tx:
            tx.update_feed(feed.id, FeedState("active", when, T0, "200", 0))
    store.sync_feeds(["https://feeds.example.net/never"], now=T0)
    store.remove_feed(urls[4])
    due = [f.url for f in store.due_feeds(now=T0, limit=10)]
    assert due == [urls[2], urls[0], urls[3], "https://feeds.example.net/never"]
    assert [f.url for f in store.due_feeds(now=T0, limit=2)] == due[:2]


def _claim_all(url: str, owner: str, start: threading.Barrier, out: dict[str, list[int]]) -> None:
    with _open(url) as store:
        start.wait(timeout=30)
        while claimed := store.claim_due_feeds(now=T0, limit=3, owner=owner, lease_s=600):
            out[owner].extend(f.id for f in claimed if f.id is not None)


def test_claims_never_hand_one_feed_to_two_owners(store: SQLStore, store_url: str) -> None:
    """Concurrent claimers on separate connections split the due feeds without overlap."""
    store.sync_feeds([f"https://feeds.example.com/{n}" for n in range(24)], now=T0)
    owners = [f"daemon-{n}" for n in range(4)]
    out: dict[str, list[int]] = {owner: [] for owner in owners}
    start = threading.Barrier(len(owners))
    threads = [threading.Thread(target=_claim_all, args=(store_url, o, start, out)) for o in owners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    claimed = [feed_id for ids in out.values() for feed_id in ids]
    assert sorted(claimed) == sorted(f.id or 0 for f in store.list_feeds())
    assert store.due_feeds(now=T0, limit=100) == []


def test_leases_expire_release_and_end_with_update_feed(store: SQLStore) -> None:
    """A lease blocks other claimers until it expires, is released, or the poll is recorded."""
    store.sync_feeds(["https://a.example/feed", "https://b.example/feed"], now=T0)
    first = store.claim_due_feeds(now=T0, limit=1, owner="one", lease_s=60)
    assert len(first) == 1
    assert first[0].id is not None
    second = store.claim_due_feeds(now=T0, limit=5, owner="two", lease_s=60)
    assert [f.id for f in second] != [first[0].id]
    assert len(second) == 1
    assert (
        store.claim_due_feeds(now=T0 + timedelta(seconds=59), limit=5, owner="x", lease_s=5) == []
    )
    expired = store.claim_due_feeds(
        now=T0 + timedelta(seconds=60), limit=5, owner="three", lease_s=60
    )
    assert len(expired) == 2
    assert not store.release_feed(first[0].id, "one")
    assert store.release_feed(first[0].id, "three")
    assert [f.id for f in store.due_feeds(now=T0 + timedelta(seconds=61), limit=5)] == [first[0].id]
    assert second[0].id is not None
    with store.write() as tx:
        tx.update_feed(second[0].id, FeedState("active", T0, T0, "304", 0))
    assert (
        len(store.claim_due_feeds(now=T0 + timedelta(seconds=61), limit=5, owner="4", lease_s=9))
        == 2
    )


def test_index_round_trips_signatures(store: SQLStore) -> None:
    """iter_index and stories_since return members only, in id order, with exact signatures."""
    old = make_story(1, published=T0 - timedelta(days=30))
    event_id, ids = new_event(store, old, make_story(2), make_story(3))
    with store.write() as tx:
        tx.insert_story(make_story(4), make_signature(4), feed_id=None)  # no event yet
    mark = store.max_story_id()
    assert mark == max(ids) + 1
    indexed = list(store.iter_index(since=T0 - timedelta(days=1)))
    assert [i.story_id for i in indexed] == ids[1:]
    assert [i.signature for i in indexed] == [make_signature(1), make_signature(2)]
    assert {i.event_id for i in indexed} == {event_id}
    assert indexed[0].when == make_story(2).when
    assert indexed[0].title == "Flood update 2"
    assert store.stories_since(mark) == []
    _, later = new_event(store, make_story(5))
    (caught_up,) = store.stories_since(mark)
    assert caught_up.story_id == later[0]
    assert caught_up.signature == make_signature(0)
    assert [i.story_id for i in store.stories_since(0)] == [*ids, *later]


def test_events_listing_and_detail(store: SQLStore) -> None:
    """list_events filters (``since`` by ingestion time: when stories joined), pages and sorts
    newest first; count_events counts what it pages through; get_event rebuilds every variant
    exactly."""
    small, _ = new_event(store, make_story(1, published=T0 - timedelta(days=3)))
    variants = [
        make_story(10, source="a.example", published=T0 + timedelta(hours=2)),
        make_story(11, source="b.example", published=T0, external_id="ds-11", html=None),
        make_story(12, source="a.example", url=None, guid=None, published=None, feed_url=None),
    ]
    big, ids = new_event(store, *variants)
    assert [e.id for e in store.list_events()] == [big, small]
    assert [e.id for e in store.list_events(min_size=2)] == [big]
    # Both were ingested at T0, though the small one's story was published three days before.
    assert [e.id for e in store.list_events(since=T0)] == [big, small]
    assert store.list_events(since=T0 + timedelta(seconds=1)) == []
    assert [e.id for e in store.list_events(limit=1)] == [big]
    assert [e.id for e in store.list_events(limit=1, offset=1)] == [small]
    assert store.list_events(offset=2) == []
    assert store.count_events() == 2
    assert store.count_events(min_size=2) == 1
    assert store.count_events(since=T0 + timedelta(seconds=1)) == 0
    with store.write() as tx:
        tx.set_canonical(big, ids[1])
        with pytest.raises(StoreError, match="not a member"):
            tx.set_canonical(small, ids[1])
    detail = store.get_event(big)
    assert detail.event.title == "Flood update 11"
    assert detail.event.sources == 2
    assert detail.canonical.story == variants[1]
    assert [v.story for v in detail.variants] == [variants[1], variants[2], variants[0]]
    assert all(v.reason == "new" and v.joined_at == T0 for v in detail.variants)
    with pytest.raises(NotFound):
        store.get_event(10_000)


def test_signals_and_times_come_back_utc(store: SQLStore) -> None:
    """Datetimes given in any UTC form return as timezone.utc values, to the microsecond."""
    plus_zero = timezone(timedelta(0), "Z")
    now = datetime(2024, 12, 31, 23, 59, 59, 999999, tzinfo=plus_zero)
    feed = store.add_feed("https://tz.example/feed", now=now)
    assert feed.next_poll_at == now
    assert feed.next_poll_at.tzinfo is UTC
    story = make_story(1, published=datetime(2024, 2, 29, 0, 0, 1, tzinfo=plus_zero))
    with store.write() as tx:
        story_id = tx.insert_story(story, None, feed_id=feed.id)
        event_id = tx.create_event(story_id, now=now)
        signals = {"jaccard": 0.8125, "terms": 1.0 / 3.0}
        tx.add_membership(story_id, event_id, Assignment(None, "rewrite", 0.5, signals), now=now)
    detail = store.get_event(event_id)
    (variant,) = detail.variants
    assert variant.signals == signals
    assert variant.similarity == 0.5
    times = [detail.event.first_seen, variant.joined_at, variant.story.published]
    assert all(t is not None and t.tzinfo is UTC for t in times)
    assert variant.story.published == story.published
    assert variant.joined_at == now


def test_concurrent_writers_are_serialized(store: SQLStore, store_url: str) -> None:
    """Writers in other threads wait for the open write transaction instead of failing, and
    find-then-insert of the same stories from several writers yields one row each."""
    log: list[str] = []
    inside = threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        with store.write() as tx:
            log.append("first-in")
            inside.set()
            ingest(tx, make_story(1))
            threading.Event().wait(0.3)  # hold the lock while the second writer knocks
            log.append("first-out")

    def second() -> None:
        inside.wait(timeout=30)
        with _open(store_url) as other, other.write() as tx:
            log.append("second-in")
            ingest(tx, make_story(2))

    def many(seed: int) -> None:
        try:
            with _open(store_url) as other:
                for n in range(8):
                    with other.write() as tx:
                        ingest(tx, make_story(100 + (n + seed) % 8), seed=n)
        except BaseException as e:  # surfaced below: a thread's failure must fail the test
            errors.append(e)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads += [threading.Thread(target=many, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert log == ["first-in", "first-out", "second-in"]
    assert store.counts()["stories"] == 2 + 8
