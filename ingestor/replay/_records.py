"""The JSON formats replay reads: labelled streams of records, ``sources.json`` sidecars, times.

Owns: ``Record`` (one line of a stream in the dataset record format) and reading streams
(``.jsonl``, ``.jsonl.gz``) line by line with a cap per line (``records``, ``count_lines``);
``Meta`` and ``load_sidecar`` (the title, address, source and time a sidecar gives the articles of
its directory); and the field rules both formats share: strings or null, and ISO 8601 times as
UTC (a date alone is midnight UTC, no offset means UTC).

Does not: find files or members (the package and ``_archives``), sniff or read articles, or hold
a stream in memory: a line longer than the cap is skipped as it is read, never kept. It raises
nothing for bad input; each bad line or sidecar entry is yielded as a ``ReplayError`` that names
it, and the next one is read.

Inputs: ``Source`` values for stream and sidecar files, on disk or in archives, and the line and
sidecar caps the package passes in; every byte and field is hostile.
"""

from __future__ import annotations

import codecs
import gzip
import json
from collections.abc import Generator, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any, cast

from ingestor.charsets import decode_text
from ingestor.errors import ReplayError
from ingestor.replay._source import READ_ERRORS, Source, read, show

__all__ = ["Meta", "Record", "count_lines", "gunzip", "load_sidecar", "records"]

_CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Record:
    """One line of a labelled stream in the dataset record format."""

    path: str
    """``stream.jsonl.gz:LINE``."""
    id: str
    text: str
    """The body: plain text, or the whole HTML page when ``is_html``."""
    is_html: bool
    title: str | None
    url: str | None
    source: str | None
    published: datetime | None
    """UTC; a date alone means midnight UTC, a time without an offset is taken as UTC."""
    event: str | None
    """The gold label, when the stream carries one."""
    dataset: str | None


@dataclass(frozen=True, slots=True)
class Meta:
    """What a sidecar says about one article file."""

    title: str | None = None
    url: str | None = None
    source: str | None = None
    published: datetime | None = None


# -- sidecars -----------------------------------------------------------------------------------


def load_sidecar(src: Source, cap: int) -> Generator[ReplayError, None, dict[str, Meta]]:
    """Yields what is wrong with a ``sources.json``; returns what is right in it."""
    try:
        data = json.loads(decode_text(read(src, cap)))
    except ReplayError as e:
        yield e
        return {}
    except (ValueError, RecursionError) as e:
        yield ReplayError(f"{src.display}: not valid JSON ({show(str(e))})")
        return {}
    if not isinstance(data, dict):
        yield ReplayError(f"{src.display}: must map file names to objects")
        return {}
    metas: dict[str, Meta] = {}
    for name, entry in data.items():
        try:
            if not isinstance(entry, dict):
                raise ReplayError("must be an object")
            metas[name] = Meta(_text(entry, "title"), _text(entry, "url"),
                               _text(entry, "source"), _time(entry.get("published")))  # fmt: skip
        except ReplayError as e:
            yield ReplayError(f"{src.display}: entry {show(repr(name))}: {e.message}")
    return metas


# -- streams ------------------------------------------------------------------------------------


def records(src: Source, max_line_bytes: int) -> Iterator[Record | ReplayError]:
    """Every record of a stream, in order; bad lines, overlong lines and a broken stream as
    errors naming the line."""
    lineno = 0
    try:
        with src.open() as raw, gunzip(raw, src.name.lower()) as f:
            while line := f.readline(max_line_bytes + 1):
                lineno += 1
                where = f"{src.display}:{lineno}"
                if len(line) > max_line_bytes and not line.endswith(b"\n"):
                    while line and not line.endswith(b"\n"):
                        line = f.readline(_CHUNK_BYTES)
                    yield ReplayError(f"{where}: line longer than {max_line_bytes} bytes")
                    continue
                if lineno == 1:
                    line = line.removeprefix(codecs.BOM_UTF8)
                if line.strip():
                    try:
                        yield _record(where, line)
                    except ReplayError as e:
                        yield ReplayError(f"{where}: {e.message}")
    except ReplayError as e:
        yield e
    except READ_ERRORS as e:
        reason = show(str(e) or type(e).__name__)
        yield ReplayError(f"{src.display}:{lineno + 1}: unreadable stream: {reason}")


def count_lines(src: Source) -> int:
    """Lines in a stream, a last line without a newline included; raises what reading raises."""
    lines, last = 0, b"\n"
    with src.open() as raw, gunzip(raw, src.name.lower()) as f:
        while chunk := f.read(_CHUNK_BYTES):
            lines, last = lines + chunk.count(b"\n"), chunk
    return lines + (not last.endswith(b"\n"))


def gunzip(raw: IO[bytes], lower: str) -> AbstractContextManager[IO[bytes]]:
    """``raw`` decompressed when ``lower`` (the file's name, lower case) ends in ``.gz``."""
    if lower.endswith(".gz"):
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb"))
    return nullcontext(raw)


def _record(where: str, line: bytes) -> Record:
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError) as e:
        raise ReplayError(f"not valid JSON ({show(str(e))})") from e
    if not isinstance(obj, dict):
        raise ReplayError("a record must be a JSON object")
    rid = obj.get("id")
    rid = str(rid) if isinstance(rid, int) and not isinstance(rid, bool) else rid
    if not isinstance(rid, str) or not rid.strip():
        raise ReplayError("'id' must be a non-empty string")
    if isinstance(obj.get("html"), str):
        body, is_html = obj["html"], True
    elif isinstance(obj.get("text"), str):
        body, is_html = obj["text"], False
    else:
        raise ReplayError("a record needs a 'text' or 'html' string")
    return Record(where, rid, body, is_html, _text(obj, "title"), _text(obj, "url"),
                  _text(obj, "source"), _time(obj.get("published")), _text(obj, "event"),
                  _text(obj, "dataset"))  # fmt: skip


# -- fields -------------------------------------------------------------------------------------


def _text(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    raise ReplayError(f"{key!r} must be a string or null, not {type(value).__name__}")


def _time(value: object) -> datetime | None:
    """An ISO 8601 time as UTC; a date alone is midnight UTC, no offset means UTC."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise ReplayError("'published' must be an ISO 8601 string or null")
    try:
        when = datetime.fromisoformat(value.strip())
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    except (ValueError, OverflowError) as e:
        raise ReplayError(f"'published' is not an ISO 8601 time: {show(repr(value))}") from e
