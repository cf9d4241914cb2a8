"""URLs and source names: one spelling per http(s) URL, one name per publisher.

Owns: ``canonical_url`` (scheme and host case, IDNA, default ports, userinfo, fragments, tracking
parameters, dot segments, percent-encoding and parameter order), ``publisher_host`` (the host
without ``www.``) and ``source_name`` (that host, else a cleaned fallback name).

Does not: resolve relative links (``parse`` joins them against the feed's URL; ``_sanitize`` lets
nh3 rewrite them), follow redirects, or judge whether an address may be fetched (``fetch``).

Inputs: entry links and feed URLs from ``ParsedEntry`` values and feed rows, and URLs named by
replayed files and dataset records; all hostile, so length is capped before and after.

Decision: ``canonical_url`` keeps ``www.``: the URL must stay a working link and some hosts answer
only under one of the two names; ``source_name`` drops it, so both spellings are one source.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from ingestor.normalize._chars import CONTROL
from ingestor.normalize._text import inline
from ingestor.words import word_set

__all__ = ["MAX_URL_CHARS", "canonical_url", "publisher_host", "source_name"]

MAX_URL_CHARS = 2_048

_TRACKING = word_set(
    "fbclid gclid gclsrc dclid msclkid yclid twclid ttclid igshid mc_cid mc_eid ref ref_src "
    "ref_url cmpid cmp _ga _gl ocid ncid smid soc_src soc_trk sr_share spm xtor ito mkt_tok "
    "guccounter guce_referrer guce_referrer_sig fb_action_ids fb_action_types fb_ref fb_source "
    "rb_clickid s_cid vero_id wickedid oly_anon_id oly_enc_id li_fat_id at_medium at_campaign "
    "__twitter_impression share"
)
_TRACKING_PREFIXES = ("utm_", "hsa_", "pk_", "mtm_", "matomo_", "piwik_", "at_custom")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PATH_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}|[^A-Za-z0-9\-._~!$&'()*+,;=:@/]")
_QUERY_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}|[^A-Za-z0-9\-._~!$'()*+,;:@/?]")
_HOST = re.compile(r"[a-z0-9_.-]+")


def _escape(part: str, pattern: re.Pattern[str]) -> str:
    def fix(match: re.Match[str]) -> str:
        token = match[0]
        if len(token) == 3 and token[0] == "%":
            char = chr(int(token[1:], 16))
            return char if char in _UNRESERVED else token.upper()
        return quote(token, safe="")

    return pattern.sub(fix, part)


def _remove_dots(path: str) -> str:
    segments = path.split("/")
    out: list[str] = []
    for segment in segments:
        if segment == "..":
            if len(out) > 1:
                out.pop()
        elif segment != ".":
            out.append(segment)
    if segments[-1] in (".", ".."):
        out.append("")
    path = "/".join(out)
    return path if path.startswith("/") else "/" + path


def canonical_url(url: str | None) -> str | None:
    """The http(s) URL in one spelling, or ``None`` for anything else (``javascript:``, ``data:``,
    relative, malformed). Lowercase scheme and host, IDNA host, no default port, no userinfo, no
    fragment, no tracking parameters, dot segments resolved, query parameters sorted."""
    if not isinstance(url, str) or len(url) > 2 * MAX_URL_CHARS:
        return None
    try:
        parts = urlsplit(CONTROL.sub("", url).strip())
        scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port
        if scheme not in ("http", "https") or not host:
            return None
        if ":" in host:
            host = f"[{host}]"
        else:
            host = host.rstrip(".").encode("idna").decode("ascii").lower()
            if not _HOST.fullmatch(host):
                return None
    except (ValueError, UnicodeError):
        return None
    netloc = host if port in (None, {"http": 80, "https": 443}[scheme]) else f"{host}:{port}"
    path = re.sub(r";jsessionid=[^/]*", "", parts.path, flags=re.I)
    path = _remove_dots(_escape(path, _PATH_ESCAPE))
    pairs = []
    for pair in parts.query.split("&"):
        if not pair:
            continue
        key = unquote(pair.split("=", 1)[0]).casefold()
        if key in _TRACKING or key.startswith(_TRACKING_PREFIXES):
            continue
        pairs.append("=".join(_escape(p, _QUERY_ESCAPE) for p in pair.split("=", 1)))
    result = urlunsplit((scheme, netloc, path, "&".join(sorted(pairs)), ""))
    return result if len(result) <= MAX_URL_CHARS else None


def source_name(url: str | None, fallback: str | None) -> str:
    """The publisher's host without ``www.`` ("reuters.com"), else the fallback, else "unknown"."""
    return publisher_host(url) or inline(fallback, 200) or "unknown"


def publisher_host(url: str | None) -> str | None:
    """The canonical URL's host without ``www.``, or ``None`` when it is not an http(s) URL."""
    canonical = canonical_url(url)
    host = urlsplit(canonical).hostname if canonical else None
    return host.removeprefix("www.") if host else None
