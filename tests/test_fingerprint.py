"""Fingerprints and the words they are made of: a signature is a pure function of a story's text
and title under a recipe, its bytes round-trip, its version names the recipe exactly, agency
credits are read the way newsrooms write them, and tokens split where the text does."""

from __future__ import annotations

import dataclasses
import json
import random
import string
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestor import fingerprint as fingerprint_module
from ingestor import lexicon
from ingestor.config import Settings
from ingestor.fingerprint import DEFAULT_POLICY, VERSION, FingerprintPolicy, agency_credits
from ingestor.fingerprint import fingerprint as fp
from ingestor.models import Signature, Story

ARTICLES = Path(__file__).resolve().parents[1] / "samples" / "articles"
SOURCES = json.loads((ARTICLES / "sources.json").read_text(encoding="utf-8"))
T0 = datetime(2024, 6, 18, 12, 0, tzinfo=UTC)


def story(text: str, title: str = "", **fields: object) -> Story:
    values: dict[str, object] = {
        "source": "news.example",
        "title": title,
        "text": text,
        "fetched": T0,
        "content_hash": "h",
    }
    values.update(fields)
    return Story(**values)  # type: ignore[arg-type]


def article(name: str) -> Story:
    """A seed article as a story: first line the title, the rest the text."""
    title, _, text = (ARTICLES / name).read_text(encoding="utf-8").partition("\n")
    return story(text, title.strip(), source=SOURCES[name]["url"].split("/")[2])


ARTICLE_NAMES = sorted(SOURCES)
TEXT = st.text(
    alphabet=st.sampled_from(string.ascii_letters + string.digits + " .,'’-()\n" + "ёжКиїé"),
    max_size=400,
)


# -- signatures ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ARTICLE_NAMES)
def test_the_same_story_gives_the_same_signature(name: str) -> None:
    """Fingerprinting a story twice gives equal signatures with equal bytes, whatever the
    story's source, address or times."""
    seed = article(name)
    again = dataclasses.replace(
        seed,
        source="elsewhere.example",
        url="https://elsewhere.example/x",
        fetched=T0 + timedelta(days=3),
        published=T0 - timedelta(hours=5),
    )
    first, second = fp(seed), fp(again)
    assert first == second
    assert first.to_bytes() == second.to_bytes()
    assert first.version == VERSION
    assert first.length > 100
    assert len(first.shingles) == 4 * DEFAULT_POLICY.shingle_perm
    assert len(first.terms) == 4 * DEFAULT_POLICY.num_perm


@given(text=TEXT, title=st.text(max_size=80))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_signature_is_a_pure_function_of_text_and_title(text: str, title: str) -> None:
    """Any text and title give the same signature every time, and its bytes decode to it."""
    first = fp(story(text, title))
    second = fp(story(text, title, source="other.example"))
    assert first.to_bytes() == second.to_bytes()
    assert Signature.from_bytes(first.to_bytes()) == first


@pytest.mark.parametrize("name", ARTICLE_NAMES)
def test_signature_bytes_round_trip(name: str) -> None:
    """``Signature.from_bytes(sig.to_bytes())`` gives back the same signature, weights and
    credits included."""
    sig = fp(article(name))
    back = Signature.from_bytes(sig.to_bytes())
    assert back == sig
    assert dict(back.weights) == dict(sig.weights)
    assert back.credits == sig.credits
    assert back.to_bytes() == sig.to_bytes()


def test_the_settings_defaults_are_the_default_recipe() -> None:
    """The fingerprint settings' defaults build the default policy, so a default installation
    stores signatures of ``VERSION``."""
    assert Settings().fingerprint == DEFAULT_POLICY
    assert Settings().fingerprint.version == VERSION


def _changed(policy: FingerprintPolicy, field: str) -> FingerprintPolicy:
    value = getattr(policy, field)
    return FingerprintPolicy(
        **policy.model_dump() | {field: value + (1 if isinstance(value, int) else 0.5)}
    )


@pytest.mark.parametrize("field", list(FingerprintPolicy.model_fields))
def test_the_version_changes_when_any_policy_field_changes(field: str) -> None:
    """Changing any field of the recipe changes its version, so stored signatures of the old
    recipe are recognized as stale."""
    changed = _changed(DEFAULT_POLICY, field)
    assert changed.version != DEFAULT_POLICY.version
    assert fp(article(ARTICLE_NAMES[0]), changed).version == changed.version


POLICIES = st.builds(
    FingerprintPolicy,
    shingle_size=st.integers(2, 12),
    num_perm=st.integers(16, 1024),
    key_terms=st.integers(4, 1000),
    max_terms=st.integers(10, 5000),
    name_boost=st.sampled_from([1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 7.25, 20.0]),
    title_boost=st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0, 12.5]),
    short_text=st.integers(0, 10000),
)


@given(a=POLICIES, b=POLICIES)
@settings(max_examples=200, deadline=None)
def test_different_recipes_have_different_versions(
    a: FingerprintPolicy, b: FingerprintPolicy
) -> None:
    """Two recipes share a version only when they are the same recipe."""
    assert (a.version == b.version) == (a == b)


def test_boosts_that_differ_in_any_digit_have_different_versions() -> None:
    """Boosts that differ only in the seventh significant digit still name different recipes:
    they give different signatures."""
    a = DEFAULT_POLICY
    b = a.model_copy(update={"name_boost": a.name_boost + 1e-7})
    seed = article("viewus-putin-rodong-sinmun-oped.txt")
    assert fp(seed, a).to_bytes() != fp(seed, b).to_bytes()
    assert a.version != b.version


@contextmanager
def racing_threads(target: Callable[[int], None], *, join_s: float) -> Iterator[None]:
    """Four threads running ``target(0..3)``, switching as often as the interpreter allows;
    on leaving the block they are joined (``join_s`` each) and the switch interval restored."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(4)]
    try:
        for thread in threads:
            thread.start()
        yield
    finally:
        for thread in threads:
            thread.join(join_s)
        sys.setswitchinterval(interval)


@pytest.mark.slow
def test_fingerprinting_from_many_threads_survives_full_memo_tables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Several threads fingerprinting at once (as a tick's poll workers do) never fail, even
    when the memo tables fill up and start over. The tables are made small so that happens
    within the test."""
    monkeypatch.setattr(fingerprint_module._HASHES, "_limit", 64)
    monkeypatch.setattr(lexicon._BACKGROUND.idf(lexicon.DEFAULT_LANGUAGE), "_limit", 64)
    monkeypatch.setattr(lexicon._BACKGROUND.df(lexicon.DEFAULT_LANGUAGE), "_limit", 64)
    errors: list[BaseException] = []
    stop = threading.Event()

    def work(seed: int) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            words = ("".join(rng.choices(string.ascii_lowercase, k=5)) for _ in range(40))
            try:
                fp(story(" ".join(words)))
            except Exception as e:  # any failure is the finding
                errors.append(e)
                stop.set()

    with racing_threads(work, join_s=10):
        stop.wait(3.0)
        stop.set()
    assert errors == []


# -- agency credits --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "credits"),
    [
        ("MOSCOW (Reuters) - Russia said on Tuesday it would", ("Reuters",)),
        ("SEOUL (Reuters) – Vladimir Putin promised to build trade", ("Reuters",)),
        ("The visit was planned for months, TASS reported on Monday.", ("TASS",)),
        ("Growth slowed to 4.6 percent, according to Xinhua, the state agency.", ("Xinhua",)),
        ("Both sides agreed to expand cooperation in energy. (ANI)", ("ANI",)),
        ("PARIS (AFP) - Officials said. Later, TASS reported the same.", ("AFP", "TASS")),
        ("the minister told Reuters on Friday", ("Reuters",)),
        ("VOSTOCHNY COSMODROME, Russia (AP) — North Korean leader", ("AP",)),
        ("the ap said the ria was closed; a map of the area and its criteria", ()),
        ("RIA and AP are abbreviations in this sentence with no credit", ()),
        ("No agency is named anywhere in this text at all.", ()),
    ],
)
def test_agency_credits_read_the_credit_lines_newsrooms_write(
    text: str, credits: tuple[str, ...]
) -> None:
    """Datelines "(Reuters) -", "TASS reported", "according to Xinhua" and a closing "(ANI)"
    are credits, in order of first credit; lower-case "ap" or "ria" and bare mentions are not."""
    assert agency_credits(text) == credits


def test_the_seed_articles_credit_their_agencies() -> None:
    """Each seed article credits the agencies its outlet took it from, dateline first."""
    found = {name: fp(article(name)).credits for name in ARTICLE_NAMES}
    assert found == {
        "21cir-sputnik-putin-dprk-support.txt": ("Sputnik",),
        "catchnews-ani-putin-western-sanctions.txt": ("TASS", "ANI"),
        "globalheadlines-reuters-putin-trade-security.txt": ("Reuters", "KCNA"),
        "rt-putin-north-korea-trip-goals.txt": (),
        "viewus-putin-rodong-sinmun-oped.txt": (),
    }


# -- tokens ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("the plane left the runway.The pilot", ["the", "plane", "left", "the", "runway", "the"]),
        ("a magnitude 6.1 quake", ["a", "magnitude", "6.1", "quake"]),
        ("1,000 people, 2.5 km", ["1,000", "people", "2.5", "km"]),
        ("O'Brien met Kim Jong Un", ["o'brien", "met", "kim", "jong", "un"]),
        ("“Quoted” — dashes, (parentheses)!", ["quoted", "dashes", "parentheses"]),
        ("Пхеньян и Москва", ["пхеньян", "и", "москва"]),
    ],
)
def test_tokens_split_on_punctuation_but_keep_numbers_whole(text: str, expected: list[str]) -> None:
    """Tokens are lower-cased letter and digit runs: "runway.The" is two words, "6.1" and
    "1,000" are one, apostrophes stay inside a name."""
    tokens = lexicon.tokens(text)
    assert tokens[: len(expected)] == expected
    if text != "the plane left the runway.The pilot":
        assert tokens == expected


@given(text=TEXT)
@settings(max_examples=100, deadline=None)
def test_tokenizing_tokens_again_changes_nothing(text: str) -> None:
    """The tokens of a text, joined by spaces and tokenized again, are the same tokens."""
    tokens = lexicon.tokens(text)
    assert lexicon.tokens(" ".join(tokens)) == tokens
    assert all(t == t.lower() for t in tokens)


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    """Every thread a test starts has ended when it does."""
    before = set(threading.enumerate())
    yield
    assert [t for t in threading.enumerate() if t not in before and t.is_alive()] == []


def test_threads_fingerprinting_at_once_get_the_signatures_of_one_thread() -> None:
    """Each thread reuses MinHash objects of its own: signatures computed by four threads at
    once, with frequent thread switches, equal those computed one after another."""
    stories = [article(name) for name in sorted(SOURCES)]
    expected = [fp(s) for s in stories]
    results: dict[int, list[Signature]] = {}

    def work(worker: int) -> None:
        results[worker] = [fp(s) for _ in range(5) for s in stories]

    with racing_threads(work, join_s=60):
        pass
    assert sorted(results) == [0, 1, 2, 3]
    for signatures in results.values():
        assert signatures == expected * 5


@given(
    items=st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=300),
    num_perm=st.sampled_from([16, 64, 128]),
)
@settings(max_examples=50, deadline=None)
def test_minhash_values_are_datasketchs_own(items: list[int], num_perm: int) -> None:
    """The numpy MinHash gives exactly the bytes datasketch's ``update_batch`` gives for the same
    32-bit items (seed 1, ``affine32``, identity hash), so signatures keep their recipe."""
    import numpy as np
    from datasketch import MinHash

    from ingestor.fingerprint import _minhash_bytes

    reference = MinHash(num_perm=num_perm, seed=1, hashfunc=int, scheme="affine32")
    reference.update_batch(items)
    mine = _minhash_bytes(np.array(items, dtype=np.uint32), num_perm)
    assert mine == reference.hashvalues.astype("<u4").tobytes()


def test_minhash_of_a_long_text_is_datasketchs_own_across_blocks() -> None:
    """Past one block of items (a long page's shingles), the values still agree."""
    import numpy as np
    from datasketch import MinHash

    from ingestor.fingerprint import _minhash_bytes

    items = np.random.default_rng(7).integers(0, 2**32, size=10_000, dtype=np.uint64)
    reference = MinHash(num_perm=64, seed=1, hashfunc=int, scheme="affine32")
    reference.update_batch(items.tolist())
    assert (
        _minhash_bytes(items.astype(np.uint32), 64) == reference.hashvalues.astype("<u4").tobytes()
    )
