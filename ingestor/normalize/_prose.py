"""Article-likeness of extracted page text: which candidate extraction holds the article.

Owns: judging text by its own shape, with no markup and no knowledge of the page: sentence-sized
units classified as prose or furniture (``prose_units``), net prose (``net_prose``), the choice
between candidate extractions of one page (``pick_article``), cutting a text to its densest run
of prose (``trim_to_prose``), joining hard-wrapped lines (``unwrap``), and removing script and
style source left in the text (``strip_script``).

Does not: parse HTML or run extractors (``_text`` produces the candidates), or drop boilerplate
lines by kind (``_boilerplate`` does that first, on every candidate). Imports nothing beyond the
standard library.

Inputs: cleaned text of whole news pages from ``_text.page_text`` (lines are paragraphs, words
single-spaced, NFC); hostile, so every pattern is bounded and every pass is linear.

Decisions (the measurements of the whole cascade are in ``_text``; no threshold here was fitted
to labels):

* A unit is a sentence: lines split after ``.!?…`` before anything that is not lower case, a
  dash or punctuation ("Calif. -- Lawyers" stays one). As in jusText (Pomikálek 2011), and from
  the text alone, a unit is *prose* when it has at least ``MIN_WORDS`` words, ends like a
  sentence, and at least ``MIN_FUNCTION_SHARE`` of its words are function words; *short* when it
  has fewer words; otherwise *furniture*. A short unit is prose when its line holds prose (a
  dateline, a short sentence in a paragraph) or when the nearest units on both sides are prose.
  Menus, link lists, headlines, bylines and time stamps come out as furniture.
* A sentence with more than ``MAX_READER_WORDS`` second-person words addresses the reader
  (comment rules, terms of use, "register for a free pass"), which reported news does not do
  outside quotes: it is furniture. A quoted "you ... you" inside an article is misjudged too,
  which costs the article a sentence's weight but never cuts it.
* Function words are a compact closed-class list for English, French, German, Spanish, Italian,
  Portuguese and Dutch (``words.PROSE_FUNCTION_WORDS``). In other languages (and in scripts
  without spaces) no unit is prose: ``pick_article`` then falls back to a length rule, and
  ``trim_to_prose`` leaves the text alone.
* Net prose weighs furniture ``FURNITURE_WEIGHT`` (2) times a prose character, so a run of
  furniture separates the article from prose after it (a comment policy, a teaser) unless twice
  as much prose follows; at weight 1 a policy paragraph below an article was kept with it.
* The densest run is the contiguous run of units with the largest net prose (Kadane's
  maximum-sum window, as in Finn et al.'s Body Text Extraction): menus, headlines and teaser
  lists at the edges go; furniture inside the article stays when prose on both sides outweighs
  it.
* ``pick_article`` judges each candidate by its densest run and prefers the earlier, more precise
  one: a later candidate replaces it only when its run holds more than ``REPLACE_RATIO`` times
  the net prose plus ``REPLACE_MARGIN`` characters, so it wins by holding clearly more article
  (the policy-only precision result against the whole story), not a few extra teasers.
* Script and style source is removed piece by piece (pieces split also after ``;`` and ``}``): a
  piece with at least two code tokens (``==``, ``{``, ``x=``, ``f()``, ``window.`` ...) and at
  least one per two words is code. Lines stay as they were otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ingestor.words import PROSE_FUNCTION_WORDS, READER_WORDS

__all__ = ["MIN_PAGE_TEXT", "net_prose", "pick_article", "prose_units", "strip_script",
           "trim_to_prose", "unwrap"]  # fmt: skip

MIN_WORDS = 6
MIN_FUNCTION_SHARE = 0.2
FURNITURE_WEIGHT = 2.0
REPLACE_RATIO = 2.0
REPLACE_MARGIN = 100
MIN_PAGE_TEXT = 250
"""Below this many characters an extraction is nearly empty (the fallback rule's bar)."""
_MAX_LINE_CHARS = 100_000
"""A longer line is judged and kept as one unit: bounded work on hostile text."""

MAX_READER_WORDS = 1
_WORD_EDGES = "\"'“”‘’.,:;!?()[]{}|*•·–—-/#«»"
_SENTENCE_BREAK = re.compile(r"[.!?…][\"'”’)\]]{0,3}(\s+)(?![\-–—,;:a-z])")
_SENTENCE_END = re.compile(r"[.!?…:][\"'”’)\]]{0,3}$")
_CODE_BREAK = re.compile(r"(?<=[.!?;}])\s+")
_CODE = re.compile(
    r"==|!=|&&|\|\||=>|[{}]|[\w\])][ \t]{0,3}[+-]?=[ \t]{0,3}['\"\w\[{(]|\w\([^()\s]{0,200}\)"
    r"|;$|\b(?:function|var|window|document|typeof|null|undefined)\b(?=[.(\s=;])"
)
_WRAP_END = frozenset(".!?…:;\"'”’)]")
_OPEN_END = re.compile(
    r"(,|\s(a|an|and|as|at|but|by|for|from|in|into|of|on|or|than|that|the|to|with))$", re.I
)
"""A line ending in a comma, an article, a preposition or a conjunction stops mid-sentence."""


@dataclass(frozen=True, slots=True)
class Unit:
    """One sentence-sized piece of a text: the paragraph it belongs to and whether it is prose."""

    line: int
    text: str
    prose: bool


def _is_code(piece: str) -> bool:
    hits = len(_CODE.findall(piece))
    return hits >= 2 and 2 * hits >= len(piece.split())


def strip_script(text: str) -> str:
    """The text without the script or style source left in it (whole lines or pieces of them)."""
    kept_lines = []
    for line in text.split("\n"):
        if len(line) > _MAX_LINE_CHARS:
            kept_lines.append(line)
            continue
        pieces = _CODE_BREAK.split(line)
        kept = [piece for piece in pieces if not _is_code(piece)]
        if len(kept) == len(pieces):
            kept_lines.append(line)
        elif kept:
            kept_lines.append(" ".join(kept))
    return "\n".join(kept_lines)


def _wrapped(previous: str, line: str) -> bool:
    if previous[-1:] in _WRAP_END:
        return False
    return line[:1].islower() or _OPEN_END.search(previous[-8:]) is not None


def unwrap(lines: Sequence[str], links: Sequence[bool]) -> tuple[list[str], list[bool]]:
    """Hard-wrapped lines joined (with their link-only flags): a line that does not end a
    sentence continues into the next when that one starts in lower case or the line stops
    mid-sentence (``_OPEN_END``). Empty lines are dropped."""
    joined: list[list[str]] = []
    flags: list[bool] = []
    for line, link in zip(lines, links, strict=True):
        if joined and line and _wrapped(joined[-1][-1], line):
            joined[-1].append(line)
            flags[-1] = flags[-1] and link
        elif line:
            joined.append([line])
            flags.append(link)
    return [" ".join(parts) for parts in joined], flags


def _paragraphs(text: str) -> list[str]:
    lines = text.split("\n")
    return unwrap(lines, [False] * len(lines))[0]


def _sentences(line: str) -> list[str]:
    if len(line) > _MAX_LINE_CHARS:
        return [line]
    sentences, start = [], 0
    for match in _SENTENCE_BREAK.finditer(line):
        sentences.append(line[start : match.start(1)])
        start = match.end(1)
    sentences.append(line[start:])
    return sentences


def _kind(sentence: str) -> str:
    words = [w for w in (w.strip(_WORD_EDGES).casefold() for w in sentence.split()) if w]
    if len(words) < MIN_WORDS:
        return "short"
    if not _SENTENCE_END.search(sentence[-8:]):
        return "furniture"
    if sum(w in READER_WORDS for w in words) > MAX_READER_WORDS:
        return "furniture"
    function = sum(w in PROSE_FUNCTION_WORDS for w in words)
    return "prose" if function >= MIN_FUNCTION_SHARE * len(words) else "furniture"


def prose_units(text: str) -> list[Unit]:
    """The text as sentence units in order, each classified as prose or not (see the module
    docstring): the unit a choice and a trim are made of."""
    raw: list[tuple[int, str, str]] = []
    for number, line in enumerate(_paragraphs(text)):
        sentences = _sentences(line)
        kinds = [_kind(sentence) for sentence in sentences]
        if "prose" in kinds:  # a short sentence in a paragraph of prose is prose
            kinds = ["prose" if kind == "short" else kind for kind in kinds]
        raw += [(number, s, k) for s, k in zip(sentences, kinds, strict=True) if s]
    # Short units between prose on both sides are prose (the page's edges count as furniture).
    before, previous = [], "furniture"
    for _, _, kind in raw:
        before.append(previous)
        previous = kind if kind != "short" else previous
    units: list[Unit] = []
    following = "furniture"
    for (number, sentence, kind), prior in zip(reversed(raw), reversed(before), strict=True):
        prose = kind == "prose" or (kind == "short" and prior == following == "prose")
        units.append(Unit(number, sentence, prose))
        following = kind if kind != "short" else following
    units.reverse()
    return units


def _weight(unit: Unit) -> float:
    return len(unit.text) if unit.prose else -FURNITURE_WEIGHT * len(unit.text)


def _net(units: Sequence[Unit]) -> float:
    return sum(_weight(u) for u in units)


def net_prose(text: str) -> float:
    """Characters of prose minus characters of everything else: how much article a text holds."""
    return _net(prose_units(text))


def _join(units: Sequence[Unit]) -> str:
    lines: list[list[str]] = []
    last = -1
    for unit in units:
        if unit.line != last:
            lines.append([])
            last = unit.line
        lines[-1].append(unit.text)
    return "\n".join(" ".join(parts) for parts in lines)


def _densest(units: Sequence[Unit]) -> tuple[int, int, float]:
    """Start, end and net prose of the run of units with the largest net prose (Kadane's
    maximum-sum window); an empty run when no unit is prose."""
    best, start, end = 0.0, 0, 0
    running, run_start = 0.0, 0
    for i, unit in enumerate(units):
        if running <= 0:
            running, run_start = 0.0, i
        running += _weight(unit)
        if running > best:
            best, start, end = running, run_start, i + 1
    return start, end, best


def trim_to_prose(text: str) -> str:
    """The densest run of prose in the text (furniture at its edges dropped); the text unchanged
    when it holds no prose. Hard-wrapped lines come back joined."""
    units = prose_units(text)
    start, end, _ = _densest(units)
    return _join(units[start:end]) if end else text


def pick_article(candidates: Sequence[str]) -> str:
    """The article among extractions of one page, given most precise first: each is judged by
    the net prose of its densest run; the first one is kept unless a later one holds clearly more
    (see the module docstring), and its densest run is returned. When none holds prose: the first
    with ``MIN_PAGE_TEXT`` characters, else the first with any. Script source is removed from
    every candidate first."""
    cleaned = [strip_script(candidate) for candidate in candidates]
    best: list[Unit] = []
    best_net = 0.0
    for text in cleaned:
        units = prose_units(text)
        start, end, net = _densest(units)
        if net > 0 and (not best or net > REPLACE_RATIO * best_net + REPLACE_MARGIN):
            best, best_net = units[start:end], net
    if best:
        return _join(best)
    for text in cleaned:
        if len(text) >= MIN_PAGE_TEXT:
            return text
    return next((text for text in cleaned if text), "")
