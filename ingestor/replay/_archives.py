"""Archive members: tar (plain or compressed) and zip, listed and opened without extracting.

Owns: ``members`` (every regular, safely named member of one archive as a ``Source``, in archive
order), the refusals (absolute names, names holding ``..``, links, devices and FIFOs, members past
the member cap), and opening a member through the archive API. The ``tarfile`` and ``zipfile``
APIs are used only here; ``_source`` names only their exceptions.

Does not: read member bodies or cap their size (the package reads each under the byte cap), read
sidecars, open archives inside archives, or write anything to disk. Directories and hidden
members are skipped silently.

Inputs: an open archive file and its ``Source`` (from the walk in the package) and the member cap
the package passes in; member names, modes and bodies are hostile.
"""

from __future__ import annotations

import re
import stat
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from functools import partial
from typing import IO
from urllib.parse import quote

from ingestor.errors import PathEscape, ReplayError
from ingestor.replay._source import Source, show

__all__ = ["members"]


def members(raw: IO[bytes], src: Source, max_members: int) -> Iterator[Source | ReplayError]:
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
        if count > max_members:
            yield ReplayError(f"{src.display}: more than {max_members} members; the rest skipped")
            return
        shown = f"{src.display}!{show(name)}"
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
            yield Source(f"{src.display}!{show(path)}", uri, parts[-1], "/".join(parts[:-1]),
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
        raise ReplayError(f"{show(info.name)}: not a regular file")
    return f


def _open_zip(zf: zipfile.ZipFile, info: zipfile.ZipInfo, display: str) -> IO[bytes]:
    try:
        return zf.open(info)
    except (RuntimeError, NotImplementedError) as e:  # encrypted; unknown compression method
        raise ReplayError(f"{display}!{show(info.filename)}: {show(str(e))}") from e
