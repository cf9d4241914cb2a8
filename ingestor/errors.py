"""Every failure ``ingestor`` expects, as one tree.

Owns: the exception types. Third-party exceptions are translated into these at the boundary of the
one module that uses the library (``raise ... from e``), so nothing above a stage ever catches an
``httpx`` or ``sqlalchemy`` error. Anything that is *not* an ``IngestorError`` is a bug: the
daemon logs it as critical and re-raises.

Expected failures travel as values (``FetchResult.error``, ``FeedRunResult.error``); they are
raised only where the caller cannot go on (a bad setting, an out-of-date schema).

Also owns ``one_line``, the one way a message or a hostile value is made safe for a single line
(a log value, a table cell, an error message): every stage that translates a third-party
exception, the log renderer and the CLI's tables use it.

::

    IngestorError
    ├── ConfigError                 a setting is missing or invalid
    ├── FetchError                  fetch.py: the feed could not be fetched
    │   ├── FetchTimeout            the total deadline passed
    │   ├── BodyTooLarge            the body passed the cap (counted after decompression)
    │   ├── BlockedAddress          the host resolves to an address we never connect to
    │   ├── UnsupportedURL          not http/https (or a local file the operator did not name)
    │   ├── TooManyRedirects        redirect limit or loop
    │   ├── HTTPStatusError         the server answered with an error status (.status_code)
    │   └── TransportError          DNS, connection refused or reset, TLS
    ├── ParseError                  parse.py: the bytes are not a feed we can read
    │   ├── ParseTimeout            the document used up its time budget
    │   └── ParseBusy               no parse worker came free before the poll's deadline
    ├── NormalizeError              normalize.py: nothing usable left after cleaning
    ├── StoreError                  store/: the database failed or refused
    │   ├── SchemaError             the schema is older (or newer) than this code
    │   └── NotFound                no such event, feed or story
    ├── IndexError_                 the shared LSH index failed
    ├── OPMLError                   opml.py: an OPML file is unreadable or unsafe
    └── ReplayError                 replay input is unreadable or unsafe
        └── PathEscape              a path or archive member leaves the given roots
"""

from __future__ import annotations

import re

__all__ = [
    "BlockedAddress",
    "BodyTooLarge",
    "ConfigError",
    "FetchError",
    "FetchTimeout",
    "HTTPStatusError",
    "IndexError_",
    "IngestorError",
    "NormalizeError",
    "NotFound",
    "OPMLError",
    "ParseBusy",
    "ParseError",
    "ParseTimeout",
    "PathEscape",
    "Refused",
    "ReplayError",
    "SchemaError",
    "StoreError",
    "TooManyRedirects",
    "TransportError",
    "UnsupportedURL",
    "one_line",
]


class IngestorError(Exception):
    """Root of every expected failure. ``kind`` is the short name logs and JSON output use."""

    kind = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.message == getattr(other, "message", None)

    def __hash__(self) -> int:
        return hash((type(self), self.message))


class ConfigError(IngestorError):
    kind = "config"


class FetchError(IngestorError):
    kind = "fetch"


class FetchTimeout(FetchError):
    kind = "timeout"


class BodyTooLarge(FetchError):
    kind = "too_large"


class BlockedAddress(FetchError):
    kind = "blocked_address"


class UnsupportedURL(FetchError):
    kind = "unsupported_url"


class TooManyRedirects(FetchError):
    kind = "too_many_redirects"


class HTTPStatusError(FetchError):
    kind = "http_status"

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class TransportError(FetchError):
    kind = "transport"


class ParseError(IngestorError):
    kind = "parse"


class ParseTimeout(ParseError):
    kind = "parse_timeout"


class ParseBusy(ParseError):
    """Every budget worker stayed busy (with other feeds' documents) until the poll's deadline:
    nothing is wrong with this feed, which is simply due again."""

    kind = "parse_busy"


class NormalizeError(IngestorError):
    kind = "normalize"


class StoreError(IngestorError):
    kind = "store"


class SchemaError(StoreError):
    kind = "schema"


class NotFound(StoreError):
    kind = "not_found"


class Refused(StoreError):
    """A change the store will not make because it makes no sense (merging an event into
    itself, splitting every story off): the request's mistake, not the store's failure."""


class IndexError_(IngestorError):
    """The shared index failed (named with a trailing underscore: ``IndexError`` is a builtin)."""

    kind = "index"


class OPMLError(IngestorError):
    """The file is not an OPML document we are willing to read (too large, not well-formed,
    a DTD or entity declaration, too many elements)."""

    kind = "opml"


class ReplayError(IngestorError):
    kind = "replay"


class PathEscape(ReplayError):
    kind = "path_escape"


# -- showing messages ---------------------------------------------------------------------------
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
"""What a terminal would act on rather than show: C0 and C1 controls, line and paragraph
separators, and the bidi marks, embeddings, overrides and isolates (which reorder a line)."""


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def one_line(value: str | BaseException, *, limit: int = 0) -> str:
    """``value`` safe to show on one line.

    A string keeps its text, with every control character (newlines, Unicode line separators
    and bidi controls included) escaped as ``\\xNN`` or ``\\uNNNN``. An exception gives the
    first non-blank line of its message, runs of whitespace as one space (the lines after it are
    a driver's SQL echo or notes), or its type name when it has no message. ``limit`` (when
    positive) cuts the result to that many characters, the last one an ellipsis."""
    if isinstance(value, BaseException):
        lines = (" ".join(line.split()) for line in str(value).splitlines())
        text = next((line for line in lines if line), "") or type(value).__name__
    else:
        text = value
    if limit > 0:
        text = text[: limit + 1]  # escaping only lengthens: enough to tell whether it is cut
    escaped = _CONTROL.sub(_escape, text)
    if limit > 0 and len(escaped) > limit:
        return escaped[: limit - 1] + "…"
    return escaped
