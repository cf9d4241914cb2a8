"""The news agencies whose copy is syndicated most: one table, read by two stages.

Owns: ``AGENCIES``, each agency's canonical name, the spellings that credit it in running text
("Associated Press", "ITAR-TASS") and the domains of its own sites. ``fingerprint`` finds the
credits a story's text gives (``Signature.credits``); ``cluster``'s canonical-story rule prefers
the agency most variants credit, and its own copy when the event holds one.

Does not: detect anything. Pure data; the order of the table is the order ties are broken in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["AGENCIES", "DOMAINS", "SPELLINGS", "Agency"]


@dataclass(frozen=True, slots=True)
class Agency:
    name: str
    """The canonical name signatures carry ("Reuters", "TASS")."""
    spellings: tuple[str, ...]
    """How running text credits it; matched case-sensitively ("ap" in prose is no credit)."""
    domains: tuple[str, ...]
    """Its own sites: a story from one of them (or a subdomain) is the agency's own copy."""


AGENCIES: tuple[Agency, ...] = (
    Agency("Reuters", ("Reuters",), ("reuters.com",)),
    Agency("AP", ("AP", "Associated Press"), ("apnews.com", "ap.org")),
    Agency("AFP", ("AFP", "Agence France-Presse", "Agence France Presse"), ("afp.com",)),
    Agency("TASS", ("TASS", "ITAR-TASS"), ("tass.com", "tass.ru")),
    Agency("RIA Novosti", ("RIA Novosti", "RIA"), ("ria.ru",)),
    Agency("Interfax", ("Interfax",), ("interfax.com", "interfax.ru")),
    Agency("Sputnik", ("Sputnik",), ("sputniknews.com", "sputnikglobe.com", "sputniknews.in")),
    Agency("Xinhua", ("Xinhua",), ("xinhuanet.com", "news.cn")),
    Agency("Yonhap", ("Yonhap",), ("yna.co.kr", "yonhapnews.co.kr")),
    Agency("KCNA", ("KCNA", "Korean Central News Agency"), ("kcna.kp", "kcnawatch.org")),
    Agency("Kyodo", ("Kyodo",), ("kyodonews.net",)),
    Agency("ANI", ("ANI",), ("aninews.in",)),
    Agency("PTI", ("PTI", "Press Trust of India"), ("ptinews.com",)),
    Agency(
        "IANS", ("IANS", "Indo-Asian News Service", "Indo Asian News Service"), ("ianslive.in",)
    ),
    Agency("UPI", ("UPI", "United Press International"), ("upi.com",)),
    Agency("dpa", ("dpa", "Deutsche Presse-Agentur"), ("dpa.com", "dpa-international.com")),
    Agency("EFE", ("EFE",), ("efe.com",)),
    Agency("ANSA", ("ANSA",), ("ansa.it",)),
    Agency("Anadolu", ("Anadolu", "Anadolu Agency", "AA"), ("aa.com.tr",)),
    Agency("Bernama", ("Bernama",), ("bernama.com",)),
    Agency("Bloomberg", ("Bloomberg",), ("bloomberg.com",)),
)

SPELLINGS: Mapping[str, str] = {s: a.name for a in AGENCIES for s in a.spellings}
"""Every credit spelling -> the agency's canonical name."""
DOMAINS: Mapping[str, tuple[str, ...]] = {a.name: a.domains for a in AGENCIES}
"""The agency's canonical name -> its own domains, in table order."""
