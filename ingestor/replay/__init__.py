"""Replay inputs: the paths an operator names, turned into typed items, safely.

Owns: reading the files behind ``ingestor replay PATH...`` and ``ingestor eval DATASET``. Each path
is a root: a file, or a directory walked recursively in sorted order. A walk skips hidden entries
and ``sources.json`` sidecars, which give the articles of their directory a source, address, time
and title, and passes over the collection's own documentation (``README``, ``LICENSE``,
``CHANGELOG`` and the like, by name, any suffix), which a walk finds but which is no story; named as
a path, such a file is replayed like any other. ``.tar``/``.tar.gz``/``.tgz``/``.zip`` archives
count as directories, their members in archive order: sorting a compressed tar would rewind the gzip
stream once per member. Each file becomes a ``FeedFile`` (RSS, Atom, RDF or JSON Feed, sniffed from
the content), an ``ArticleFile`` (``.txt``/``.text``/``.md`` text, ``.html``/``.htm`` or sniffed
HTML pages) or a stream of ``Record`` values (``.jsonl``/``.jsonl.gz`` in the dataset record format,
read line by line).

This module holds the item types, ``iter_replay`` and ``count_replay``, the walk over disk, the
choice of what each file is, and the limits (``MAX_LINE_BYTES``, ``MAX_MEMBERS``,
``COUNT_LIMIT_BYTES``, ``MAX_SIDECAR_BYTES``), read when a replay runs and passed down. The
pieces it is built from live beside it:

* ``_source``: a file found but not yet read, reading it under a cap, names safe to print;
* ``_sniff``: kind detection from the first bytes;
* ``_records``: ``Record`` and streams read line by line, sidecars, times;
* ``_archives``: tar and zip members, listed, refused or opened.

Import these names from ``ingestor.replay``, never from the modules beside it.

Does not: parse feeds (``parse``), clean text, pick titles or canonicalize URLs (``normalize``),
or raise for bad input. Every expected failure is yielded as a ``ReplayError`` (``PathEscape``
when something leaves its root) and the replay goes on with the next file, member or line.

Inputs are local files, and their bytes and names are hostile:

* A symbolic link found by walking must resolve inside its root. ``..`` and links in a given
  path are resolved first (the operator named them). Files are opened with ``O_NOFOLLOW`` and
  ``O_NONBLOCK`` and refused unless ``fstat`` says they are regular, so a FIFO cannot hang a run.
* An archive member is refused if its name is absolute or holds ``..``, or if it is a link, a
  device or a FIFO. Members are never extracted to disk. They are read through the archive API,
  at most ``max_file_bytes`` each (a zip bomb stops at the cap), and at most ``MAX_MEMBERS``
  per archive. Archives inside archives are not opened.
* A stream line may hold ``MAX_LINE_BYTES`` at most. Streams (and stream members) have no size
  cap, because they are read one line at a time.
* Text is decoded by ``ingestor.charsets.decode_text``: UTF-8 (BOM-aware), else the charset an
  HTML page declares, else cp1252 when ASCII letters dominate, else ``charset_normalizer``'s
  guess, else cp1252 with replacement. Decoding never fails.
* Names in messages and display paths have their control characters escaped.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import IO

from ingestor.charsets import decode_text
from ingestor.errors import PathEscape, ReplayError
from ingestor.replay._archives import members
from ingestor.replay._records import Meta, Record, count_lines, load_sidecar, records
from ingestor.replay._sniff import sniff
from ingestor.replay._source import READ_ERRORS, Source, read, show

__all__ = [
    "MAX_LINE_BYTES",
    "MAX_MEMBERS",
    "SIDECAR",
    "ArticleFile",
    "FeedFile",
    "Record",
    "ReplayItem",
    "count_replay",
    "is_collection",
    "iter_replay",
]

MiB = 1024 * 1024
MAX_LINE_BYTES = 20 * MiB
MAX_MEMBERS = 100_000
"""Members read from one archive; the rest are reported and skipped."""
MAX_SIDECAR_BYTES = 16 * MiB
COUNT_LIMIT_BYTES = 256 * MiB
"""``count_replay`` gives up (``None``) on a stream or archive larger than this on disk."""
SIDECAR = "sources.json"
_STREAMS = (".jsonl", ".jsonl.gz")
_ARCHIVES = (".tar", ".tar.gz", ".tgz", ".zip")
_TEXTS = (".txt", ".text", ".md")
_HTMLS = (".html", ".htm")
_DOCUMENTATION = frozenset(
    {"readme", "license", "licence", "changelog", "changes", "contributing", "copying"}
    | {"notice", "authors", "history"}
)
"""Names (any case, any suffix) of the files that describe a collection rather than belong to
it: a directory or archive walk passes them over (``samples/README.md`` is not a story)."""


def _is_documentation(name: str) -> bool:
    """Whether a file found by a walk is the collection's own documentation."""
    return name.split(".", 1)[0].lower() in _DOCUMENTATION


@dataclass(frozen=True, slots=True)
class FeedFile:
    """A feed document (RSS/Atom/RDF/JSON Feed) to parse as if it had been fetched."""

    path: str
    """Display path: relative to its root, or ``archive.tar.gz!member``."""
    uri: str
    """``file:`` URI used as the feed's URL and source identity."""
    body: bytes


@dataclass(frozen=True, slots=True)
class ArticleFile:
    """One article file: plain text or an HTML page, with its sidecar metadata."""

    path: str
    text: str
    is_html: bool
    title: str | None = None
    """From the sidecar, else ``None`` (``normalize`` then takes the first line)."""
    url: str | None = None
    source: str | None = None
    published: datetime | None = None


ReplayItem = FeedFile | ArticleFile | Record


def iter_replay(
    paths: Sequence[Path], *, max_file_bytes: int = 50 * MiB
) -> Iterator[ReplayItem | ReplayError]:
    """Every item under ``paths``, in order, with failures yielded as values."""
    for given in paths:
        metas: dict[str, Mapping[str, Meta]] = {}
        for src in _walk(Path(given)):
            if isinstance(src, ReplayError):
                yield src
            elif src.name == SIDECAR:
                metas[src.directory] = yield from load_sidecar(src, MAX_SIDECAR_BYTES)
            else:
                yield from _items(src, max_file_bytes, metas.get(src.directory, {}), nested=False)


def is_collection(given: Path) -> bool:
    """Whether a replay path is a collection of files (a directory or an archive), whose stories
    are replayed in time order, rather than one file or stream read in its own order."""
    try:
        return given.is_dir() or given.name.lower().endswith(_ARCHIVES)
    except OSError:
        return False


def count_replay(paths: Sequence[Path]) -> int | None:
    """About how many items ``iter_replay`` yields (files, archive members, stream lines), for a
    progress bar; ``None`` when a stream or archive is too big to count cheaply."""
    total = 0
    for given in paths:
        for src in _walk(Path(given)):
            count = 1 if isinstance(src, ReplayError) else 0 if src.name == SIDECAR else _count(src)
            if count is None:
                return None
            total += count
    return total


# -- walking ------------------------------------------------------------------------------------


def _walk(given: Path) -> Iterator[Source | ReplayError]:
    try:
        root = given.resolve(strict=True)
        info = root.stat()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop (Python 3.11)
        yield ReplayError(f"no such file or directory: {show(str(given))}")
        return
    if stat.S_ISDIR(info.st_mode):
        yield from _walk_dir(root, root, {root})
        return
    sidecar = root.parent / SIDECAR
    if root.name != SIDECAR and sidecar.is_file() and not sidecar.is_symlink():
        yield _disk(sidecar, SIDECAR, SIDECAR, str(root.parent), sidecar.stat().st_size)
    name = given.name if given.name not in ("", "..") else root.name  # as the operator named it
    yield _disk(root, show(name), name, str(root.parent), info.st_size)


def _walk_dir(root: Path, directory: Path, seen: set[Path]) -> Iterator[Source | ReplayError]:
    here = show(directory.relative_to(root).as_posix())
    try:
        with os.scandir(directory) as listing:
            names = sorted(e.name for e in listing if not e.name.startswith("."))
    except OSError as e:
        yield ReplayError(f"{here}: cannot list directory: {e.strerror}")
        return
    names.sort(key=lambda name: name != SIDECAR)  # stable: the sidecar first, then by name
    for name in names:
        if _is_documentation(name) and (directory / name).is_file():
            continue
        path = directory / name
        rel = show(path.relative_to(root).as_posix())
        try:
            real = path.resolve(strict=True)
            info = real.stat()
        except (OSError, RuntimeError):
            yield ReplayError(f"{rel}: broken symbolic link or unreadable entry")
            continue
        if not real.is_relative_to(root):
            yield PathEscape(f"{rel}: symbolic link leads out of {show(str(root))}")
        elif stat.S_ISDIR(info.st_mode):
            if real not in seen:  # a link back to a directory already walked would loop
                seen.add(real)
                yield from _walk_dir(root, path, seen)
        elif not stat.S_ISREG(info.st_mode):
            yield ReplayError(f"{rel}: not a regular file")
        else:
            yield _disk(real, rel, name, str(directory), info.st_size, uri=path.as_uri())


def _disk(
    real: Path, display: str, name: str, directory: str, size: int, uri: str | None = None
) -> Source:
    """A file on disk; ``name`` is the name it was listed under (a link's, not its target's)."""
    opener = partial(_open_disk, real, display)
    return Source(display, uri or real.as_uri(), name, directory, opener, size)


def _open_disk(path: Path, display: str) -> IO[bytes]:
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
    try:
        fd = os.open(path, flags)
    except OSError as e:
        raise ReplayError(f"{display}: cannot open: {e.strerror}") from e
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ReplayError(f"{display}: not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


# -- files --------------------------------------------------------------------------------------


def _items(
    src: Source, cap: int, metas: Mapping[str, Meta], *, nested: bool
) -> Iterator[ReplayItem | ReplayError]:
    lower = src.name.lower()
    if lower.endswith(_STREAMS):
        yield from records(src, MAX_LINE_BYTES)
        return
    if lower.endswith(_ARCHIVES):
        if nested:
            yield ReplayError(f"{src.display}: archives inside archives are not opened")
        else:
            yield from _archive(src, cap)
        return
    try:
        body = read(src, cap)
    except ReplayError as e:
        yield e
        return
    kind = sniff(body)
    is_html = lower.endswith(_HTMLS) or (kind == "html" and not lower.endswith(_TEXTS))
    if kind == "feed":
        yield FeedFile(src.display, src.uri, body)
    elif kind == "binary":
        yield ReplayError(f"{src.display}: binary content, not a feed, article or stream")
    elif not is_html and not lower.endswith(_TEXTS):
        yield ReplayError(f"{src.display}: not a feed, article or stream (unknown kind of file)")
    else:
        meta = metas.get(src.name, Meta())
        text = decode_text(body, is_html=is_html)
        yield ArticleFile(src.display, text, is_html, meta.title, meta.url, meta.source,
                          meta.published)  # fmt: skip


def _archive(src: Source, cap: int) -> Iterator[ReplayItem | ReplayError]:
    """An archive as a directory: its sidecars read first, then its members in archive order."""
    try:
        with src.open() as raw:
            found: list[Source] = []
            metas: dict[str, Mapping[str, Meta]] = {}
            for member in members(raw, src, MAX_MEMBERS):  # first pass: list, read the sidecars
                if isinstance(member, ReplayError):
                    yield member
                elif member.name == SIDECAR:
                    metas[member.directory] = yield from load_sidecar(member, MAX_SIDECAR_BYTES)
                else:
                    found.append(member)
            for member in found:
                if _is_documentation(member.name):
                    continue
                yield from _items(member, cap, metas.get(member.directory, {}), nested=True)
    except ReplayError as e:
        yield e
    except READ_ERRORS as e:
        yield ReplayError(f"{src.display}: unreadable archive: {show(str(e) or type(e).__name__)}")


def _count(src: Source) -> int | None:
    """Items in one file: 1, or its lines or members; ``None`` when too big to count cheaply."""
    lower = src.name.lower()
    if lower.endswith(_STREAMS + _ARCHIVES) and (src.size or 0) > COUNT_LIMIT_BYTES:
        return None
    try:
        if lower.endswith(_STREAMS):
            return count_lines(src)
        if lower.endswith(_ARCHIVES):
            with src.open() as raw:
                return sum(
                    1 for m in members(raw, src, MAX_MEMBERS) if not isinstance(m, ReplayError)
                )
    except (ReplayError, *READ_ERRORS):
        pass
    return 1
