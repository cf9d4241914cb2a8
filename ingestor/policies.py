"""What each stage may be told: one frozen, validated policy per stage.

Owns: the policies (``SchedulePolicy``, ``FetchPolicy``, ``ParsePolicy``, ``FingerprintPolicy``,
``ClusterPolicy``, ``StorePolicy``, ``DaemonPolicy``, ``ServePolicy``, ``WebhookPolicy``): every
field's type, default, bounds and meaning. They are the tables of ``config/ingestor.toml``:
``config.Settings`` holds one of each (``settings.fetch`` is the ``FetchPolicy`` the fetcher is
built with), so a setting is declared once, and a stage takes its policy as a value without ever
reading configuration.

Does not: read files or the environment (``config`` layers file < environment < flags into
these), or use the values (each stage does). Imports pydantic and nothing of ``ingestor``.

Constructing a policy validates it like the file does (``FetchPolicy(timeout_s=0)`` is refused);
list fields also take one comma-separated string, as an environment variable gives them.
``config/ingestor.toml`` says what each setting is for, with its default; ``docs/design.md``
has the measurements behind the clustering and fingerprint defaults.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

__all__ = [
    "FINGERPRINT_RECIPE",
    "CanonicalRule",
    "ClusterPolicy",
    "DaemonPolicy",
    "FetchPolicy",
    "FingerprintPolicy",
    "Network",
    "ParsePolicy",
    "SchedulePolicy",
    "ServePolicy",
    "StorePolicy",
    "WebhookPolicy",
    "Words",
]

MiB = 1024 * 1024

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
CanonicalRule = Literal["agency", "earliest", "complete", "priority"]


def _items(value: Any) -> Any:
    """A comma-separated string as its items (blanks trimmed, empty items dropped); anything
    else as it is, for the field's own validation."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _networks(value: Any) -> Any:
    items = _items(value)
    if isinstance(items, str) or not isinstance(items, Iterable):
        return items
    out = []
    for item in items:
        if isinstance(item, str):
            try:
                item = ipaddress.ip_network(item, strict=False)
            except ValueError as e:
                raise ValueError(f"{item!r} is not a CIDR network") from e
        out.append(item)
    return tuple(out)


Words = Annotated[tuple[str, ...], BeforeValidator(_items)]
"""A list setting: a TOML array, or one comma-separated string (the environment)."""
Networks = Annotated[tuple[Network, ...], BeforeValidator(_networks)]


class _Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class SchedulePolicy(_Policy):
    """Poll timing (``schedule``)."""

    interval_s: int = Field(default=1800, ge=1)
    """Seconds between polls of a healthy feed; a feed's hints can lengthen it, never shorten."""
    min_interval_s: int = Field(default=300, ge=1)
    max_interval_s: int = Field(default=86400, ge=1)
    jitter: float = Field(default=0.1, ge=0.0, le=0.5)
    """Fraction of the delay a poll may move either way."""
    backoff_base_s: int = Field(default=300, ge=1)
    backoff_max_s: int = Field(default=86400, ge=1)
    park_after_errors: int = Field(default=10, ge=1)

    @model_validator(mode="after")
    def _bounds(self) -> SchedulePolicy:
        if self.min_interval_s > self.max_interval_s:
            raise ValueError("need 1 <= min_interval_s <= max_interval_s")
        return self

    @property
    def error_max_s(self) -> int:
        """The longest wait after a failure."""
        return max(self.max_interval_s, self.backoff_max_s)


class FetchPolicy(_Policy):
    """Limits for fetching feeds and article pages (``fetch``)."""

    timeout_s: float = Field(default=30.0, gt=0, le=600)
    """Total deadline: DNS, connect, TLS, headers, body and every redirect hop together."""
    connect_timeout_s: float = Field(default=10.0, gt=0, le=600)
    max_body_bytes: int = Field(default=15 * MiB, ge=1024)
    """Counted after decompression."""
    max_redirects: int = Field(default=5, ge=0, le=20)
    user_agent: str = "ingestor/0.1 (news feed deduplication; +https://example.org/ingestor)"
    allow_networks: Networks = ()
    """Networks fetched even though private or loopback (an operator's internal feeds)."""
    workers: int = Field(default=16, ge=1, le=256)
    """Feeds polled at once (the pipeline's worker threads)."""
    per_host: int = Field(default=2, ge=1, le=64)
    """Concurrent requests per host name."""
    article_below_words: int = Field(default=150, ge=0, le=100_000)
    """A new entry of an http(s) feed whose text is shorter than this many words is a summary:
    its linked page is fetched and its main text stored instead. 0: never."""
    article_max_per_poll: int = Field(default=20, ge=0, le=500)
    """Article pages fetched for one poll of one feed at most (the rest keep their summary)."""


class ParsePolicy(_Policy):
    """Limits for reading one feed document (``parse``)."""

    time_budget_s: float = Field(default=5.0, gt=0, le=120)
    """Seconds one document may take to parse and normalize, in a worker process."""
    max_entries: int = Field(default=500, ge=1)


FINGERPRINT_RECIPE = "fp3"
"""What ``fingerprint`` does with a policy's parameters, as the first part of every signature's
version: changed whenever ``fingerprint`` or what it relies on (``lexicon``, ``words``) changes
what a signature holds. ``fp2`` added the language and the headline in short texts' shingles;
``fp3`` finds names by Unicode letter category (``lexicon``), not by listed letter ranges."""


class FingerprintPolicy(_Policy):
    """The fingerprint recipe's parameters (``fingerprint``). Changing any of them changes
    ``version``: stored signatures of another version are recomputed, never compared."""

    shingle_size: int = Field(default=5, ge=2, le=12)
    shingle_perm: int = Field(default=64, ge=16, le=1024)
    """Permutations of the shingle MinHash: copies sit far above the copy threshold, so 64
    estimate their Jaccard well enough (standard error 0.06 at 0.5) at half the cost."""
    num_perm: int = Field(default=128, ge=16, le=1024)
    """Permutations of the key-term MinHash, whose LSH must find rewrites at low Jaccard."""
    key_terms: int = Field(default=48, ge=4, le=1000)
    max_terms: int = Field(default=200, ge=10, le=5000)
    name_boost: float = Field(default=3.0, ge=1.0, le=20.0)
    title_boost: float = Field(default=2.0, ge=0.0, le=20.0)
    short_text: int = Field(default=50, ge=0, le=10000)
    """Below this many words the headline is shingled with the text: a line that short (a paywall
    teaser, "The post appeared first on ...") can be shared by unrelated stories, and is not
    enough to call two entries copies of one text. Such a story never merges two events either.
    0: never."""

    @property
    def version(self) -> str:
        return (
            f"{FINGERPRINT_RECIPE}-w{self.shingle_size}-s{self.shingle_perm}-p{self.num_perm}"
            f"-k{self.key_terms}-t{self.max_terms}"
            f"-n{_exact(self.name_boost)}-h{_exact(self.title_boost)}-b{self.short_text}"
        )


def _exact(value: float) -> str:
    """A short spelling of ``value`` that still tells it apart from every other float."""
    short = f"{value:g}"
    return short if float(short) == value else repr(value)


class ClusterPolicy(_Policy):
    """Event assignment's thresholds and limits (``cluster``)."""

    join_probability: float = Field(default=0.3, gt=0.0, lt=1.0)
    """The verification score (``cluster._score``: the probability that a story and an event
    are one story, from their cosine and time gap) the best candidate needs for the story to
    join it."""
    merge_probability: float = Field(default=0.85, gt=0.0, le=1.0)
    """A story that joins one event and scores at least this against another candidate asks
    whether the two are one story that split early: they merge when the two events' centroids
    score ``join_probability`` against each other without the story
    (``cluster._decision.same_story``). 1: never."""
    min_cosine: float = Field(default=0.2, ge=0.0, le=1.0)
    """However close in time, a story joins on content only at this cosine or more: the best of
    many unrelated events in a busy window reaches about 0.15 by chance (99 % of pairs of
    unrelated stories stay under 0.13), and a dense day must not fold its stories together on
    that."""
    copy_threshold: float = Field(default=0.5, gt=0.0, le=1.0)
    candidate_threshold: float = Field(default=0.1, gt=0.0, lt=1.0)
    """LSH threshold on key-term Jaccard: low, because verification decides."""
    posted_terms: int = Field(default=10, ge=0, le=200)
    """Each indexed story is posted under its this many most distinctive terms (the first of
    its signature's weights); 0: no term postings, the LSH alone finds candidates."""
    shared_terms: int = Field(default=2, ge=1, le=200)
    """An event holding a story that shares at least this many of a story's posted terms is a
    candidate."""
    window_hours: float = Field(default=72.0, gt=0.0, le=24 * 365)
    """Stories only join events within this many hours of their time."""
    prior_docs: int = Field(default=2000, ge=0)
    """``N0``: how many documents' worth of weight the background frequencies carry."""
    max_candidates: int = Field(default=12, ge=1, le=1000)
    """Events verified per story from each index (key-term LSH hits, term postings), those with
    most hits first; every copy's event is verified besides."""
    redundant_copy: float = Field(default=0.8, gt=0.0, le=1.0)
    """A copy at least this alike (shingle Jaccard) with a member is not indexed on its own."""
    canonical: CanonicalRule = "agency"
    source_priority: Words = ()

    @property
    def window(self) -> timedelta:
        return timedelta(hours=self.window_hours)


class StorePolicy(_Policy):
    """The store (``store``)."""

    max_revisions: int = Field(default=5, ge=0)
    """Previous versions kept when a story is edited in place."""
    auto_migrate: bool = True
    """Migrate an out-of-date schema at start-up; when false the daemon refuses to start."""
    retention_days: int = Field(default=0, ge=0, le=36500)
    """Stories older than this many days (by published, else fetched time) are pruned by the
    daemon once a day; 0 keeps everything."""


class DaemonPolicy(_Policy):
    """The daemon's tick (``daemon``)."""

    tick_s: int = Field(default=60, ge=1)
    batch: int = Field(default=200, ge=1)
    """At most this many due feeds per tick."""
    lease_s: int = Field(default=600, ge=10)
    """How long a daemon holds a claimed feed; longer than a poll can take (fetch deadline plus
    parse budget plus the write), so no other daemon polls it meanwhile."""


class ServePolicy(_Policy):
    """The HTTP server (``ingestor serve``, ``ingestor run --serve``)."""

    host: str = Field(default="127.0.0.1", min_length=1, max_length=255)
    """Listen on this address only; 0.0.0.0 (every interface) must be asked for."""
    port: int = Field(default=8080, ge=0, le=65535)
    token: str = Field(default="", max_length=1024, repr=False)
    """When set, ``/api/...`` requires ``Authorization: Bearer <token>``, and the curation
    actions (forms and API) require it too; empty: open, actions from the same origin only."""
    actions: bool = True
    """The curation actions (merge, split, move, delete) as forms on the event page and as
    ``POST``/``DELETE`` endpoints of the API; false hides the forms and refuses the endpoints."""


def _http_urls(value: Any) -> Any:
    items = _items(value)
    if isinstance(items, str) or not isinstance(items, Iterable):
        return items
    for item in items:
        if not isinstance(item, str) or not item.lower().startswith(("http://", "https://")):
            raise ValueError(f"{item!r} is not an http(s) URL")
    return tuple(items)


class WebhookPolicy(_Policy):
    """Webhooks (``pipeline`` delivers them after each tick; the store writes the outbox)."""

    urls: Annotated[tuple[str, ...], BeforeValidator(_http_urls)] = ()
    """Each gets a signed JSON POST on ``event.created``, ``event.variant_added`` and
    ``event.merged``; the fetch address checks apply (``fetch.allow_networks`` widens them)."""
    secret: str = Field(default="", max_length=1024, repr=False)
    """The HMAC-SHA256 key of the ``X-Ingestor-Signature`` header."""
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    max_attempts: int = Field(default=12, ge=1, le=100)
    backoff_base_s: int = Field(default=30, ge=1)
    backoff_max_s: int = Field(default=6 * 3600, ge=1)
    batch: int = Field(default=100, ge=1, le=10_000)
    """Deliveries tried per tick at most."""
