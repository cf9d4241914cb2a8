"""feedparser's own 2,107 test documents, as given and mutated, through parse + normalize.

They are inputs that must never crash the pipeline, never stall it, and never put script,
event-handler attributes or ``javascript:`` links into a stored Story. Speed is recorded and
printed (run with ``-s`` to see it), never asserted: benchmarks own speed targets.
"""

from __future__ import annotations

import re
import statistics
import time
from datetime import UTC, datetime
from functools import cache
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestor.errors import NormalizeError, ParseError
from ingestor.models import Story
from ingestor.normalize import normalize_entry
from ingestor.parse import parse_feed

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpora" / "feedparser" / "tests"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
FEED_URL = "http://example.org/feed.xml"
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")

pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(not CORPUS.is_dir(), reason=f"feedparser corpus not found at {CORPUS}"),
]


@cache
def _documents() -> tuple[tuple[str, bytes], ...]:
    files = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name != "LICENSE")
    return tuple((str(p.relative_to(CORPUS)), p.read_bytes()) for p in files)


class _Markup(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend((name, value or "") for name, value in attrs)


def _problems(story: Story) -> list[str]:
    """Every way a Story breaks the storage invariants."""
    problems = []
    if story.html is not None:
        markup = _Markup()
        markup.feed(story.html)
        markup.close()
        if "<script" in story.html.lower() or "script" in markup.tags:
            problems.append("script in html")
        problems += [f"handler {n}" for n, _ in markup.attrs if n.startswith("on")]
        for name, value in markup.attrs:
            if re.sub(r"[\x00-\x20]", "", value).lower().startswith(("javascript:", "vbscript:")):
                problems.append(f"{name}={value[:40]}")
    if story.url is not None and not story.url.startswith(("http://", "https://")):
        problems.append(f"url {story.url[:40]}")
    if CONTROL.search(story.title) or "\n" in story.title:
        problems.append("control character in title")
    if CONTROL.search(story.text):
        problems.append("control character in text")
    if not story.text or not story.title:
        problems.append("empty title or text")
    if story.published is not None and story.published > story.fetched:
        problems.append("published after fetched")
    return problems


def _run(body: bytes) -> list[Story]:
    """parse + normalize one document the way the pipeline does; our own errors are fine."""
    try:
        feed = parse_feed(body, url=FEED_URL, now=NOW)
    except ParseError:
        return []
    stories = []
    for entry in feed.entries:
        try:
            stories.append(
                normalize_entry(entry, feed_url=FEED_URL, feed_title=feed.title, fetched=NOW)
            )
        except NormalizeError:
            continue
    return stories


def test_corpus_documents_never_crash_or_leak_active_content() -> None:
    """All 2,107 documents: only ParseError/NormalizeError, and every Story is safe to store."""
    documents = _documents()
    assert len(documents) >= 2000
    timings: list[tuple[float, str]] = []
    failures: dict[str, list[str]] = {}
    stories = 0
    for name, body in documents:
        started = time.perf_counter()
        produced = _run(body)
        timings.append((time.perf_counter() - started, name))
        stories += len(produced)
        for story in produced:
            if problems := _problems(story):
                failures[name] = problems
    assert failures == {}
    assert stories > 400
    times = sorted(t for t, _ in timings)
    slowest = max(timings)
    print(
        f"\ncorpus: {len(documents)} documents, {stories} stories; parse+normalize per document "
        f"p50 {statistics.median(times) * 1000:.2f} ms, "
        f"p99 {times[int(len(times) * 0.99)] * 1000:.2f} ms, "
        f"max {slowest[0] * 1000:.1f} ms ({slowest[1]})"
    )


# -- mutated documents -----------------------------------------------------------------------------


@st.composite
def _document(draw: st.DrawFn) -> bytes:
    documents = _documents()
    return documents[draw(st.integers(0, len(documents) - 1))][1]


@st.composite
def _byte_flips(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(_document()))
    for _ in range(draw(st.integers(1, 8))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


@st.composite
def _truncated(draw: st.DrawFn) -> bytes:
    data = draw(_document())
    return data[: draw(st.integers(0, len(data)))]


@st.composite
def _duplicated(draw: st.DrawFn) -> bytes:
    """A slice of the document repeated in place: duplicated items, tags and entities."""
    data = draw(_document())
    start = draw(st.integers(0, len(data)))
    end = draw(st.integers(start, min(len(data), start + 400)))
    # At most ~4 kB added: feedparser's author regex is quadratic, and a longer duplicated run
    # inside an <author> is a job for the time budget (tests/test_budget.py), not for this test.
    return data[:end] + data[start:end] * draw(st.integers(1, 10)) + data[end:]


@st.composite
def _nested(draw: st.DrawFn) -> bytes:
    """Deeply nested (escaped and raw) markup inserted before a closing tag."""
    data = draw(_document())
    tag = draw(st.sampled_from([b"div", b"b", b"item", b"entry", b"content", b"a", b"p"]))
    depth = draw(st.integers(10, 3000))
    escaped = draw(st.booleans())
    opening, closing = (b"&lt;%s&gt;" % tag, b"&lt;/%s&gt;" % tag) if escaped else (
        b"<%s>" % tag, b"</%s>" % tag)  # fmt: skip
    cut = data.rfind(b"</", 0, max(1, len(data) - 20))
    cut = cut if cut > 0 else len(data)
    return data[:cut] + opening * depth + b"x" + closing * depth + data[cut:]


@st.composite
def _huge_attributes(draw: st.DrawFn) -> bytes:
    """An attribute of up to 200 kB (or a flood of attributes) inserted into the first tag."""
    data = draw(_document())
    match = re.search(rb"<[A-Za-z][\w:.-]*", data)
    if match is None:
        return data
    if draw(st.booleans()):
        value = draw(st.sampled_from([b"a", b"&amp;", b"javascript:", b"\xc3\xa9", b'"']))
        extra = b' title="' + value * draw(st.integers(1_000, 40_000)) + b'"'
    else:
        extra = b"".join(b' a%d="x"' % i for i in range(draw(st.integers(100, 5_000))))
    return data[: match.end()] + extra + data[match.end() :]


def _check(body: bytes) -> None:
    for story in _run(body):
        assert _problems(story) == []


_MUTATION_SETTINGS = settings(
    max_examples=500,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@_MUTATION_SETTINGS
@given(body=_byte_flips())
def test_byte_flipped_documents(body: bytes) -> None:
    """Random byte flips never raise anything but our own errors, nor leak active content."""
    _check(body)


@_MUTATION_SETTINGS
@given(body=_truncated())
def test_truncated_documents(body: bytes) -> None:
    """Documents cut anywhere never raise anything but our own errors."""
    _check(body)


@_MUTATION_SETTINGS
@given(body=_duplicated())
def test_documents_with_duplicated_slices(body: bytes) -> None:
    """Repeated slices (duplicated tags, items, entities) never raise anything but our errors."""
    _check(body)


@_MUTATION_SETTINGS
@given(body=_nested())
def test_documents_with_deeply_nested_tags(body: bytes) -> None:
    """Thousands of nested tags, raw or escaped, never raise anything but our own errors."""
    _check(body)


@_MUTATION_SETTINGS
@given(body=_huge_attributes())
def test_documents_with_huge_attributes(body: bytes) -> None:
    """Huge attribute values and attribute floods never raise anything but our own errors."""
    _check(body)
