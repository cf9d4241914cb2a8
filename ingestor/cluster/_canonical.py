"""The canonical-story policy: which variant stands for an event.

Owns: ``choose_canonical`` and the facts it needs (``Member``; the agencies' own domains come
from ``ingestor.agencies``, the one agency table). Pure: members in, a story id out; the
clusterer calls it whenever an event gains a variant, so the canonical story can change as
variants arrive.

Does not: detect credits in text (``fingerprint.agency_credits`` does, and signatures carry
them) or touch the store.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from ingestor.agencies import DOMAINS
from ingestor.policies import CanonicalRule

__all__ = ["AGENCY_DOMAINS", "CanonicalRule", "Member", "choose_canonical"]

AGENCY_DOMAINS: Mapping[str, tuple[str, ...]] = DOMAINS
"""Each agency's own domains (``ingestor.agencies``, the table credits are found by too)."""


@dataclass(frozen=True, slots=True)
class Member:
    """What the canonical policy needs to know of one variant."""

    story_id: int
    when: datetime
    source: str
    length: int
    credits: tuple[str, ...] = ()


def _is_from(source: str, domains: Sequence[str]) -> bool:
    source = source.lower()
    return any(source == d or source.endswith("." + d) for d in domains)


def _most_complete(members: Sequence[Member]) -> Member:
    return min(members, key=lambda m: (-m.length, m.when, m.story_id))


def choose_canonical(
    members: Sequence[Member], rule: CanonicalRule, priority: Sequence[str] = ()
) -> int:
    """The story that stands for the event under ``rule``.

    ``agency`` (the default): the agency most variants credit ("(Reuters) -", "TASS reported");
    its own copy if the event has one, else the most complete variant that credits it first (a
    reprint of its wire), else the most complete variant. ``earliest``: the first published.
    ``complete``: the longest text. ``priority``: the first source on the list that carried it.
    Ties go to the earlier, then the lower id, so the choice is deterministic.
    """
    if not members:
        raise ValueError("an event has at least one member")
    if rule == "earliest":
        return min(members, key=lambda m: (m.when, m.story_id)).story_id
    if rule == "priority":
        for wanted in priority:
            carried = [m for m in members if _is_from(m.source, (wanted.lower(),))]
            if carried:
                return min(carried, key=lambda m: (m.when, m.story_id)).story_id
        return _most_complete(members).story_id
    if rule == "agency":
        credited: Counter[str] = Counter()
        first_credit: dict[str, tuple[datetime, int, int]] = {}
        for m in sorted(members, key=lambda m: (m.when, m.story_id)):
            carrier = [a for a, doms in AGENCY_DOMAINS.items() if _is_from(m.source, doms)]
            # An agency's own copy first, then credits in the order the text gives them (the
            # dateline credit comes first).
            for position, agency in enumerate(dict.fromkeys([*carrier, *m.credits])):
                credited[agency] += 1
                first_credit.setdefault(agency, (m.when, m.story_id, position))
        if credited:
            agency = min(credited, key=lambda a: (-credited[a], first_credit[a]))
            own = [m for m in members if _is_from(m.source, AGENCY_DOMAINS.get(agency, ()))]
            if own:
                return min(own, key=lambda m: (m.when, m.story_id)).story_id
            reprints = [m for m in members if m.credits[:1] == (agency,)]
            if reprints:
                return _most_complete(reprints).story_id
    return _most_complete(members).story_id
