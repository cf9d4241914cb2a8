"""The canonical-story policy: which variant stands for an event.

Owns: ``choose_canonical`` and the facts it needs (``Member``; the agencies' own domains come
from ``ingestor.agencies``, the one agency table). Pure: members in, a story id out; the
clusterer asks whenever an event gains a variant, so the canonical story can change as variants
arrive. ``Tally`` keeps the answer up to date one member at a time, so asking costs the same
whatever the event's size.

Does not: detect credits in text (``fingerprint.agency_credits`` does, and signatures carry
them) or touch the store.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ingestor.agencies import DOMAINS
from ingestor.policies import CanonicalRule

__all__ = ["AGENCY_DOMAINS", "CanonicalRule", "Member", "Tally", "choose_canonical"]

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


def _earlier(a: tuple[Any, ...] | None, b: tuple[Any, ...]) -> tuple[Any, ...]:
    return b if a is None or b < a else a


class Tally:
    """What ``choose_canonical`` looks at, kept up to date one member at a time.

    ``add`` costs the same whatever the event's size (a pass over the agency table and the
    priority list), and ``choose`` answers exactly what ``choose_canonical`` would over the
    members added so far, so an event of thousands of variants does not rescan them all each
    time one more arrives. Every minimum is over ``(time, story id)`` or ``(-length, time,
    story id)``: the order members arrive in changes nothing.
    """

    __slots__ = (
        "carried",
        "complete",
        "credited",
        "earliest",
        "first_credit",
        "own",
        "priority",
        "reprint",
        "rule",
    )  # fmt: skip

    def __init__(self, rule: CanonicalRule, priority: Sequence[str] = ()) -> None:
        self.rule = rule
        self.priority = tuple(p.lower() for p in priority)
        self.earliest: tuple[Any, ...] | None = None  # (when, story id)
        self.complete: tuple[Any, ...] | None = None  # (-length, when, story id)
        self.carried: dict[int, tuple[Any, ...]] = {}  # priority position -> (when, story id)
        self.credited: Counter[str] = Counter()  # agency -> members crediting or carrying it
        self.first_credit: dict[str, tuple[Any, ...]] = {}  # agency -> (when, story id, position)
        self.own: dict[str, tuple[Any, ...]] = {}  # agency -> (when, story id) of its own copies
        self.reprint: dict[str, tuple[Any, ...]] = {}  # agency -> (-length, when, id), first credit

    def add(self, m: Member) -> None:
        timed = (m.when, m.story_id)
        self.earliest = _earlier(self.earliest, timed)
        self.complete = _earlier(self.complete, (-m.length, m.when, m.story_id))
        if self.rule == "priority":
            for position, wanted in enumerate(self.priority):
                if _is_from(m.source, (wanted,)):
                    self.carried[position] = _earlier(self.carried.get(position), timed)
        elif self.rule == "agency":
            carrier = [a for a, doms in AGENCY_DOMAINS.items() if _is_from(m.source, doms)]
            for agency in carrier:
                self.own[agency] = _earlier(self.own.get(agency), timed)
            # An agency's own copy first, then credits in the order the text gives them (the
            # dateline credit comes first).
            for position, agency in enumerate(dict.fromkeys([*carrier, *m.credits])):
                self.credited[agency] += 1
                first = (m.when, m.story_id, position)
                self.first_credit[agency] = _earlier(self.first_credit.get(agency), first)
            if m.credits:
                wire = m.credits[0]
                self.reprint[wire] = _earlier(self.reprint.get(wire), (-m.length, *timed))

    def choose(self) -> int:
        """The canonical story of the members added so far (see ``choose_canonical``)."""
        if self.complete is None or self.earliest is None:
            raise ValueError("an event has at least one member")
        if self.rule == "earliest":
            return int(self.earliest[1])
        if self.rule == "priority":
            for position in range(len(self.priority)):
                if position in self.carried:
                    return int(self.carried[position][1])
        elif self.rule == "agency" and self.credited:
            credited, first = self.credited, self.first_credit
            agency = min(credited, key=lambda a: (-credited[a], first[a]))
            if agency in self.own:
                return int(self.own[agency][1])
            if agency in self.reprint:
                return int(self.reprint[agency][2])
        return int(self.complete[2])


def choose_canonical(
    members: Sequence[Member], rule: CanonicalRule, priority: Sequence[str] = ()
) -> int:
    """The story that stands for the event under ``rule``.

    ``agency`` (the default): the agency most variants credit ("(Reuters) -", "TASS reported");
    its own copy if the event has one, else the most complete variant that credits it first (a
    reprint of its wire), else the most complete variant. ``earliest``: the first published.
    ``complete``: the longest text. ``priority``: the first source on the list that carried it.
    Ties go to the earlier, then the lower id, so the choice is deterministic. (One ``Tally``
    over the members; the clusterer keeps one per event and adds to it.)
    """
    tally = Tally(rule, priority)
    for member in members:
        tally.add(member)
    return tally.choose()
