"""Event assignment on the sample texts: copies join as copies, the five seed rewrites join one
event while every look-alike stays apart, time windows hold, ``undo`` and ``evict`` do exactly
what they say, the canonical story follows its rule, and a rebuilt index decides like the live
one. Inputs are the texts under ``samples/`` (articles, and feed entries through the real parse
and normalize stages); which entry is which story comes from ``samples/expected.json``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingestor import normalize, parse
from ingestor.cluster import Clusterer, ClusterPolicy, Member, Undo, choose_canonical
from ingestor.fingerprint import fingerprint
from ingestor.models import IndexedStory, Signature, Story

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
NOW = datetime(2024, 7, 1, tzinfo=UTC)
POLICY = ClusterPolicy()
WINDOW = POLICY.window


@dataclass(frozen=True)
class Sample:
    """One sample story with its fingerprint and the expected group it belongs to."""

    group: str
    story: Story
    signature: Signature

    @property
    def when(self) -> datetime:
        return self.story.when


def _sample(group: str, story: Story) -> Sample:
    return Sample(group, story, fingerprint(story))


@functools.cache
def seed_articles() -> tuple[Sample, ...]:
    """The five seed article files, with the source, address and time ``sources.json`` gives."""
    sources = json.loads((SAMPLES / "articles" / "sources.json").read_text(encoding="utf-8"))
    out = []
    for name, meta in sorted(sources.items()):
        story = normalize.normalize_article(
            (SAMPLES / "articles" / name).read_text(encoding="utf-8"),
            is_html=False,
            title=None,
            url=meta["url"],
            source=meta["source"],
            published=datetime.fromisoformat(meta["published"].replace("Z", "+00:00")),
            fetched=NOW,
        )
        out.append(_sample("putin-dprk-oped", story))
    return tuple(out)


@functools.cache
def distractors() -> tuple[Sample, ...]:
    """Every feed entry that is not a seed: the Chile quake's three variants and the five
    singletons, each labelled with its group from ``expected.json``."""
    expected = json.loads((SAMPLES / "expected.json").read_text(encoding="utf-8"))
    groups = {
        (m["feed"], m["guid"]): event["name"]
        for event in expected["events"]
        for m in event["members"]
        if "feed" in m
    }
    groups |= {(m["feed"], m["guid"]): f"single:{m['guid']}" for m in expected["singletons"]}
    out = []
    for path in sorted((SAMPLES / "feeds").glob("*.xml")):
        uri = path.resolve().as_uri()
        parsed = parse.parse_feed(path.read_bytes(), url=uri, now=NOW)
        for entry in parsed.entries:
            story = normalize.normalize_entry(
                entry, feed_url=uri, feed_title=parsed.title, fetched=NOW
            )
            group = groups[(path.name, story.guid)]
            if group != "putin-dprk-oped":
                out.append(_sample(group, story))
    return tuple(out)


def stream(clusterer: Clusterer, samples: Sequence[Sample], *, first_id: int = 1) -> list[int]:
    """Assign and add each sample in order, as the pipeline does; the event id of each."""
    events = []
    next_event = 1000 + first_id
    for offset, sample in enumerate(samples):
        dated = sample.story.dated
        assignment = clusterer.assign(sample.signature, sample.when, dated=dated)
        event_id = assignment.event_id
        if event_id is None:
            event_id, next_event = next_event, next_event + 1
        clusterer.add(
            first_id + offset,
            event_id,
            sample.signature,
            when=sample.when,
            source=sample.story.source,
            assignment=assignment,
            dated=dated,
        )
        events.append(event_id)
    return events


def by_time(samples: Sequence[Sample]) -> list[Sample]:
    return sorted(samples, key=lambda s: s.when)


def with_text(sample: Sample, text: str, **fields: object) -> Sample:
    story = dataclasses.replace(sample.story, text=text, **fields)  # type: ignore[arg-type]
    return _sample(sample.group, story)


# -- assignment ------------------------------------------------------------------------------


def test_copies_behind_different_boilerplate_join_as_copies() -> None:
    """The same wire text with two sites' clutter around it joins the first copy's event as a
    near-copy or identical, and an exact copy joins as identical."""
    seed = seed_articles()[1]
    first = with_text(
        seed,
        seed.story.text + "\nShare on: Facebook | Twitter | LinkedIn | WhatsApp\n"
        "Also Read: Magnitude 5.6 earthquake hits eastern Turkey's Malatya, 14 injured",
        source="catchnews.com",
    )
    second = with_text(
        seed,
        "Published by Sputnik. Republished by The 21st Century.\n"
        + seed.story.text
        + "\nLeave a Reply. Your email address will not be published.",
        source="21cir.com",
    )
    clusterer = Clusterer(POLICY)
    clusterer.add(1, 10, first.signature, when=first.when, source="catchnews.com")
    copy = clusterer.assign(second.signature, second.when + timedelta(hours=1))
    assert copy.event_id == 10
    assert copy.reason in {"near-copy", "identical"}
    assert copy.signals["copy_jaccard"] >= POLICY.copy_threshold
    same = clusterer.assign(first.signature, first.when + timedelta(hours=2))
    assert (same.event_id, same.reason) == (10, "identical")


TEASERS = [
    "Subscribe to read the full story on our website. Already a subscriber? Sign in.",
    "The post appeared first on Example News.",
    "<p>Our journalism is for subscribers. Try 4 weeks for $1 to continue reading.</p>",
]
HEADLINES = [
    "Central bank raises interest rates by a quarter point",
    "Chip maker's quarterly earnings beat forecasts",
    "Hurricane makes landfall on the Gulf coast",
    "Hosts win the opening match of the tournament",
]


@pytest.mark.parametrize("teaser", TEASERS)
def test_unrelated_stories_whose_whole_text_is_one_teaser_stay_apart(teaser: str) -> None:
    """A paywalled feed gives every entry the same line of text: the headlines tell the stories
    apart, so they are not copies of one another."""
    samples = []
    for i, headline in enumerate(HEADLINES):
        story = normalize.normalize_article(
            teaser, is_html=teaser.startswith("<"), title=headline,
            url=f"https://paper.example/{i}", source="paper.example", published=None, fetched=NOW,
        )  # fmt: skip
        samples.append(_sample(f"story-{i}", story))
    assert len({s.story.text for s in samples}) == 1  # the same text for all four
    assert len(set(stream(Clusterer(POLICY), samples))) == len(HEADLINES)


ABOUT_ISSUER = (
    "About Acme Robotics. Acme Robotics (NASDAQ: ACMR) designs industrial automation systems for "
    "manufacturers in North America, Europe and Asia. Founded in 1998 in Springfield, Ohio, Acme "
    "Robotics employs more than 4,000 people and serves customers in automotive, electronics and "
    "food processing. For more information, visit acmerobotics.example.\n"
    "Forward-looking statements: this release contains forward-looking statements within the "
    "meaning of the Private Securities Litigation Reform Act of 1995, which involve risks."
)
RELEASES = [
    (
        "Acme Robotics reports record first-quarter revenue",
        "Acme Robotics today reported revenue of $412 million for the first quarter, up 18 "
        "percent from a year earlier, driven by demand for welding cells from electric vehicle "
        "makers. Chief executive Martin Oduya said orders from battery plants in Tennessee and "
        "Poland doubled, and the company raised its full-year revenue forecast to $1.7 billion.",
    ),
    (
        "Acme Robotics appoints new chief technology officer",
        "Acme Robotics has named Priya Raman as chief technology officer, effective July 1. Raman "
        "joins from a semiconductor equipment maker where she led machine vision research for "
        "nine years. She succeeds Tom Becker, who retires after 22 years with the company.",
    ),
    (
        "Acme Robotics opens plant in Monterrey",
        "Acme Robotics opened a 40,000-square-metre assembly plant in Monterrey, Mexico, that "
        "will build conveyor systems for customers in the Americas. The plant will employ 600 "
        "workers by next year, and shortens deliveries to car makers in northern Mexico.",
    ),
]


def test_one_issuers_unrelated_press_releases_stay_apart() -> None:
    """Every release of one issuer ends with the same "About" paragraph and legal notice;
    normalization drops them, so the issuer's name in every release does not join them."""
    samples = []
    for i, (headline, body) in enumerate(RELEASES):
        story = normalize.normalize_article(
            f"{body}\n{ABOUT_ISSUER}", is_html=False, title=headline,
            url=f"https://wire.example/{i}", source="wire.example", published=None, fetched=NOW,
        )  # fmt: skip
        assert "Securities Litigation" not in story.text
        samples.append(_sample(f"release-{i}", story))
    assert len(set(stream(Clusterer(POLICY), samples))) == len(RELEASES)


def test_short_copies_with_one_headline_still_join_as_identical() -> None:
    """Two sites carrying one short wire flash under its headline are still copies."""
    text = (
        "A magnitude 6.4 earthquake struck off the coast of Valparaiso on Tuesday, officials said."
    )
    base = distractors()[0].story
    a = _sample("flash", dataclasses.replace(base, text=text, title="Quake hits Chile"))
    b = _sample("flash", dataclasses.replace(a.story, source="other.example"))
    clusterer = Clusterer(POLICY)
    clusterer.add(1, 10, a.signature, when=a.when, source=a.story.source)
    joined = clusterer.assign(b.signature, b.when)
    assert (joined.event_id, joined.reason) == (10, "identical")


def test_the_seed_articles_join_one_event_and_every_distractor_stays_apart() -> None:
    """In publication order, the five seed articles form one event, the Chile quake's three
    variants another, and each of the five look-alike or unrelated stories is alone."""
    samples = by_time(seed_articles() + distractors())
    events = stream(Clusterer(POLICY), samples)
    groups: dict[str, set[int]] = {}
    for sample, event in zip(samples, events, strict=True):
        groups.setdefault(sample.group, set()).add(event)
    assert all(len(ids) == 1 for ids in groups.values()), groups
    assert len({next(iter(ids)) for ids in groups.values()}) == len(groups)
    sizes = {g: events.count(next(iter(ids))) for g, ids in groups.items()}
    assert sizes.pop("putin-dprk-oped") == 5
    assert sizes.pop("chile-quake") == 3
    assert set(sizes.values()) == {1}
    assert len(sizes) == 5


def test_a_seed_rewrite_joins_as_a_rewrite_with_its_scores() -> None:
    """A seed article joining the seed event does so as a rewrite whose score reaches the join
    probability, and the assignment carries every signal it computed."""
    first, *others = by_time(seed_articles())
    clusterer = Clusterer(POLICY)
    stream(clusterer, [first])
    assignment = clusterer.assign(others[0].signature, others[0].when)
    assert assignment.event_id is not None
    assert assignment.reason == "rewrite"
    assert assignment.similarity >= POLICY.join_probability
    assert assignment.signals["probability"] == assignment.similarity
    assert {"cosine", "gap_days", "copy_jaccard", "candidates"} <= set(assignment.signals)


def test_undated_summaries_alone_do_not_meet() -> None:
    """Without a time of their own (an undated record replayed at the stream's time), the seed
    outlets' versions need their whole texts to meet: cut to their first 40 words they are
    several events, whole they are one event of five. A story of unknown time is scored as if
    half a window from every event, never as leniently as one of the same day."""

    def undated(sample: Sample, words: int | None) -> Sample:
        text = sample.story.text if words is None else " ".join(sample.story.text.split()[:words])
        return with_text(sample, text, published=None)

    seeds = by_time(seed_articles())
    summaries = stream(Clusterer(POLICY), [undated(s, 40) for s in seeds])
    assert len(set(summaries)) > 1
    whole = stream(Clusterer(POLICY), [undated(s, None) for s in seeds])
    assert len(set(whole)) == 1


@given(
    gap=st.timedeltas(min_value=WINDOW + timedelta(seconds=1), max_value=WINDOW * 20),
    later=st.booleans(),
)
@settings(max_examples=25, deadline=None)
def test_a_story_outside_the_time_window_never_joins(gap: timedelta, later: bool) -> None:
    """An exact copy of an event's story, timed more than the window before or after the event,
    starts a new event."""
    seed = seed_articles()[0]
    clusterer = Clusterer(POLICY)
    clusterer.add(1, 10, seed.signature, when=seed.when, source="a.example")
    when = seed.when + gap if later else seed.when - gap
    outside = clusterer.assign(seed.signature, when)
    assert (outside.event_id, outside.reason, outside.similarity) == (None, "new", 0.0)
    inside = clusterer.assign(seed.signature, seed.when + (WINDOW if later else -WINDOW))
    assert inside.event_id == 10


# -- undo, evict, load -------------------------------------------------------------------------


def _state(clusterer: Clusterer, ids: Sequence[int], probes: Sequence[Sample]) -> object:
    """What the index shows from outside: sizes, each story's event, the canonical story of
    each event, and where each probe would go."""
    events = sorted({e for i in ids if (e := clusterer.event_of(i)) is not None})
    return (
        clusterer.stories,
        clusterer.events,
        {i: clusterer.event_of(i) for i in ids},
        {e: clusterer.canonical(e) for e in events},
        [
            (a.event_id, a.reason, round(a.similarity, 3))
            for a in (clusterer.assign(p.signature, p.when) for p in probes)
        ],
    )


def test_undo_restores_the_previous_state() -> None:
    """Taking back a batch of additions (new events and joins to existing ones) leaves the index
    deciding exactly as before the batch."""
    samples = by_time(seed_articles() + distractors())
    kept, batch = samples[::2], samples[1::2]
    clusterer = Clusterer(POLICY)
    stream(clusterer, kept)
    ids = list(range(1, 1 + len(samples) + 10))
    probes = [with_text(s, s.story.text + "\nRead more.") for s in samples]
    before = _state(clusterer, ids, probes)

    changes: list[Undo] = []
    for offset, sample in enumerate(batch):
        assignment = clusterer.assign(sample.signature, sample.when)
        event_id = assignment.event_id or 5000 + offset
        changes.append(
            clusterer.add(
                100 + offset,
                event_id,
                sample.signature,
                when=sample.when,
                source=sample.story.source,
                assignment=assignment,
            )
        )
    assert any(not change.new_event for change in changes)
    assert any(change.new_event for change in changes)
    assert _state(clusterer, ids, probes) != before
    clusterer.undo(changes)
    assert _state(clusterer, ids, probes) == before
    assert all(clusterer.event_of(100 + i) is None for i in range(len(batch)))


def test_undo_restores_the_eviction_horizon() -> None:
    """After taking back a story dated days after everything else, ``evict()`` keeps what it
    kept before that story arrived."""
    seed = seed_articles()[0]
    clusterer = Clusterer(POLICY)
    clusterer.add(1, 10, seed.signature, when=seed.when, source="a.example")
    late = distractors()[0]
    change = clusterer.add(2, 20, late.signature, when=seed.when + 3 * WINDOW, source="b.example")
    clusterer.undo([change])
    assert clusterer.evict() == 0
    assert clusterer.event_of(1) == 10


def test_evict_drops_events_quiet_longer_than_the_window() -> None:
    """``evict(now)`` drops exactly the events whose last story is more than the window before
    ``now``; their stories are no longer found, the others are."""
    seeds = by_time(seed_articles())
    vietnam = next(s for s in distractors() if "Vietnam" in s.story.title)
    clusterer = Clusterer(POLICY)
    events = stream(clusterer, [*seeds, vietnam])
    now = seeds[-1].when + WINDOW + timedelta(minutes=1)
    assert now - WINDOW < vietnam.when
    assert clusterer.evict(now) == 1
    assert clusterer.events == 1
    assert clusterer.stories == 1
    assert all(clusterer.event_of(i) is None for i in range(1, 6))
    assert clusterer.event_of(6) == events[-1]
    assert clusterer.assign(seeds[0].signature, seeds[-1].when).event_id is None
    assert clusterer.evict(now) == 0


def test_evict_by_default_measures_from_the_newest_story() -> None:
    """Without ``now``, eviction measures the window back from the newest story seen: a 2023
    story is dropped once June 2024 stories arrive."""
    kim = next(s for s in distractors() if s.when.year == 2023)
    clusterer = Clusterer(POLICY)
    stream(clusterer, [kim, *by_time(seed_articles())])
    assert clusterer.evict() == 1
    assert clusterer.event_of(1) is None
    assert clusterer.stories == 5


def test_a_rebuilt_index_decides_like_the_live_one() -> None:
    """``load()`` of the stored rows (oldest first) gives an index with the same events, the
    same canonical stories and the same decisions as the index that made them."""
    samples = by_time(seed_articles() + distractors())
    live = Clusterer(POLICY)
    events = stream(live, samples)
    live.evict()  # load() evicts what the window has left behind; so does the live tick
    rows = [
        IndexedStory(
            story_id=i,
            event_id=event,
            source=sample.story.source,
            when=sample.when,
            signature=sample.signature,
            title=sample.story.title,
        )
        for i, (sample, event) in enumerate(zip(samples, events, strict=True), start=1)
    ]
    rebuilt = Clusterer(POLICY)
    assert rebuilt.load(rows) == len(rows)
    ids = list(range(1, len(samples) + 1))
    probes = [with_text(s, "Follow us for more news.\n" + s.story.text) for s in samples]
    assert _state(rebuilt, ids, probes) == _state(live, ids, probes)
    indexed = [row for row in rows if rebuilt.event_of(row.story_id) is not None]
    assert rebuilt.load(indexed) == 0  # rows already indexed are skipped


# -- canonical story ---------------------------------------------------------------------------


def _members(samples: Sequence[Sample]) -> list[Member]:
    return [
        Member(
            story_id=i,
            when=s.when,
            source=(s.story.url or "").split("/")[2],
            length=s.signature.length,
            credits=s.signature.credits,
        )
        for i, s in enumerate(samples, start=1)
    ]


def _seed_members() -> dict[str, Member]:
    by_host = {m.source.removeprefix("www."): m for m in _members(seed_articles())}
    assert set(by_host) == {
        "rt.com",
        "viewusglobal.com",
        "globalheadlines.example",
        "catchnews.com",
        "21cir.com",
    }
    return by_host


def test_the_agency_rule_picks_the_reuters_reprint_of_the_seed_event() -> None:
    """Under the agency rule, with each agency credited once, the earliest dateline credit wins
    the tie: the blog's reprint of the Reuters story stands for the seed event."""
    members = _seed_members()
    assert members["globalheadlines.example"].credits[0] == "Reuters"
    chosen = choose_canonical(list(members.values()), "agency")
    assert chosen == members["globalheadlines.example"].story_id


def test_the_agency_rule_prefers_the_agency_s_own_copy_and_the_most_credited_agency() -> None:
    """An agency's own copy beats reprints of it, and an agency credited by more variants beats
    an earlier one credited once."""
    members = list(_seed_members().values())
    t = members[0].when
    own = Member(90, t + timedelta(hours=9), "www.reuters.com", 10)
    assert choose_canonical([*members, own], "agency") == 90
    # Catch News credits TASS first already; two more TASS reprints make TASS the agency most
    # variants credit, and the most complete reprint crediting it first wins.
    tass = [
        Member(81, t + timedelta(hours=1), "s1.example", 5000, ("TASS",)),
        Member(82, t + timedelta(hours=2), "s2.example", 6000, ("TASS", "Reuters")),
    ]
    assert choose_canonical([*members, *tass], "agency") == 82


def test_the_agency_rule_without_credits_picks_the_most_complete_story() -> None:
    """When no variant credits an agency, the longest text stands for the event."""
    members = [dataclasses.replace(m, credits=()) for m in _seed_members().values()]
    longest = max(members, key=lambda m: m.length)
    assert choose_canonical(members, "agency") == longest.story_id


def test_the_earliest_complete_and_priority_rules() -> None:
    """``earliest`` picks the first published, ``complete`` the longest, ``priority`` the first
    listed source that carried the story (the most complete when none did)."""
    members = _seed_members()
    everyone = list(members.values())
    assert choose_canonical(everyone, "earliest") == members["rt.com"].story_id
    longest = max(everyone, key=lambda m: m.length)
    assert choose_canonical(everyone, "complete") == longest.story_id
    ranked = ["apnews.com", "catchnews.com", "rt.com"]
    assert choose_canonical(everyone, "priority", ranked) == members["catchnews.com"].story_id
    assert choose_canonical(everyone, "priority", ["apnews.com"]) == longest.story_id
    with pytest.raises(ValueError, match="at least one member"):
        choose_canonical([], "agency")


def test_ties_go_to_the_earlier_then_the_lower_id() -> None:
    """Variants equal under a rule are told apart by time, then by id."""
    t = NOW
    twins = [Member(7, t, "a.example", 300), Member(3, t, "b.example", 300)]
    assert choose_canonical(twins, "complete") == 3
    assert choose_canonical(twins, "earliest") == 3
    later = [Member(2, t + timedelta(minutes=1), "a.example", 300), Member(9, t, "b.example", 300)]
    assert choose_canonical(later, "complete") == 9


@given(order=st.permutations(range(5)), rule=st.sampled_from(["agency", "earliest", "complete"]))
@settings(max_examples=40, deadline=None)
def test_the_canonical_choice_ignores_member_order(order: list[int], rule: str) -> None:
    """Shuffling an event's members never changes its canonical story."""
    members = list(_seed_members().values())
    shuffled = [members[i] for i in order]
    assert choose_canonical(shuffled, rule) == choose_canonical(members, rule)  # type: ignore[arg-type]


def _scan_canonical(members: list[Member], rule: str, priority: tuple[str, ...] = ()) -> int:
    """The canonical policy as a plain scan over every member: the specification that the
    incremental tally must answer like."""
    from ingestor.cluster import AGENCY_DOMAINS

    def is_from(source: str, domains: tuple[str, ...]) -> bool:
        return any(source.lower() == d or source.lower().endswith("." + d) for d in domains)

    def complete(ms: list[Member]) -> int:
        return min(ms, key=lambda m: (-m.length, m.when, m.story_id)).story_id

    if rule == "earliest":
        return min(members, key=lambda m: (m.when, m.story_id)).story_id
    if rule == "priority":
        for wanted in priority:
            carried = [m for m in members if is_from(m.source, (wanted.lower(),))]
            if carried:
                return min(carried, key=lambda m: (m.when, m.story_id)).story_id
        return complete(members)
    if rule == "agency":
        counts: dict[str, int] = {}
        first: dict[str, tuple[datetime, int, int]] = {}
        for m in sorted(members, key=lambda m: (m.when, m.story_id)):
            carrier = [a for a, doms in AGENCY_DOMAINS.items() if is_from(m.source, doms)]
            for position, agency in enumerate(dict.fromkeys([*carrier, *m.credits])):
                counts[agency] = counts.get(agency, 0) + 1
                first.setdefault(agency, (m.when, m.story_id, position))
        if counts:
            agency = min(counts, key=lambda a: (-counts[a], first[a]))
            own = [m for m in members if is_from(m.source, AGENCY_DOMAINS.get(agency, ()))]
            if own:
                return min(own, key=lambda m: (m.when, m.story_id)).story_id
            reprints = [m for m in members if m.credits[:1] == (agency,)]
            if reprints:
                return complete(reprints)
    return complete(members)


_SOURCES = ["reuters.com", "apnews.com", "tass.ru", "a.example", "b.example", "News.Reuters.com"]
_CREDITS = [(), ("Reuters",), ("AP",), ("TASS", "Reuters"), ("Reuters", "AP")]


@st.composite
def _arbitrary_members(draw: st.DrawFn) -> list[Member]:
    count = draw(st.integers(1, 25))
    ids = draw(st.lists(st.integers(1, 10_000), min_size=count, max_size=count, unique=True))
    return [
        Member(
            story_id,
            NOW + timedelta(minutes=draw(st.integers(0, 5))),
            draw(st.sampled_from(_SOURCES)),
            draw(st.integers(10, 14)),
            draw(st.sampled_from(_CREDITS)),
        )
        for story_id in ids
    ]


@given(
    members=_arbitrary_members(),
    rule=st.sampled_from(["agency", "earliest", "complete", "priority"]),
    priority=st.sampled_from([(), ("tass.ru",), ("b.example", "reuters.com")]),
)
@settings(max_examples=200, deadline=None)
def test_the_tally_answers_like_a_scan_of_every_member_as_members_arrive(
    members: list[Member], rule: str, priority: tuple[str, ...]
) -> None:
    """An event's canonical story, asked after each member arrives (as the clusterer asks),
    is the plain policy's answer over the members so far; so is a whole merged event's."""
    from ingestor.cluster._state import Event

    event = Event(1, NOW, NOW)
    for count, member in enumerate(members, 1):
        event.members.append(member)
        got = event.canonical(rule, priority)  # type: ignore[arg-type]
        assert got == _scan_canonical(members[:count], rule, priority)
    half = len(members) // 2
    del event.members[half:]  # taken back, as an undone merge does
    if half:
        got = event.canonical(rule, priority)  # type: ignore[arg-type]
        assert got == _scan_canonical(members[:half], rule, priority)
    event.members = list(reversed(members))  # replaced, as an undone add does
    assert event.canonical(rule, priority) == _scan_canonical(members, rule, priority)  # type: ignore[arg-type]


# -- order independence ------------------------------------------------------------------------


def _one_per_group() -> list[Sample]:
    """One sample text per expected group: seven stories that are pairwise different events."""
    chosen: dict[str, Sample] = {}
    for sample in (*seed_articles(), *distractors()):
        chosen.setdefault(sample.group, sample)
    return list(chosen.values())


@given(data=st.data())
@settings(max_examples=25, deadline=None)
def test_a_shuffled_stream_of_exact_copies_gives_the_same_partition(data: st.DataObject) -> None:
    """For a stream of exact copies of distinct sample texts, each at its own time, arriving in
    any order from different sources, copies of one text share an event and copies of two
    texts never do (the look-alikes among them are a day or more apart, as in the samples)."""
    texts = _one_per_group()
    picks = data.draw(st.lists(st.sampled_from(range(len(texts))), min_size=1, max_size=16))
    order = data.draw(st.permutations(picks))
    rng = random.Random(len(order))
    copies = [texts[i] for i in order]
    clusterer = Clusterer(POLICY)
    for n, sample in enumerate(copies):
        assignment = clusterer.assign(sample.signature, sample.when)
        event = assignment.event_id if assignment.event_id is not None else 10_000 + n
        clusterer.add(
            n, event, sample.signature, when=sample.when, source=f"site{rng.randrange(99)}.example"
        )
    partition = {}
    for n, text in enumerate(order):
        partition.setdefault(clusterer.event_of(n), set()).add(text)
    assert all(len(texts_in_event) == 1 for texts_in_event in partition.values())
    assert len(partition) == len(set(order))


# -- term postings -----------------------------------------------------------------------------


def _invented(number: int, terms: Sequence[str], *, when: datetime) -> Sample:
    """A story of invented words, each twice: every term weighs the same, and the signature
    keeps them in the order they first appear."""
    story = normalize.normalize_article(
        " ".join([*terms, *terms]), is_html=False, title=None, url=f"https://o{number}.test/s",
        source=f"o{number}", published=when, fetched=when,
    )  # fmt: skip
    return _sample(f"invented-{number}", story)


def _syllables(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{a}{b}" for a in "bdgkmprstz" for b in "aeiou"][:n]


def test_term_postings_find_an_event_the_key_term_lsh_misses() -> None:
    """A story that shares three of an event's most distinctive terms and little else is too
    far for the key-term LSH (Jaccard about 0.07 against its threshold of 0.1), and the term
    postings make its event a candidate; with postings off it is not one. Evicting the event
    takes its postings with it."""
    when = datetime(2024, 6, 18, 12, tzinfo=UTC)
    shared = _syllables("vor", 3)
    first = _invented(1, shared + _syllables("kel", 21), when=when)
    later = _invented(2, shared + _syllables("mav", 21), when=when)
    found = {}
    for posted in (10, 0):
        policy = ClusterPolicy(posted_terms=posted)
        clusterer = Clusterer(policy)
        stream(clusterer, [first])
        found[posted] = [c.event_id for c in clusterer.candidates(later.signature, when)]
        if posted:
            assert clusterer.posted == 1
            clusterer.evict(when + policy.window * 3)
            assert clusterer.posted == 0
    assert found[10]
    assert not found[0]


def test_undo_takes_a_story_out_of_the_postings() -> None:
    """A story whose transaction failed leaves no posting behind."""
    when = datetime(2024, 6, 18, 12, tzinfo=UTC)
    clusterer = Clusterer(POLICY)
    sample = _invented(1, _syllables("kel", 24), when=when)
    change = clusterer.add(1, 1, sample.signature, when=when, source="o1")
    assert clusterer.posted == 1
    clusterer.undo([change])
    assert clusterer.posted == 0
