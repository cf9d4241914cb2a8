"""Unrelated stories in one language: do they stay apart?

    python benchmarks/languages.py [--docs 300] [--as-english] [LANG ...]

For each language (default: en de fr es it pt nl ru pl tr), ``--docs`` pseudo-documents of 300
words are drawn from that language's word frequencies (wordfreq's small list, seeded): unrelated
texts that share exactly what real text in the language shares, its function words. They go
through the real ``fingerprint`` and ``Clusterer``; every one should start its own event. One
line per language: the language detected, the events formed, and the best cosine each story met
(median, 95th percentile, maximum) against the 0.35 a rewrite needs. ``--as-english`` weighs
every story by English frequencies, as fingerprints before ``fp2`` did.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from collections import Counter
from datetime import UTC, datetime

from ingestor import lexicon
from ingestor.cluster import Clusterer
from ingestor.fingerprint import fingerprint
from ingestor.models import Story

LANGUAGES = ["en", "de", "fr", "es", "it", "pt", "nl", "ru", "pl", "tr"]
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def pseudo_documents(language: str, n: int, words: int = 300) -> list[Story]:
    """``n`` unrelated texts of ``words`` words (headlines of 8) drawn from the language's word
    frequencies, seeded by the language: what they share is its function words, in the
    proportions real text has them."""
    from wordfreq import get_frequency_dict, top_n_list

    vocabulary = top_n_list(language, 20000, wordlist="small")
    table = get_frequency_dict(language, wordlist="small")
    weights = [table[w] for w in vocabulary]
    rng = random.Random(language)
    stories = []
    for i in range(n):
        text = " ".join(rng.choices(vocabulary, weights, k=words))
        title = " ".join(rng.choices(vocabulary, weights, k=8))
        stories.append(
            Story(source=f"s{i}.example", title=title, text=text, fetched=NOW, content_hash=str(i))
        )
    return stories


def measure(language: str, docs: int) -> str:
    clusterer = Clusterer()
    detected: Counter[str] = Counter()
    best: list[float] = []
    next_event = 1
    for i, story in enumerate(pseudo_documents(language, docs)):
        signature = fingerprint(story)
        detected[signature.language] += 1
        assignment = clusterer.assign(signature, NOW)
        best.append(assignment.signals.get("cosine", 0.0))
        event_id = assignment.event_id
        if event_id is None:
            event_id, next_event = next_event, next_event + 1
        clusterer.add(i, event_id, signature, when=NOW, source=story.source, assignment=assignment)
    best.sort()
    p95 = best[min(len(best) - 1, int(0.95 * len(best)))]
    read_as = ", ".join(f"{lang} {n}" for lang, n in detected.most_common())
    return (
        f"{language}: read as {read_as}; {clusterer.events} events of {docs}; best cosine "
        f"median {statistics.median(best):.3f}, p95 {p95:.3f}, max {best[-1]:.3f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("languages", nargs="*", default=LANGUAGES)
    parser.add_argument("--docs", type=int, default=300)
    parser.add_argument(
        "--as-english", action="store_true", help="weigh every story by English frequencies"
    )
    args = parser.parse_args(argv)
    if args.as_english:
        lexicon._language = lambda counts, total: lexicon.DEFAULT_LANGUAGE
    for language in args.languages:
        print(measure(language, args.docs), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
