"""Events that split early merge when a later story shows they are one, in memory, in the store
and in every daemon; unrelated events a roundup covers never merge.

The stories here are made of invented words, so that every term weighs the same and the
cosines are set by construction: each event's stories share a core of their own, and the two
events of one story share a smaller core, too small for either event's first story to join the
other's, enough for the grown events' centroids to meet. They carry no published time, so the
score reads their cosines alone (as if half a window apart), and the constructed cosines decide
as they were built to."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingestor import normalize, render
from ingestor.cluster import Clusterer, ClusterPolicy, Merged, Undo
from ingestor.errors import NotFound
from ingestor.fingerprint import FingerprintPolicy, fingerprint
from ingestor.models import Signature, Story
from ingestor.pipeline import Pipeline
from ingestor.store import Store
from tests.local import local_settings

NOW = datetime(2024, 6, 18, 12, tzinfo=UTC)
SYLLABLES = ["".join(p) for p in itertools.product("bcdfgklmnprstvz", "aeiou", "bcdfgklmnprstvz")]


def words(prefix: str, n: int) -> list[str]:
    return [prefix + s for s in SYLLABLES[:n]]


def story(number: int, terms: Sequence[str]) -> Story:
    """Each term twice: every term weighs the same, and the text is long enough to merge events
    (a story under the recipe's ``short_text`` never does)."""
    return normalize.normalize_article(
        " ".join([*terms, *terms]), is_html=False, title=None, url=f"https://outlet{number}.test/story",
        source=f"outlet{number}", published=None, fetched=NOW,
    )  # fmt: skip


SHARED = words("zor", 10)
"""The little the two events of one story share."""
EAST, WEST = words("kel", 12), words("mav", 12)
"""What each event's own stories share."""


def split_story() -> list[Story]:
    """Two events of one story (two stories each), then a story that tells the whole of it."""
    return [
        story(1, SHARED + EAST + words("pa", 12)),
        story(2, SHARED + EAST + words("pb", 12)),
        story(3, SHARED + WEST + words("qa", 12)),
        story(4, SHARED + WEST + words("qb", 12)),
        story(5, SHARED + EAST + WEST),
    ]


def roundup() -> list[Story]:
    """Two unrelated events, then a digest that covers both."""
    return [
        story(1, EAST + words("pa", 12)),
        story(2, EAST + words("pb", 12)),
        story(3, WEST + words("qa", 12)),
        story(4, WEST + words("qb", 12)),
        story(5, EAST + WEST),
    ]


def feed(clusterer: Clusterer, stories: Sequence[Story], *, start: int = 1) -> list[Undo | Merged]:
    """Assign, add and fold stories ``start`` and on (numbered from 1) as the pipeline does;
    a story that starts an event gives it its own number."""
    changes: list[Undo | Merged] = []
    for number in range(start, len(stories) + 1):
        item = stories[number - 1]
        signature = fingerprint(item)
        assignment = clusterer.assign(signature, item.when, dated=item.dated)
        event_id = assignment.event_id if assignment.event_id is not None else number
        changes.append(
            clusterer.add(number, event_id, signature, when=item.when, source=item.source,
                          assignment=assignment, dated=item.dated)
        )  # fmt: skip
        _, merges = clusterer.fold(event_id, assignment.merge_with)
        changes.extend(merges)
    return changes


def partition(clusterer: Clusterer, count: int = 5) -> list[int | None]:
    return [clusterer.event_of(n) for n in range(1, count + 1)]


def test_a_story_that_shows_two_events_are_one_merges_them() -> None:
    clusterer = Clusterer()
    stories = split_story()
    feed(clusterer, stories[:4])
    # Split: each event's first story shared too little with the other's.
    assert partition(clusterer, 4) == [1, 1, 3, 3]
    signature = fingerprint(stories[4])
    assignment = clusterer.assign(signature, NOW, dated=False)
    assert assignment.merge_with == (3,)
    assert assignment.signals["second_probability"] >= ClusterPolicy().merge_probability
    changes = feed(clusterer, stories, start=5)
    merges = [c for c in changes if isinstance(c, Merged)]
    assert [(m.into, m.gone.id) for m in merges] == [(1, 3)]  # equal sizes: the older stays
    assert partition(clusterer) == [1, 1, 1, 1, 1]
    assert clusterer.events == 1
    # The merged centroid is the sum of the members' vectors, as if they had joined one by one.
    vectors = [clusterer.vector(fingerprint(s)) for s in stories]
    total: dict[str, float] = {}
    for vector in vectors:
        for term, x in vector.items():
            total[term] = total.get(term, 0.0) + x
    probe = clusterer.vector(signature)
    expected = sum(probe[t] * total.get(t, 0.0) for t in probe) / math.sqrt(
        sum(x * x for x in total.values())
    )
    assert clusterer.assign(signature, NOW, dated=False).signals["cosine"] == pytest.approx(
        expected, abs=1e-3
    )


def test_a_roundup_of_two_unrelated_stories_merges_nothing() -> None:
    """A digest meets both events' centroids as well as a whole-story version would, but the
    two events do not meet each other without it: no merge, the digest joins one of them."""
    clusterer = Clusterer()
    stories = roundup()
    feed(clusterer, stories[:4])
    assignment = clusterer.assign(fingerprint(stories[4]), NOW, dated=False)
    assert assignment.event_id in (1, 3)
    assert assignment.signals["second_probability"] >= ClusterPolicy().merge_probability
    assert assignment.merge_with == ()
    feed(clusterer, stories, start=5)
    assert clusterer.events == 2


@pytest.mark.parametrize(
    ("policy", "recipe"),
    [
        (ClusterPolicy(merge_probability=1.0), FingerprintPolicy()),
        (ClusterPolicy(), FingerprintPolicy(short_text=1000)),
    ],
    ids=["switched-off", "story-too-short"],
)
def test_no_merge_when_switched_off_or_when_the_story_is_a_summary(
    policy: ClusterPolicy, recipe: FingerprintPolicy
) -> None:
    clusterer = Clusterer(policy, recipe=recipe)
    feed(clusterer, split_story())
    assert clusterer.events == 2


def test_undo_takes_a_merge_back_with_the_story_that_made_it() -> None:
    clusterer = Clusterer()
    stories = split_story()
    feed(clusterer, stories[:4])
    probes = [fingerprint(s) for s in stories]
    before = (
        partition(clusterer, 4),
        [clusterer.assign(p, NOW) for p in probes],
        clusterer.events,
    )
    changes = feed(clusterer, stories, start=5)
    assert any(isinstance(c, Merged) for c in changes)
    clusterer.undo(changes)
    after = (partition(clusterer, 4), [clusterer.assign(p, NOW) for p in probes], clusterer.events)
    assert after[0] == before[0]
    assert after[2] == before[2]
    for was, now in zip(before[1], after[1], strict=True):
        assert (now.event_id, now.reason, now.merge_with) == (
            was.event_id,
            was.reason,
            was.merge_with,
        )
        assert now.similarity == pytest.approx(was.similarity)


def test_a_merge_another_process_committed_is_replayed_whatever_this_one_holds() -> None:
    """``merge`` with both events present folds; with the gone event absent it does nothing;
    with the kept event absent (evicted here) the gone one takes its id; undo reverses each."""
    stories = split_story()

    clusterer = Clusterer()
    feed(clusterer, stories[:4])
    assert clusterer.merge(1, 99) is None
    renamed = clusterer.merge(7, 3)
    assert renamed is not None
    assert partition(clusterer, 4) == [1, 1, 7, 7]
    clusterer.undo([renamed])
    assert partition(clusterer, 4) == [1, 1, 3, 3]
    assert clusterer.events == 2
    folded = clusterer.merge(3, 1)  # the direction is the writer's, not recomputed
    assert folded is not None
    assert partition(clusterer, 4) == [3, 3, 3, 3]


# -- the store and the pipeline ---------------------------------------------------------------


def open_pipeline(url: str, tmp_path: Path) -> Pipeline:
    return Pipeline.open(local_settings(tmp_path, database_url=url), migrate=True, now=NOW)


def items(stories: Sequence[Story]) -> list[tuple[Story, Signature]]:
    return [(s, fingerprint(s)) for s in stories]


def test_the_store_merges_the_events_and_logs_it(database_url: str, tmp_path: Path) -> None:
    """Five stories in three batches: the last merges the first two events. The store then
    holds one event of five; the gone event is listed nowhere and names where it went; its id
    is never given to another event; the index agrees with the store."""
    stories = split_story()
    with open_pipeline(database_url, tmp_path) as pipeline:
        first = pipeline.ingest(items(stories[:2]), now=NOW)
        second = pipeline.ingest(items(stories[2:4]), now=NOW)
        east, west = first.events[0], second.events[0]
        assert east != west
        third = pipeline.ingest(items(stories[4:]), now=NOW)
        assert third.counts.merges == 1
        store = pipeline.store
        listed = store.list_events(limit=10)
        assert [(e.id, e.size, e.sources) for e in listed] == [(east, 5, 5)]
        assert store.counts()["events"] == 1
        assert store.counts()["memberships"] == 5
        with pytest.raises(NotFound, match=f"event {west} was merged into event {east}"):
            store.get_event(west)
        detail = store.get_event(east)
        assert len(detail.variants) == 5
        assert detail.event.canonical_story_id in {v.story_id for v in detail.variants}
        assert [(m.gone, m.story_id) for m in detail.merges] == [
            (west, detail.variants[-1].story_id)
        ]
        shown = render.detail_text(detail, explain=True)
        assert f"Event {west} merged into this one" in shown
        assert render.detail_json(detail)["merged"][0]["event_id"] == west
        merges = store.merges_since(0)
        assert [(m.into, m.gone) for m in merges] == [(east, west)]
        assert store.max_merge_id() == merges[0].id
        assert {pipeline.clusterer.event_of(v.story_id) for v in detail.variants} == {east}
        assert pipeline.clusterer.events == 1
        later = pipeline.ingest(items([story(9, words("unrelated", 30))]), now=NOW)
        assert later.events[0] > west  # the gone event's id is not reused
        assert_index_matches(pipeline)


def assert_index_matches(pipeline: Pipeline) -> None:
    store, clusterer = pipeline.store, pipeline.clusterer
    assert clusterer.events == store.counts()["events"]
    for event in store.list_events(limit=1000):
        for variant in store.get_event(event.id).variants:
            assert clusterer.event_of(variant.story_id) == event.id


def test_another_daemon_replays_the_merge_and_a_restart_loads_it(
    database_url: str, tmp_path: Path
) -> None:
    """Daemon B holds the two events when daemon A merges them: B's next write transaction
    catches up and folds them too, so B's next story joins the merged event; a daemon started
    afterwards loads the merged event from the store."""
    stories = split_story()
    with open_pipeline(database_url, tmp_path) as a, open_pipeline(database_url, tmp_path) as b:
        a.ingest(items(stories[:4]), now=NOW)
        b.ingest([], now=NOW)  # catch up
        assert b.clusterer.events == 2
        a.ingest(items(stories[4:]), now=NOW)
        follower = story(6, SHARED + WEST + EAST[:6] + words("ra", 6))
        written = b.ingest(items([follower]), now=NOW)
        assert written.counts.merges == 0  # A's merge was replayed; nothing left to merge
        assert b.clusterer.events == 1
        assert_index_matches(b)
        assert a.store.counts()["events"] == 1
    with open_pipeline(database_url, tmp_path) as c:
        assert c.clusterer.events == 1
        assert_index_matches(c)


def test_a_failed_transaction_takes_the_merge_back(database_url: str, tmp_path: Path) -> None:
    """The write that merges fails at its end: the store has both events, the clusterer too,
    and the same batch retried merges them."""
    stories = split_story()
    with open_pipeline(database_url, tmp_path) as pipeline:
        pipeline.ingest(items(stories[:4]), now=NOW)
        store: Store = pipeline.store
        counts = store.counts()

        class Boom(Exception):
            pass

        real_write = store.write

        def failing_write():  # type: ignore[no-untyped-def]
            from contextlib import contextmanager

            @contextmanager
            def tx():  # type: ignore[no-untyped-def]
                with real_write() as inner:
                    yield inner
                    raise Boom("the disk is full (injected)")

            return tx()

        pipeline.store.write = failing_write  # type: ignore[method-assign]
        with pytest.raises(Boom):
            pipeline.ingest(items(stories[4:]), now=NOW)
        pipeline.store.write = real_write  # type: ignore[method-assign]
        assert store.counts() == counts
        assert store.merges_since(0) == []
        assert pipeline.clusterer.events == 2
        assert_index_matches(pipeline)
        retried = pipeline.ingest(items(stories[4:]), now=NOW)
        assert retried.counts.merges == 1
        assert store.counts()["events"] == 1
        assert_index_matches(pipeline)


def test_a_chain_of_merges_in_one_batch_leaves_every_event_consistent(
    database_url: str, tmp_path: Path
) -> None:
    """In one batch a story merges event B into A, and a later story merges A (now holding B)
    into a larger C. The first merge's kept event is gone by the end of the batch: the write
    step must set the canonical story of the events that exist, never of A (a ``KeyError`` in
    the clusterer before), and the store ends with one event holding every story."""
    from dataclasses import replace as _replace

    texts = [words(f"w{n}", 30) for n in range(11)]
    stories = [story(n + 1, t) for n, t in enumerate(texts)]
    with open_pipeline(database_url, tmp_path) as pipeline:
        clusterer = pipeline.window.clusterer
        real = clusterer.assign
        plan: dict[str, tuple[int | None, tuple[int, ...]]] = {}

        def assign(signature: Signature, when: datetime, *, dated: bool = True) -> object:
            got = real(signature, when, dated=dated)
            key = next(iter(signature.weights))
            if key in plan:
                event_id, merge_with = plan[key]
                reason = "new" if event_id is None else "rewrite"
                return _replace(got, event_id=event_id, reason=reason, merge_with=merge_with)
            return got

        clusterer.assign = assign  # type: ignore[method-assign]

        def first_term(s: Story) -> str:
            return next(iter(fingerprint(s).weights))

        def batch(members: Sequence[Story], event_id: int | None) -> int:
            """Put ``members`` into one event (a new one unless given): returns its id."""
            for s in members:
                plan[first_term(s)] = (event_id, ())
                written = pipeline.ingest(items([s]), now=NOW)
                event_id = written.events[0]
            assert event_id is not None
            return event_id

        big = batch(stories[0:5], None)  # C: five stories
        a = batch(stories[5:7], None)  # A: two
        b = batch(stories[7:8], None)  # B: one
        x, y = stories[8], stories[9]
        plan[first_term(x)] = (a, (b,))  # x joins A and shows A and B are one: B into A
        plan[first_term(y)] = (big, (a,))  # y joins C and shows C and A are one: A into C
        written = pipeline.ingest(items([x, y]), now=NOW)
        assert written.counts.merges == 2
        listed = pipeline.store.list_events(limit=10)
        assert [(e.id, e.size) for e in listed] == [(big, 10)]
        detail = pipeline.store.get_event(big)
        assert detail.event.canonical_story_id in {v.story_id for v in detail.variants}
        assert {m.gone for m in detail.merges} == {a}
        assert [(m.gone, m.into) for m in pipeline.store.merges_since(0)] == [(b, a), (a, big)]
