"""Curation that sticks: an operator's merge, split, move and delete change the store, keep
every event's size and canonical story consistent, and are taken in by every clustering window
(this process's, another daemon's at its next write, one loaded at start-up or by ``index
rebuild``), so automatic clustering never undoes them.

The stories are ``test_merges``'s invented-word stories: two events of one story and a story
that shows they are one, whose cosines are set by construction."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingestor.app import Ingestor
from ingestor.errors import NotFound, StoreError
from ingestor.fingerprint import fingerprint
from ingestor.models import Story
from ingestor.pipeline import Pipeline
from tests.local import local_settings
from tests.test_merges import (
    EAST,
    NOW,
    SHARED,
    WEST,
    assert_index_matches,
    items,
    open_pipeline,
    split_story,
    story,
    words,
)


def operator(url: str, tmp_path: Path) -> Ingestor:
    return Ingestor(local_settings(tmp_path, database_url=url))


def merged(pipeline: Pipeline) -> tuple[int, list[int]]:
    """The five stories ingested as one event (the fifth merges the first two): its id and
    the story ids, in the order given."""
    written = [pipeline.ingest(items([s]), now=NOW) for s in split_story()]
    event_id = written[-1].events[0]
    detail = pipeline.store.get_event(event_id)
    assert detail.event.size == 5
    ids = sorted(v.story_id for v in detail.variants)
    return event_id, ids


def whole_story(number: int) -> Story:
    """Another telling of the whole story: joins one side and meets the other."""
    return story(number, SHARED + EAST + WEST + words(f"x{number}", 4))


def assert_consistent(pipeline: Pipeline) -> None:
    """Every event's size is its members, its canonical story one of them, and the window
    agrees with the store."""
    store = pipeline.store
    for event in store.list_events(limit=1000):
        detail = store.get_event(event.id)
        assert event.size == len(detail.variants)
        assert event.canonical_story_id in {v.story_id for v in detail.variants}
        whens = [v.story.when for v in detail.variants]
        assert (event.first_seen, event.last_seen) == (min(whens), max(whens))
    assert_index_matches(pipeline)


def test_a_split_story_is_never_merged_back_by_this_or_another_daemon(
    database_url: str, tmp_path: Path
) -> None:
    """The west stories split off form a new event; a later story that shows the two are one
    merges nothing, in the daemon that was running during the split (it replays the log at
    its next write), in a daemon started afterwards, and after ``index rebuild``."""
    with open_pipeline(database_url, tmp_path) as daemon:
        event_id, ids = merged(daemon)
        west = [ids[2], ids[3]]
        with operator(database_url, tmp_path) as app:
            new = app.split_event(event_id, west, now=NOW)
        assert new > event_id
        store = daemon.store
        assert store.get_event(event_id).event.size == 3
        assert {v.story_id for v in store.get_event(new).variants} == set(west)
        assert store.separations() == [(event_id, new)]
        written = daemon.ingest(items([whole_story(6)]), now=NOW)
        assert written.counts.merges == 0
        assert {daemon.clusterer.event_of(i) for i in west} == {new}
        assert_consistent(daemon)
    with open_pipeline(database_url, tmp_path) as restarted:
        assert restarted.ingest(items([whole_story(7)]), now=NOW).counts.merges == 0
        assert_consistent(restarted)
        restarted.rebuild_index(now=NOW)
        assert restarted.ingest(items([whole_story(8)]), now=NOW).counts.merges == 0
        assert {restarted.clusterer.event_of(i) for i in west} == {new}
        assert_consistent(restarted)
        assert restarted.store.counts()["events"] == 2


def test_without_the_split_the_same_story_merges(database_url: str, tmp_path: Path) -> None:
    """The control for the test above: two events that were never split apart are merged by
    such a story."""
    with open_pipeline(database_url, tmp_path) as daemon:
        for s in split_story()[:4]:
            daemon.ingest(items([s]), now=NOW)
        assert daemon.store.counts()["events"] == 2
        assert daemon.ingest(items([whole_story(6)]), now=NOW).counts.merges == 1


def test_a_manual_merge_is_replayed_and_lifts_a_separation(
    database_url: str, tmp_path: Path
) -> None:
    """Merging the split events back by hand: logged in the merge log, so another daemon's
    window folds them like an automatic merge; the separation is gone; sizes add up."""
    with open_pipeline(database_url, tmp_path) as daemon:
        event_id, ids = merged(daemon)
        with operator(database_url, tmp_path) as app:
            new = app.split_event(event_id, ids[2:4], now=NOW)
        daemon.ingest([], now=NOW)
        assert daemon.clusterer.events == 2
        with operator(database_url, tmp_path) as app:
            app.merge_events(new, event_id, now=NOW)
            with pytest.raises(NotFound, match=f"no event {event_id}"):
                app.merge_events(new, event_id, now=NOW)
            with pytest.raises(StoreError, match="into itself"):
                app.merge_events(new, new, now=NOW)
        store = daemon.store
        assert store.separations() == []
        assert store.get_event(new).event.size == 5
        assert [(m.into, m.gone) for m in store.merges_since(0)][-1] == (new, event_id)
        daemon.ingest([], now=NOW)
        assert daemon.clusterer.events == 1
        assert {daemon.clusterer.event_of(i) for i in ids} == {new}
        assert_consistent(daemon)


def test_a_moved_story_stays_and_an_emptied_event_disappears(
    database_url: str, tmp_path: Path
) -> None:
    """A story moved into another event stays there in every window; moving an event's only
    story empties it (listed nowhere, its id not reused); bad moves are one-line errors."""
    with open_pipeline(database_url, tmp_path) as daemon:
        first = daemon.ingest(items(split_story()[:2]), now=NOW)
        second = daemon.ingest(items(split_story()[2:4]), now=NOW)
        east, west = first.events[0], second.events[0]
        lone = daemon.ingest(items([story(9, words("lone", 30))]), now=NOW).events[0]
        store = daemon.store
        east_ids = sorted(v.story_id for v in store.get_event(east).variants)
        lone_id = store.get_event(lone).variants[0].story_id
        with operator(database_url, tmp_path) as app:
            assert app.move_story(east_ids[1], west, now=NOW) == east
            assert app.move_story(lone_id, west, now=NOW) == lone
            with pytest.raises(StoreError, match="already in event"):
                app.move_story(lone_id, west, now=NOW)
            with pytest.raises(NotFound, match="no story 999"):
                app.move_story(999, west, now=NOW)
            with pytest.raises(NotFound, match=f"no event {lone}"):
                app.move_story(east_ids[0], lone, now=NOW)
        assert store.get_event(west).event.size == 4
        assert store.get_event(east).event.size == 1
        with pytest.raises(NotFound):
            store.get_event(lone)
        assert (east, west) in store.separations()
        daemon.ingest([], now=NOW)
        assert daemon.clusterer.event_of(east_ids[1]) == west
        assert daemon.clusterer.event_of(lone_id) == west
        assert daemon.ingest(items([whole_story(6)]), now=NOW).counts.merges == 0
        assert_consistent(daemon)
    with open_pipeline(database_url, tmp_path) as restarted:
        assert restarted.clusterer.event_of(east_ids[1]) == west
        assert_consistent(restarted)


def test_a_deleted_event_does_not_come_back_on_the_next_poll(
    database_url: str, tmp_path: Path
) -> None:
    """Deleting an event removes it and its memberships; its stories stay known, so the same
    stories arriving again are duplicates, not a new event; every window forgets them."""
    with open_pipeline(database_url, tmp_path) as daemon:
        first = daemon.ingest(items(split_story()[:2]), now=NOW)
        event_id = first.events[0]
        ids = sorted(v.story_id for v in daemon.store.get_event(event_id).variants)
        with operator(database_url, tmp_path) as app:
            assert app.delete_event(event_id, now=NOW) == 2
            with pytest.raises(NotFound):
                app.delete_event(event_id, now=NOW)
            shown = app.get_story(ids[0])
            assert shown.event_id is None
            assert shown.deleted_at is not None
        again = daemon.ingest(items(split_story()[:2]), now=NOW)
        assert again.counts.duplicates == 2
        assert again.counts.new == 0
        assert daemon.store.counts()["events"] == 0
        with pytest.raises(NotFound, match=f"event {event_id} was deleted"):
            daemon.store.get_event(event_id)
        assert all(daemon.clusterer.event_of(i) is None for i in ids)
        assert_consistent(daemon)
    with open_pipeline(database_url, tmp_path) as restarted:
        assert restarted.clusterer.events == 0
        assert restarted.ingest(items(split_story()[:2]), now=NOW).counts.new == 0


def test_bad_splits_are_refused_and_change_nothing(database_url: str, tmp_path: Path) -> None:
    """A split must name members of the event and leave one behind."""
    with open_pipeline(database_url, tmp_path) as daemon:
        first = daemon.ingest(items(split_story()[:2]), now=NOW)
        other = daemon.ingest(items([story(9, words("lone", 30))]), now=NOW)
        event_id = first.events[0]
        ids = sorted(v.story_id for v in daemon.store.get_event(event_id).variants)
        foreign = daemon.store.get_event(other.events[0]).variants[0].story_id
        before = daemon.store.counts()
        with operator(database_url, tmp_path) as app:
            with pytest.raises(StoreError, match="at least one story"):
                app.split_event(event_id, ids, now=NOW)
            with pytest.raises(StoreError, match=f"story {foreign} is not in event"):
                app.split_event(event_id, [foreign], now=NOW)
            with pytest.raises(NotFound):
                app.split_event(123456, [ids[0]], now=NOW)
        assert daemon.store.counts() == before
        assert daemon.store.curations_since(0) == []


def test_curation_keeps_the_canonical_story_by_policy(database_url: str, tmp_path: Path) -> None:
    """The stories left after a split get the canonical story the policy picks (the most
    complete variant here), never a story that left."""
    with open_pipeline(database_url, tmp_path) as daemon:
        event_id, _ = merged(daemon)
        with operator(database_url, tmp_path) as app:
            canonical = app.get_event(event_id).event.canonical_story_id
            app.split_event(event_id, [canonical], now=NOW + timedelta(minutes=1))
            detail = app.get_event(event_id)
        lengths = {v.story_id: fingerprint(v.story).length for v in detail.variants}
        assert detail.event.canonical_story_id == max(lengths, key=lambda i: (lengths[i], -i))
        assert canonical not in lengths


def test_separations_follow_merges_in_the_window_and_undo_restores_them() -> None:
    """Events kept apart stay apart when one of them is merged into a third (as the store
    carries the separation over), and undoing that merge restores the pair as it was."""
    from ingestor.cluster import Clusterer
    from tests.test_merges import feed, roundup

    clusterer = Clusterer()
    feed(clusterer, roundup()[:4])
    assert clusterer.plan_merge(1, 3) is not None
    clusterer.set_separations([(1, 3)])
    assert clusterer.plan_merge(1, 3) is None
    feed(clusterer, [*roundup()[:4], story(9, words("lone", 30))], start=5)
    change = clusterer.merge(5, 1)
    assert change is not None
    assert clusterer.plan_merge(5, 3) is None
    clusterer.undo([change])
    assert clusterer.plan_merge(1, 3) is None
    assert clusterer.plan_merge(5, 3) is not None


def test_a_deleted_events_stories_leave_a_shared_index(tmp_path: Path) -> None:
    """With a shared Redis index, deleting an event takes its stories out of the index too,
    whether or not a daemon is running to replay the deletion."""
    import redis

    from ingestor.cluster import make_index
    from ingestor.pipeline._window import namespace
    from tests.services import require_redis

    url = require_redis()
    redis.Redis.from_url(url).flushdb()
    settings = local_settings(tmp_path, index_url=url)
    with Pipeline.open(settings, migrate=True, now=NOW) as daemon:
        event_id = daemon.ingest(items(split_story()[:2]), now=NOW).events[0]
        ids = {v.story_id for v in daemon.store.get_event(event_id).variants}
        assert ids <= daemon.clusterer.index.story_ids()
    with Ingestor(settings) as app:
        app.delete_event(event_id, now=NOW)
    shared = make_index(settings.cluster, settings.fingerprint, url=url,
                        namespace=namespace(settings))  # fmt: skip
    assert not ids & shared.story_ids()  # gone before any daemon's start-up check
    with Pipeline.open(settings, migrate=True, now=NOW) as restarted:
        assert restarted.ingest(items(split_story()[:2]), now=NOW).counts.new == 0


_OPS = st.lists(
    st.tuples(
        st.sampled_from(["split", "move", "merge", "delete"]),
        st.integers(0, 7),
        st.integers(0, 7),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=12, deadline=None)
@given(ops=_OPS)
def test_any_sequence_of_curation_keeps_the_store_and_a_window_consistent(
    ops: list[tuple[str, int, int]],
) -> None:
    """Whatever the operator does, in whatever order (refused steps change nothing): sizes
    are memberships, canonical stories are members, and a running daemon's window, once caught
    up, agrees with the store, as does one loaded afresh."""
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        url = f"sqlite:///{tmp / 'ingestor.db'}"
        with open_pipeline(url, tmp) as daemon:
            for s in split_story()[:4]:
                daemon.ingest(items([s]), now=NOW)
            daemon.ingest(items([story(9, words("lone", 30))]), now=NOW)
            stories = sorted(
                v.story_id
                for e in daemon.store.list_events(limit=100)
                for v in daemon.store.get_event(e.id).variants
            )
            with operator(url, tmp) as app:
                for action, x, y in ops:
                    events = [e.id for e in app.list_events(limit=100)]
                    if not events:
                        break
                    event = events[x % len(events)]
                    other = events[y % len(events)]
                    try:
                        if action == "split":
                            members = [v.story_id for v in app.get_event(event).variants]
                            app.split_event(event, members[: 1 + y % 2], now=NOW)
                        elif action == "move":
                            app.move_story(stories[x % len(stories)], other, now=NOW)
                        elif action == "merge":
                            app.merge_events(event, other, now=NOW)
                        else:
                            app.delete_event(event, now=NOW)
                    except StoreError:
                        pass
                    daemon.ingest([], now=NOW)
                    assert_consistent(daemon)
        with open_pipeline(url, tmp) as restarted:
            assert_consistent(restarted)


def test_a_story_moved_in_from_outside_the_window_joins_a_shared_index(tmp_path: Path) -> None:
    """A story of an old event (outside every window, so out of the shared index) moved into
    a current event is in the shared index once a daemon has replayed the move."""
    import redis

    from ingestor.cluster import make_index
    from ingestor.pipeline._window import namespace
    from tests.services import require_redis

    url = require_redis()
    redis.Redis.from_url(url).flushdb()
    settings = local_settings(tmp_path, index_url=url)
    old = replace_time(story(8, words("ancient", 30)), NOW - timedelta(days=10))
    with Pipeline.open(settings, migrate=True, now=NOW) as writer:
        old_event = writer.ingest(items([old]), now=NOW).events[0]
        current = writer.ingest(items(split_story()[:2]), now=NOW).events[0]
    with Pipeline.open(settings, now=NOW) as daemon:
        moved = daemon.store.get_event(old_event).variants[0].story_id
        shared = make_index(settings.cluster, settings.fingerprint, url=url,
                            namespace=namespace(settings))  # fmt: skip
        assert moved not in shared.story_ids()  # the start-up check left out the old story
        with Ingestor(settings) as app:
            app.move_story(moved, current, now=NOW)
        daemon.ingest([], now=NOW)
        assert daemon.clusterer.event_of(moved) == current
        assert moved in shared.story_ids()


def replace_time(item: Story, when: datetime) -> Story:
    from dataclasses import replace

    return replace(item, fetched=when)
