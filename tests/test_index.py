"""The LSH index backends: in memory and shared through Redis."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingestor.cluster import Clusterer, ClusterPolicy, LSHIndex
from ingestor.cluster._index import _pipelined_query, _queue_insert, lean
from ingestor.fingerprint import fingerprint
from ingestor.models import IndexedStory, Signature, Story
from tests.services import require_redis

ARTICLES = Path(__file__).resolve().parents[1] / "samples" / "articles"
NOW = datetime(2024, 6, 18, 12, tzinfo=UTC)


def _signatures() -> list[Signature]:
    out = []
    for path in sorted(ARTICLES.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        story = Story(
            source=path.stem, title=text.splitlines()[0], text=text, fetched=NOW,
            content_hash=path.stem,
        )  # fmt: skip
        out.append(fingerprint(story))
    return out


@pytest.fixture
def redis_url() -> str:
    return require_redis()


def _index(url: str = "", namespace: str | None = None) -> LSHIndex:
    return LSHIndex(
        num_perm=128, copy_perm=64, copy_threshold=0.5, candidate_threshold=0.1, url=url,
        namespace=namespace or f"test-{uuid.uuid4().hex[:8]}",
    )  # fmt: skip


def test_memory_index_finds_a_copy_and_the_rewrites_terms() -> None:
    """A story's own signature finds it through both indexes, in memory."""
    signatures = _signatures()
    index = _index()
    for story_id, sig in enumerate(signatures):
        index.insert(story_id, terms=sig.terms, shingles=sig.shingles)
    for story_id, sig in enumerate(signatures):
        assert story_id in index.query_copies(sig.shingles)
        assert story_id in index.query_terms(sig.terms)
    assert index.story_ids() == set(range(len(signatures)))
    index.remove([0])
    assert 0 not in index.story_ids()
    assert 0 not in index


def test_pipelined_redis_layout_is_datasketchs_own(redis_url: str) -> None:
    """What the pipelined writer stores, datasketch's own query reads, and the other way round."""
    from datasketch import MinHashLSH

    signatures = _signatures()
    from ingestor.cluster._index import _redis_params

    name = f"layout-{uuid.uuid4().hex[:8]}:".encode()
    config = {"type": "redis", "basename": name, "redis": _redis_params(redis_url)}
    ours = MinHashLSH(0.1, 128, storage_config=config)
    pipe = ours.keys._redis.pipeline(transaction=False)
    for story_id, sig in enumerate(signatures[:3]):
        _queue_insert(pipe, ours, story_id, lean(sig.terms))
    pipe.execute()
    for story_id, sig in enumerate(signatures[3:], start=3):
        ours.insert(story_id, lean(sig.terms))  # datasketch's own writer
    for sig in signatures:
        assert _pipelined_query(ours, lean(sig.terms)) == set(ours.query(lean(sig.terms)))
    for story_id in range(len(signatures)):
        ours.remove(story_id)


def test_redis_index_holds_writes_until_commit_and_drops_them_on_rollback(
    redis_url: str,
) -> None:
    """Pending inserts are visible to this process at once, to others only after commit."""
    signatures = _signatures()
    namespace = f"test-{uuid.uuid4().hex[:8]}"
    mine, theirs = _index(redis_url, namespace), _index(redis_url, namespace)
    try:
        mine.insert(1, terms=signatures[0].terms, shingles=signatures[0].shingles)
        assert 1 in mine.query_copies(signatures[0].shingles)
        assert 1 not in theirs.query_copies(signatures[0].shingles)
        mine.rollback()
        assert 1 not in mine.query_copies(signatures[0].shingles)
        mine.insert(2, terms=signatures[1].terms, shingles=signatures[1].shingles)
        assert mine.commit() == 1
        assert 2 in theirs.query_copies(signatures[1].shingles)
        assert 2 in theirs.query_terms(signatures[1].terms)
        assert theirs.story_ids() == {2}
    finally:
        mine.clear()


def test_reconcile_repairs_a_shared_index_against_the_store(redis_url: str) -> None:
    """Start-up check: stories the store holds but the index lacks are inserted, and
    index keys the store no longer holds in the window are removed."""
    signatures = _signatures()
    namespace = f"test-{uuid.uuid4().hex[:8]}"
    index = _index(redis_url, namespace)
    try:
        index.insert(99, terms=signatures[0].terms, shingles=signatures[0].shingles)  # stale
        index.commit()
        items = [
            IndexedStory(story_id=i + 1, event_id=1, source=f"s{i}", when=NOW, signature=sig)
            for i, sig in enumerate(signatures)
        ]
        clusterer = Clusterer(ClusterPolicy(), index=index)
        clusterer.load(items, index=False)
        check = clusterer.reconcile(items, newest_id=100)
        assert (check.missing, check.removed) == (len(items), 1)
        assert index.story_ids() == {item.story_id for item in items}
        again = Clusterer(ClusterPolicy(), index=_index(redis_url, namespace))
        again.load(items, index=False)
        check = again.reconcile(items, newest_id=100)
        assert (check.missing, check.removed) == (0, 0)
    finally:
        index.clear()


def test_shared_index_gives_the_same_assignments_as_memory(redis_url: str) -> None:
    """The clusterer decides the same with a Redis-backed index as with the in-memory one."""
    signatures = _signatures()

    def run(index: LSHIndex) -> list[int | None]:
        clusterer = Clusterer(ClusterPolicy(), index=index)
        out = []
        for story_id, sig in enumerate(signatures, start=1):
            when = NOW + timedelta(minutes=story_id)
            assignment = clusterer.assign(sig, when)
            event_id = assignment.event_id or story_id
            clusterer.add(story_id, event_id, sig, when=when, source=str(story_id),
                          assignment=assignment)  # fmt: skip
            clusterer.commit()
            out.append(assignment.event_id)
        return out

    shared = _index(redis_url)
    try:
        assert run(shared) == run(_index())
    finally:
        shared.clear()


@pytest.mark.parametrize("fold_min", [None, 16], ids=["dict-part", "folding"])
def test_the_band_table_answers_as_datasketchs_lsh_does(
    fold_min: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the same MinHash values, with datasketch's band split, the in-memory band table finds
    exactly the stories datasketch's ``MinHashLSH`` finds, and forgets removed ones: with every
    story still in the dict part, and with stories folded into the sorted arrays as they arrive
    (removed after folding, inserted again with other values)."""
    import numpy as np
    from datasketch import MinHashLSH

    from ingestor.cluster import _bands
    from ingestor.cluster._bands import BandTable
    from ingestor.cluster._index import _band_params

    if fold_min is not None:
        monkeypatch.setattr(_bands, "CONSOLIDATE_MIN", fold_min)
    rng = np.random.default_rng(3)
    bands, rows = _band_params(0.1, 128)
    base = rng.integers(0, 2**32, size=(40, 128), dtype=np.uint64).astype(np.uint32)
    # Near neighbours of a few rows share some values with them (and so some bands).
    stories = [base[i % 40].copy() for i in range(200)]
    for values in stories[40:]:
        change = rng.random(128) < rng.uniform(0.3, 0.95)
        values[change] = rng.integers(0, 2**32, size=int(change.sum()), dtype=np.uint64)
    reference = MinHashLSH(num_perm=128, params=(bands, rows))
    table = BandTable(bands, rows)
    for story_id, values in enumerate(stories):
        raw = values.astype("<u4").tobytes()
        reference.insert(story_id, lean(raw))
        table.insert(story_id, raw)
    for story_id in range(0, 200, 7):
        reference.remove(story_id)
        table.remove(story_id)
    for values in stories[:60]:
        raw = values.astype("<u4").tobytes()
        assert table.query(raw) == set(reference.query(lean(raw)))
    assert len(table) == len([k for k in range(200) if k % 7])
    if fold_min is not None:
        assert table.folded > 0
    for story_id in range(0, 100, 14):  # back, as a copy of another story
        raw = stories[story_id + 1].astype("<u4").tobytes()
        reference.insert(story_id, lean(raw))
        table.insert(story_id, raw)
    table.remove(3)
    reference.remove(3)
    for values in stories[:60]:
        raw = values.astype("<u4").tobytes()
        assert table.query(raw) == set(reference.query(lean(raw)))
    table.fold()
    for values in stories[:60]:
        raw = values.astype("<u4").tobytes()
        assert table.query(raw) == set(reference.query(lean(raw)))
    assert sorted(table) == sorted(reference.keys.keys())
