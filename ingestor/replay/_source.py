"""What every part of replay agrees on: a file found but not yet read, read under a cap, named
safely.

Owns: ``Source`` (a file found under a root, on disk or in an archive, with the opener that reads
it), ``read`` (its whole body, refused past the byte cap), ``READ_ERRORS`` (the exceptions that
reading a file, a gzip stream or an archive may raise, for the callers to turn into
``ReplayError`` values) and ``show`` (hostile names made safe to print).

Does not: walk directories (the package), list archive members (``_archives``), or decide what a
file is (``_sniff``). Imports nothing beyond the standard library.

Inputs: ``Source`` values built by the walk in the package and by ``_archives.members``; their
names and bytes are hostile.
"""

from __future__ import annotations

import lzma
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

from ingestor.errors import ReplayError

__all__ = ["READ_ERRORS", "Source", "read", "show"]

READ_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError, tarfile.TarError, zipfile.BadZipFile)


@dataclass(frozen=True, slots=True)
class Source:
    """A file found under a root, on disk or in an archive, not yet read."""

    display: str
    uri: str
    name: str
    directory: str
    """Key of the directory whose sidecar applies."""
    open: Callable[[], IO[bytes]] = field(repr=False)
    size: int | None = None


def read(src: Source, cap: int) -> bytes:
    """The whole body of ``src``; ``ReplayError`` if it is unreadable or longer than ``cap``."""
    if src.size is not None and src.size > cap:
        raise ReplayError(f"{src.display}: larger than the {cap}-byte cap")
    try:
        with src.open() as f:
            body = f.read(cap + 1)
    except READ_ERRORS as e:
        raise ReplayError(f"{src.display}: unreadable: {show(str(e) or type(e).__name__)}") from e
    if len(body) > cap:
        raise ReplayError(f"{src.display}: larger than the {cap}-byte cap")
    return body


def show(text: str, limit: int = 300) -> str:
    """Hostile text made safe to print: control characters escaped, length bounded."""
    if not text.isprintable():
        text = "".join(c if c.isprintable() else c.encode("unicode_escape", "backslashreplace")
                       .decode("ascii") for c in text)  # fmt: skip
    return text if len(text) <= limit else text[: limit - 1] + "…"
