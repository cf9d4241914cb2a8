"""Boilerplate removal: the line filter.

Owns: deciding, line by line, which lines of cleaned text are site furniture rather than the story
(``filter_lines``; the vocabularies it judges by are in ``ingestor.words``): widget labels,
comment forms, newsletter and call-to-action sentences, republication, disclaimer and syndication
notes, photo captions ending in a credit, date- or time-only lines, bylines, short link-only
lines, the headline of a related-story card, and a press release's closing sections (the issuer's
"About" paragraph, forward-looking-statements notice, contacts, "###") with everything after them.

Does not: parse HTML or decide which elements to drop (``_text`` drops hidden elements and those
whose class or id names a widget, and marks link-only lines), or change the lines it keeps.

Inputs: lines from ``_text.lines`` (markup resolved, NFC, single-spaced words), each with whether
all of it was link text; the text itself is hostile, so every pattern is bounded.

Decision: boilerplate is removed by kind, never by exact string: short lines made only of widget
vocabulary (share, comment, subscribe, navigation, media labels), comment-form, newsletter,
call-to-action, republication, disclaimer and syndication sentences, photo captions ending in a
credit, date/time-only lines, bylines, and in HTML link-only short lines (and, in ``_text``,
elements whose class or id names a widget); plus the headline of a related-story card right after
a credited caption, and the closing sections of a press release, which every release of one
issuer repeats verbatim (left in, they joined the issuer's unrelated releases into one event).
"""

from __future__ import annotations

import re

from ingestor.words import DATE_WORDS, LINE_FUNCTION_WORDS, SOCIAL_NETWORKS, WIDGET_WORDS

__all__ = ["filter_lines"]

_NETWORKS = "|".join(SOCIAL_NETWORKS)

_LEADING_PHRASES = re.compile(
    # newsletters
    r"(sign up|subscribe|register|join)\b.{0,80}\b(newsletter|updates|inbox|e-?mail|alerts)"
    r"|(get|receive) (the|our|my)\b.{0,60}\b(newsletter|updates|in your inbox)"
    # republication and disclaimers
    r"|the post .{1,300} appeared first on\b"
    r"|this (article|story|post|piece) (was |is |first |originally )*(re)?(published|appeared)\b"
    r"|the (views|opinions)( and (views|opinions))? expressed (in|here|herein|by)\b"
    r"|(disclaimer|copyright)\b|[©ⓒ]|\(c\) ?\d{4}",
    re.I,
)
"""Sentences that are boilerplate when a line (of at most 60 words) starts with them."""
_ANYWHERE_PHRASES = re.compile(
    # comment forms
    r"your e-?mail address will not be published|required fields are marked"
    r"|you must be logged in to (post|comment)|this site uses akismet"
    # calls to action
    r"|\bnewsletter (brings|delivers|sends) you\b"
    rf"|\b(follow|join|like|find|subscribe to) (us|@?[\w.]+( [\w.]+)?) on ({_NETWORKS})\b"
    rf"|\bis now on ({_NETWORKS})\b|\bjoin (our|the) (\w+ )?(channel|community|group)\b"
    # rights and syndication notes
    r"|\ball rights reserved\b"
    r"|syndicated (feed|content)|auto-generated from|(not been|have been) (edited|reworked) by",
    re.I,
)
"""Sentences that make a line (of at most 60 words) boilerplate wherever they appear."""
_SHORT_PHRASES = re.compile(
    r"^(originally |first )?(re)?(published|posted|syndicated) (by|in|on|at|from|via)\b"
    r"|^(click|tap) here\b|^(read|see|view|watch) (more|also|the full|full)\b"
    r"|^(related|also read|read also|recommended|more|tags?|topics?|categories|filed under"
    r"|keywords)\s*[:|–—]"
    r"|^(image|media|video|photo) (source|caption|credit)s?\b"
    r"|^share\b|^by [^.!?]+$|^[—–-] .{1,80}\(@\w{1,15}\)|pic\.twitter\.com/",
    re.I,
)
"""Phrases that are boilerplate only in a short line (at most 12 words)."""
_CREDIT = re.compile(
    r"[–—-]\s*[^–—]{2,80},\s*\d{4},\s*\d{1,2}\.\d{1,2}\.\d{2,4}$"  # "– Outlet, 1920, 17.06.2024"
    r"|[(\[]\s*(photo|image|picture|pic|photograph|illustration|graphic|file photo|credit)s?\b"
    r"[^()\[\]]{0,100}[)\]]\.?$"
    r"|(^|[.|–—-]\s*)(photo|image|picture|photograph|illustration|file photo|photo credit|credit)s?"
    r"\s*(:|by\b|©|/)\s*[^.]{1,100}\.?$"
    r"|\b(getty images|shutterstock|alamy|ap photo/[^.]{1,60}|reuters/[^.]{1,60}|afp/[^.]{1,60})"
    r"\s*[)\]]?\.?$"
    # a sentence, then a bare agency credit: "... in Santa Clara, California. AFP-Yonhap"
    r"|[.!?\"”]\s+(?-i:AFP|AP|Reuters|REUTERS|Yonhap|EPA|EFE|Xinhua|Bloomberg|Sputnik|TASS"
    r"|Anadolu|NurPhoto|ZUMA|dpa|ANSA|Kyodo|UPI|Getty)([-/ ][\w .-]{0,40})?$",
    re.I,
)
_CLOCK = re.compile(r"[\d:.,/]+(st|nd|rd|th|am|pm|h)?")
_WORD_EDGES = "\"'“”‘’.,:;!?()[]{}|*•·–—-/#"


def _words(line: str) -> list[str]:
    return [w for w in (w.strip(_WORD_EDGES).casefold() for w in line.split()) if w]


def _boilerplate(line: str, words: list[str]) -> bool:
    n = len(words)
    known = (w in WIDGET_WORDS or w in LINE_FUNCTION_WORDS or w.isdigit() for w in words)
    if n <= 8 and all(known) and any(w in WIDGET_WORDS for w in words):
        return True  # "Share on Facebook", "Leave a Reply", "Most Commented"
    dates = (w in DATE_WORDS or _CLOCK.fullmatch(w) for w in words)
    if n <= 12 and any(c.isdigit() for c in line) and all(dates):
        return True  # "14 March, 01:32 GMT"
    if n <= 12 and (_SHORT_PHRASES.search(line) or len(_SHARE_BAR.findall(line)) >= 2):
        return True
    if n > 60 or len(line) > 600:
        return False
    return bool(_LEADING_PHRASES.match(line) or _ANYWHERE_PHRASES.search(line))


_SHARE_BAR = re.compile(rf"\b({_NETWORKS})\b", re.I)
_NAME = r"[A-Z][\w&'.-]{0,40}(?: (?:[A-Z][\w&'.-]{0,40}|of|and|for|de|&)){0,6}"
_RELEASE_TAIL = re.compile(
    # "About Acme Robotics", alone or followed by its description: "About Acme Robotics. Acme
    # Robotics (NASDAQ: ACMR) designs ...", "About Acme: Acme is ...", "About the Company"
    rf"(?P<about>About )(?:the Company|(?P<name>{_NAME}))\s*(?:[:.\u2013\u2014-]\s*)?"
    r"(?:(?P<alone>$)|(?(name)(?P=name)\b|(?!))|(?:The Company|The company|It) )"
    # the legal and contact sections that close a release
    r"|(?i:(?:cautionary (?:note|statement)[^.]{0,60}|safe harbou?r statement|forward[- ]looking "
    r"statements?)\b\s*(?:[:.\u2013\u2014-]|$)"
    r"|this (?:press |news )?release (?:contains|includes|may contain) forward[- ]looking\b"
    r"|(?:media|press|investor) (?:contacts?|relations|inquiries)\s*(?::|$))"
    r"|#{3}\s*$"
)
"""A line that opens the closing sections of a press release (the issuer's "About" paragraph,
forward-looking-statements notice, contacts, the "###" end mark). Every release from one issuer
carries the same sections, so left in they would make its unrelated releases look alike. An
"About X" heading alone counts only when the next line starts with X (a site menu says "About
CNN" too), and see ``_release_tail`` for where in the text a cut may happen."""


def _release_tail(lines: list[str], sizes: list[int]) -> int:
    """Where a press release's closing sections start, or ``len(lines)``; never at the first
    line. An issuer's "About" paragraph names the issuer twice ("About Acme. Acme is ...", or a
    heading and a paragraph that starts with the name), which a site menu does not. The other
    sections' headings ("Investor Relations", "###") may be menu links too: they count only in
    the second half of the text by words, where a release's closing sections are and a page's
    menu is not."""
    after = sum(sizes)
    before = 0
    for i, line in enumerate(lines):
        after -= sizes[i]
        found = _RELEASE_TAIL.match(line) if i else None
        if found is not None:
            if found["about"] is None:
                if before >= after + sizes[i]:
                    return i
            elif found["alone"] is None or found["name"] is None:
                return i  # "About Acme. Acme is ...", "About the Company"
            elif i + 1 < len(lines) and lines[i + 1].startswith(found["name"]):
                return i  # "About Acme" over a paragraph that starts "Acme ..."
        before += sizes[i]
    return len(lines)


def filter_lines(lines: list[str], links: list[bool]) -> list[str]:
    """Drop boilerplate lines, then a press release's closing sections (``_RELEASE_TAIL``) with
    everything after them. Every line rule but one is context-free, and the related-story rule
    only looks at a caption line that is itself always dropped; the tail is cut until no cut is
    left. So filtering twice changes nothing."""
    kept = _filter(lines, links)
    while (tail := _release_tail(kept, [len(line.split()) for line in kept])) < len(kept):
        kept = kept[:tail]
    return kept


def _filter(lines: list[str], links: list[bool]) -> list[str]:
    kept: list[str] = []
    after_caption = False
    for i, line in enumerate(lines):
        words = _words(line)
        if not words:
            continue
        # Every credit pattern is anchored at the end and spans under 300 characters.
        caption = len(words) <= 60 and _CREDIT.search(line, max(0, len(line) - 300)) is not None
        headline = after_caption and len(words) <= 20 and line[-1] not in '.!?"”’…:;,'
        after_caption = caption
        if caption or headline or (links[i] and len(words) <= 20) or _boilerplate(line, words):
            continue
        kept.append(line)
    return kept
