"""Order independence on the bundled samples: the five sample feeds polled in each of their 120
orders (each feed's entries oldest first, as a poll assigns them) form exactly the events
``samples/expected.json`` writes down, every time. The hard case stays hard in every order: the
five seed outlets' versions meet as one event, and the look-alikes (Putin in Vietnam two days
later, Kim at Vostochny in 2023, a Turkish quake the day after a Chilean one) stay apart."""

from __future__ import annotations

import functools
import itertools
import json
from datetime import UTC, datetime
from pathlib import Path

from ingestor import normalize, parse
from ingestor.cluster import Clusterer
from ingestor.fingerprint import fingerprint
from ingestor.models import Signature, Story

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
EXPECTED = json.loads((SAMPLES / "expected.json").read_text(encoding="utf-8"))
NOW = datetime(2024, 6, 21, tzinfo=UTC)


@functools.cache
def feed_stories() -> dict[str, list[tuple[str, Story, Signature]]]:
    """Each sample feed's entries as a poll stores them: (guid, story, signature), oldest first."""
    out = {}
    for path in sorted((SAMPLES / "feeds").glob("*.xml")):
        parsed = parse.parse_feed(
            path.read_bytes(), url=path.as_uri(), content_type=None, max_entries=500, now=NOW
        )
        entries = []
        for entry in parsed.entries:
            story = normalize.normalize_entry(
                entry, feed_url=path.as_uri(), feed_title=parsed.title, fetched=NOW
            )
            entries.append((entry.guid or "", story, fingerprint(story)))
        out[path.name] = sorted(entries, key=lambda item: item[1].when)
    return out


def expected_groups() -> set[frozenset[tuple[str, str]]]:
    groups = {
        frozenset((m["feed"], m["guid"]) for m in event["members"] if "feed" in m)
        for event in EXPECTED["events"]
    }
    groups |= {frozenset({(s["feed"], s["guid"])}) for s in EXPECTED["singletons"]}
    return groups


def poll_in(order: tuple[str, ...]) -> set[frozenset[tuple[str, str]]]:
    clusterer = Clusterer()
    events: dict[int, set[tuple[str, str]]] = {}
    story_id = 0
    for name in order:
        for guid, story, signature in feed_stories()[name]:
            story_id += 1
            assignment = clusterer.assign(signature, story.when, dated=story.dated)
            event = assignment.event_id if assignment.event_id is not None else 1000 + story_id
            clusterer.add(
                story_id, event, signature, when=story.when, source=story.source,
                assignment=assignment, dated=story.dated,
            )  # fmt: skip
            event, merges = clusterer.fold(event, assignment.merge_with)
            for merge in merges:
                events.setdefault(merge.into, set()).update(events.pop(merge.gone.id, set()))
            events.setdefault(event, set()).add((name, guid))
    return {frozenset(members) for members in events.values()}


def test_every_poll_order_of_the_sample_feeds_forms_the_expected_events() -> None:
    """All 120 orders give the seven expected events of the sample feeds, none other."""
    expected = expected_groups()
    names = tuple(feed_stories())
    assert len(names) == 5
    wrong = [order for order in itertools.permutations(names) if poll_in(order) != expected]
    assert wrong == []
