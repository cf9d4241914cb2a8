"""Replay inputs: the paths an operator names, turned into typed items, safely.

Owns: reading the files behind ``ingestor replay PATH...`` and ``ingestor eval DATASET``. Each
path is a root: a file, or a directory walked recursively in sorted order. A walk skips hidden
entries and ``sources.json`` sidecars, which give the articles of their directory a source,
address, time and title. ``.tar``/``.tar.gz``/``.tgz``/``.zip`` archives count as directories,
their members in archive order: sorting a compressed tar would rewind the gzip stream once per
member. Each file becomes a ``FeedFile`` (RSS, Atom, RDF or JSON Feed, sniffed from the
content), an ``ArticleFile`` (``.txt``/``.text``/``.md`` text, ``.html``/``.htm`` or sniffed HTML
pages) or a stream of ``Record`` values (``.jsonl``/``.jsonl.gz`` in the dataset record format,
read line by line).

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
* Text is decoded as UTF-8 (BOM-aware). When that fails: the charset an HTML page declares;
  cp1252 when ASCII letters dominate (``charset_normalizer`` reads short Western text as
  cp1250); ``charset_normalizer`` (installed with trafilatura); cp1252 with replacement.
  Decoding never fails.
* Names in messages and display paths have their control characters escaped.
"""

from __future__ import annotations

import codecs
import gzip
import json
import lzma
import os
import re
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import IO, Any, cast
from urllib.parse import quote

from ingestor.errors import PathEscape, ReplayError

__all__ = [
    "MAX_LINE_BYTES",
    "MAX_MEMBERS",
    "SIDECAR",
    "ArticleFile",
    "FeedFile",
    "Record",
    "ReplayItem",
    "count_replay",
    "decode_text",
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
_SNIFF_CHARS = 64 * 1024
_GUESS_BYTES = 256 * 1024
_STREAMS = (".jsonl", ".jsonl.gz")
_ARCHIVES = (".tar", ".tar.gz", ".tgz", ".zip")
_TEXTS = (".txt", ".text", ".md")
_HTMLS = (".html", ".htm")
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE, whose BOM is its prefix
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_ASCII_LETTERS = bytes(range(65, 91)) + bytes(range(97, 123))
_HIGH_BYTES = bytes(range(128, 256))
_CONTROLS = bytes(c for c in range(32) if c not in b"\t\n\f\r\x1b") + b"\x7f"
_JSON_FEED = re.compile(r'"version"\s*:\s*"https?://jsonfeed\.org/')
_ROOT = re.compile(  # the first element after the prolog; possessive, so linear on any input
    r"(?:\s|<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>\[]*+(?:\[.*?\])?+[^>]*+>)*+"
    r"<(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)",
    re.I | re.S,
)
_META_CHARSET = re.compile(rb"""<meta[^>]{0,512}?charset\s*=\s*["']?\s*([\w.:-]{1,40})""", re.I)
_READ_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError, tarfile.TarError, zipfile.BadZipFile)


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


ReplayItem = FeedFile | ArticleFile | Record


@dataclass(frozen=True, slots=True)
class _Meta:
    title: str | None = None
    url: str | None = None
    source: str | None = None
    published: datetime | None = None


@dataclass(frozen=True, slots=True)
class _Source:
    """A file found under a root, on disk or in an archive, not yet read."""

    display: str
    uri: str
    name: str
    directory: str
    """Key of the directory whose sidecar applies."""
    open: Callable[[], IO[bytes]] = field(repr=False)
    size: int | None = None


def iter_replay(
    paths: Sequence[Path], *, max_file_bytes: int = 50 * MiB
) -> Iterator[ReplayItem | ReplayError]:
    """Every item under ``paths``, in order, with failures yielded as values."""
    for given in paths:
        metas: dict[str, Mapping[str, _Meta]] = {}
        for src in _walk(Path(given)):
            if isinstance(src, ReplayError):
                yield src
            elif src.name == SIDECAR:
                metas[src.directory] = yield from _load_sidecar(src)
            else:
                yield from _items(src, max_file_bytes, metas.get(src.directory, {}), nested=False)


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


def decode_text(body: bytes, *, is_html: bool = False) -> str:
    """Bytes to text: BOM, UTF-8, the page's declared charset, cp1252 for Western text (mostly
    ASCII letters), a guess by ``charset_normalizer`` (which tends to read short Western text as
    Central European), then cp1252 with replacement."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(codec, "replace")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    declared = _META_CHARSET.search(body[:4096]) if is_html else None
    if declared is None and _mostly_ascii_letters(body[:_GUESS_BYTES]):
        return body.decode("cp1252", "replace")
    for name in (declared.group(1).decode("ascii") if declared else None, _guess(body)):
        try:
            if name and not codecs.lookup(name).name.startswith(("utf-16", "utf-32")):
                return body.decode(name, "replace")
        except LookupError:
            continue
    return body.decode("cp1252", "replace")


# -- walking ------------------------------------------------------------------------------------


def _walk(given: Path) -> Iterator[_Source | ReplayError]:
    try:
        root = given.resolve(strict=True)
        info = root.stat()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop (Python 3.11)
        yield ReplayError(f"no such file or directory: {_show(str(given))}")
        return
    if stat.S_ISDIR(info.st_mode):
        yield from _walk_dir(root, root, {root})
        return
    sidecar = root.parent / SIDECAR
    if root.name != SIDECAR and sidecar.is_file() and not sidecar.is_symlink():
        yield _disk(sidecar, SIDECAR, SIDECAR, str(root.parent), sidecar.stat().st_size)
    name = given.name if given.name not in ("", "..") else root.name  # as the operator named it
    yield _disk(root, _show(name), name, str(root.parent), info.st_size)


def _walk_dir(root: Path, directory: Path, seen: set[Path]) -> Iterator[_Source | ReplayError]:
    here = _show(directory.relative_to(root).as_posix())
    try:
        with os.scandir(directory) as listing:
            names = sorted(e.name for e in listing if not e.name.startswith("."))
    except OSError as e:
        yield ReplayError(f"{here}: cannot list directory: {e.strerror}")
        return
    names.sort(key=lambda name: name != SIDECAR)  # stable: the sidecar first, then by name
    for name in names:
        path = directory / name
        rel = _show(path.relative_to(root).as_posix())
        try:
            real = path.resolve(strict=True)
            info = real.stat()
        except (OSError, RuntimeError):
            yield ReplayError(f"{rel}: broken symbolic link or unreadable entry")
            continue
        if not real.is_relative_to(root):
            yield PathEscape(f"{rel}: symbolic link leads out of {_show(str(root))}")
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
) -> _Source:
    """A file on disk; ``name`` is the name it was listed under (a link's, not its target's)."""
    opener = partial(_open_disk, real, display)
    return _Source(display, uri or real.as_uri(), name, directory, opener, size)


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
    src: _Source, cap: int, metas: Mapping[str, _Meta], *, nested: bool
) -> Iterator[ReplayItem | ReplayError]:
    lower = src.name.lower()
    if lower.endswith(_STREAMS):
        yield from _records(src)
        return
    if lower.endswith(_ARCHIVES):
        if nested:
            yield ReplayError(f"{src.display}: archives inside archives are not opened")
        else:
            yield from _archive(src, cap)
        return
    try:
        body = _read(src, cap)
    except ReplayError as e:
        yield e
        return
    kind = _sniff(body)
    is_html = lower.endswith(_HTMLS) or (kind == "html" and not lower.endswith(_TEXTS))
    if kind == "feed":
        yield FeedFile(src.display, src.uri, body)
    elif kind == "binary":
        yield ReplayError(f"{src.display}: binary content, not a feed, article or stream")
    elif not is_html and not lower.endswith(_TEXTS):
        yield ReplayError(f"{src.display}: not a feed, article or stream (unknown kind of file)")
    else:
        meta = metas.get(src.name, _Meta())
        text = decode_text(body, is_html=is_html)
        yield ArticleFile(src.display, text, is_html, meta.title, meta.url, meta.source,
                          meta.published)  # fmt: skip


def _read(src: _Source, cap: int) -> bytes:
    if src.size is not None and src.size > cap:
        raise ReplayError(f"{src.display}: larger than the {cap}-byte cap")
    try:
        with src.open() as f:
            body = f.read(cap + 1)
    except _READ_ERRORS as e:
        raise ReplayError(f"{src.display}: unreadable: {_show(str(e) or type(e).__name__)}") from e
    if len(body) > cap:
        raise ReplayError(f"{src.display}: larger than the {cap}-byte cap")
    return body


def _sniff(body: bytes) -> str:
    """``feed``, ``html``, ``binary`` or ``text``, from the first bytes alone."""
    head = body[: _SNIFF_CHARS * 4]
    for bom, codec in _BOMS:
        if head.startswith(bom):
            text = head[len(bom) :].decode(codec, "replace")[:_SNIFF_CHARS]
            break
    else:
        head = head[:_SNIFF_CHARS]
        controls = len(head) - len(head.translate(None, _CONTROLS))
        if b"\0" in head or controls * 100 > len(head):
            return "binary"
        text = head.decode("latin-1")
    text = text.lstrip()
    if text.startswith("{"):
        return "feed" if _JSON_FEED.search(text) else "text"
    match = _ROOT.match(text)
    root = match.group(1).lower() if match else None
    if root in ("rss", "feed", "rdf"):
        return "feed"
    return "html" if root in ("html", "head", "body") else "text"


def _mostly_ascii_letters(sample: bytes) -> bool:
    """Whether ASCII letters outnumber high bytes three to one, as in English or French news."""
    ascii_letters = len(sample) - len(sample.translate(None, _ASCII_LETTERS))
    high = len(sample) - len(sample.translate(None, _HIGH_BYTES))
    return high * 3 < ascii_letters


def _guess(body: bytes) -> str | None:
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - installed with trafilatura
        return None
    best = from_bytes(body[:_GUESS_BYTES]).best()
    return best.encoding if best is not None else None


def _count(src: _Source) -> int | None:
    """Items in one file: 1, or its lines or members; ``None`` when too big to count cheaply."""
    lower = src.name.lower()
    if lower.endswith(_STREAMS + _ARCHIVES) and (src.size or 0) > COUNT_LIMIT_BYTES:
        return None
    try:
        if lower.endswith(_STREAMS):
            lines, last = 0, b"\n"
            with src.open() as raw, _gunzip(raw, lower) as f:
                while chunk := f.read(MiB):
                    lines, last = lines + chunk.count(b"\n"), chunk
            return lines + (not last.endswith(b"\n"))
        if lower.endswith(_ARCHIVES):
            with src.open() as raw:
                return sum(1 for m in _members(raw, src) if not isinstance(m, ReplayError))
    except (ReplayError, *_READ_ERRORS):
        pass
    return 1


# -- sidecars and records -----------------------------------------------------------------------


def _load_sidecar(src: _Source) -> Generator[ReplayError, None, dict[str, _Meta]]:
    """Yields what is wrong with a ``sources.json``; returns what is right in it."""
    try:
        data = json.loads(decode_text(_read(src, MAX_SIDECAR_BYTES)))
    except ReplayError as e:
        yield e
        return {}
    except (ValueError, RecursionError) as e:
        yield ReplayError(f"{src.display}: not valid JSON ({_show(str(e))})")
        return {}
    if not isinstance(data, dict):
        yield ReplayError(f"{src.display}: must map file names to objects")
        return {}
    metas: dict[str, _Meta] = {}
    for name, entry in data.items():
        try:
            if not isinstance(entry, dict):
                raise ReplayError("must be an object")
            metas[name] = _Meta(_text(entry, "title"), _text(entry, "url"),
                                _text(entry, "source"), _time(entry.get("published")))  # fmt: skip
        except ReplayError as e:
            yield ReplayError(f"{src.display}: entry {_show(repr(name))}: {e.message}")
    return metas


def _records(src: _Source) -> Iterator[Record | ReplayError]:
    lineno = 0
    try:
        with src.open() as raw, _gunzip(raw, src.name.lower()) as f:
            while line := f.readline(MAX_LINE_BYTES + 1):
                lineno += 1
                where = f"{src.display}:{lineno}"
                if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                    while line and not line.endswith(b"\n"):
                        line = f.readline(MiB)
                    yield ReplayError(f"{where}: line longer than {MAX_LINE_BYTES} bytes")
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
    except _READ_ERRORS as e:
        reason = _show(str(e) or type(e).__name__)
        yield ReplayError(f"{src.display}:{lineno + 1}: unreadable stream: {reason}")


def _gunzip(raw: IO[bytes], lower: str) -> AbstractContextManager[IO[bytes]]:
    if lower.endswith(".gz"):
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb"))
    return nullcontext(raw)


def _record(where: str, line: bytes) -> Record:
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError) as e:
        raise ReplayError(f"not valid JSON ({_show(str(e))})") from e
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
        raise ReplayError(f"'published' is not an ISO 8601 time: {_show(repr(value))}") from e


# -- archives -----------------------------------------------------------------------------------


def _archive(src: _Source, cap: int) -> Iterator[ReplayItem | ReplayError]:
    try:
        with src.open() as raw:
            members: list[_Source] = []
            metas: dict[str, Mapping[str, _Meta]] = {}
            for member in _members(raw, src):  # first pass: list, and read the sidecars
                if isinstance(member, ReplayError):
                    yield member
                elif member.name == SIDECAR:
                    metas[member.directory] = yield from _load_sidecar(member)
                else:
                    members.append(member)
            for member in members:
                yield from _items(member, cap, metas.get(member.directory, {}), nested=True)
    except ReplayError as e:
        yield e
    except _READ_ERRORS as e:
        yield ReplayError(f"{src.display}: unreadable archive: {_show(str(e) or type(e).__name__)}")


def _members(raw: IO[bytes], src: _Source) -> Iterator[_Source | ReplayError]:
    """Every regular, safely named member; refusals as errors; directories and hidden skipped."""
    if src.name.lower().endswith(".zip"):
        zf = zipfile.ZipFile(raw)
        entries: Iterator[tuple[str, str, int, Callable[[], IO[bytes]]]] = (
            (i.filename, _zip_kind(i), i.file_size, partial(_open_zip, zf, i, src.display))
            for i in zf.infolist()
        )
    else:
        tf = tarfile.open(fileobj=raw, mode="r:*")  # noqa: SIM115 - lives as long as `raw`
        entries = ((i.name, _tar_kind(i), i.size, partial(_open_tar, tf, i)) for i in tf)
    for count, (name, kind, size, opener) in enumerate(entries, 1):
        if count > MAX_MEMBERS:
            yield ReplayError(f"{src.display}: more than {MAX_MEMBERS} members; the rest skipped")
            return
        shown = f"{src.display}!{_show(name)}"
        parts = [p for p in re.split(r"[/\\]", name) if p not in ("", ".")]
        if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
            yield PathEscape(f"{shown}: absolute member name")
        elif ".." in parts:
            yield PathEscape(f"{shown}: member name leaves the archive ('..')")
        elif kind == "link":
            yield PathEscape(f"{shown}: links are not followed in archives")
        elif kind == "special":
            yield ReplayError(f"{shown}: not a regular file (device, FIFO or other)")
        elif kind == "file" and parts and not any(p.startswith(".") for p in parts):
            path = "/".join(parts)
            uri = f"{src.uri}!/{quote(path, errors='backslashreplace')}"
            yield _Source(f"{src.display}!{_show(path)}", uri, parts[-1], "/".join(parts[:-1]),
                          opener, size)  # fmt: skip


def _tar_kind(info: tarfile.TarInfo) -> str:
    if info.issym() or info.islnk():
        return "link"
    return "file" if info.isreg() else "dir" if info.isdir() else "special"


def _zip_kind(info: zipfile.ZipInfo) -> str:
    kind = stat.S_IFMT(info.external_attr >> 16) if info.create_system == 3 else 0  # 3: Unix
    if kind == stat.S_IFLNK:
        return "link"
    if info.is_dir() or kind == stat.S_IFDIR:
        return "dir"
    return "file" if kind in (0, stat.S_IFREG) else "special"  # 0: permissions only


def _open_tar(tf: tarfile.TarFile, info: tarfile.TarInfo) -> IO[bytes]:
    f = tf.extractfile(info)
    if f is None:  # pragma: no cover - only regular members get here
        raise ReplayError(f"{_show(info.name)}: not a regular file")
    return f


def _open_zip(zf: zipfile.ZipFile, info: zipfile.ZipInfo, display: str) -> IO[bytes]:
    try:
        return zf.open(info)
    except (RuntimeError, NotImplementedError) as e:  # encrypted; unknown compression method
        raise ReplayError(f"{display}!{_show(info.filename)}: {_show(str(e))}") from e


def _show(text: str, limit: int = 300) -> str:
    """Hostile text made safe to print: control characters escaped, length bounded."""
    if not text.isprintable():
        text = "".join(c if c.isprintable() else c.encode("unicode_escape", "backslashreplace")
                       .decode("ascii") for c in text)  # fmt: skip
    return text if len(text) <= limit else text[: limit - 1] + "…"
