"""replay: paths, directories, sidecars, streams and archives in; typed items or errors out."""

from __future__ import annotations

import gzip
import io
import json
import os
import stat
import struct
import tarfile
import tempfile
import zipfile
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingestor import replay
from ingestor.charsets import decode_text
from ingestor.errors import PathEscape, ReplayError
from ingestor.replay import (
    ArticleFile,
    FeedFile,
    Record,
    ReplayItem,
    count_replay,
    iter_replay,
)

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
DEV_STREAM = REPO.parent / "shared" / "datasets" / "dev" / "stream.jsonl.gz"

RSS = b'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>T</title>'
RSS += b"<item><guid>g1</guid><title>Quake</title></item></channel></rss>"
ATOM = b'<?xml version="1.0"?>\n<!-- generator -->\n<feed xmlns="http://www.w3.org/2005/Atom">'
ATOM += b"<title>T</title></feed>"
RDF = b'<?xml version="1.0"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
RDF += b' xmlns="http://purl.org/rss/1.0/"><channel><title>T</title></channel></rdf:RDF>'
JSON_FEED = b'{"version": "https://jsonfeed.org/version/1.1", "title": "T", "items": []}'
PAGE = b"<!DOCTYPE html>\n<html><head><title>Quake</title></head><body><p>Quake hits Chile."
PAGE += b"</p></body></html>"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"


def run(*paths: Path, **kwargs: int) -> list[ReplayItem | ReplayError]:
    return list(iter_replay(list(paths), **kwargs))


def items(results: Iterable[ReplayItem | ReplayError]) -> list[ReplayItem]:
    return [r for r in results if not isinstance(r, ReplayError)]


def errors(results: Iterable[ReplayItem | ReplayError]) -> list[ReplayError]:
    return [r for r in results if isinstance(r, ReplayError)]


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def record(**fields: object) -> str:
    base: dict[str, object] = {"id": "d1", "event": "e1", "dataset": "ds", "text": "Body."}
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not ...})


# -- directories, kinds and sidecars -------------------------------------------------------------


def test_directory_walk_is_sorted_recursive_and_skips_hidden(tmp_path: Path) -> None:
    """A directory is walked depth-first in name order; hidden entries and sidecars are skipped."""
    write(tmp_path / "b.txt", "B story\nbody")
    write(tmp_path / "a" / "z.txt", "Z story")
    write(tmp_path / "a" / "c.txt", "C story")
    write(tmp_path / ".hidden.txt", "secret")
    write(tmp_path / ".git" / "x.txt", "secret")
    write(tmp_path / "sources.json", "{}")
    results = run(tmp_path)
    assert [r.path for r in items(results)] == ["a/c.txt", "a/z.txt", "b.txt"]
    assert errors(results) == []


def test_kinds_are_sniffed_from_content_and_extension(tmp_path: Path) -> None:
    """Feeds are found by content under any name; .txt/.md are text; .html and pages are HTML."""
    write(tmp_path / "rss.xml", RSS)
    write(tmp_path / "atom.atom", ATOM)
    write(tmp_path / "rdf.rdf", RDF)
    write(tmp_path / "feed.json", JSON_FEED)
    write(tmp_path / "feed.html", RSS)  # an .html file that is really a feed
    write(tmp_path / "page.html", PAGE)
    write(tmp_path / "page", PAGE)  # no extension, sniffed as HTML
    write(tmp_path / "note.md", "# Title\nText.")
    write(tmp_path / "story.text", "<p>Not parsed as HTML in a text file.</p>")
    got = {r.path: r for r in items(run(tmp_path))}
    feeds = {p for p, r in got.items() if isinstance(r, FeedFile)}
    assert feeds == {"rss.xml", "atom.atom", "rdf.rdf", "feed.json", "feed.html"}
    html = {p for p, r in got.items() if isinstance(r, ArticleFile) and r.is_html}
    text = {p for p, r in got.items() if isinstance(r, ArticleFile) and not r.is_html}
    assert html == {"page.html", "page"}
    assert text == {"note.md", "story.text"}
    rss = got["rss.xml"]
    assert isinstance(rss, FeedFile)
    assert rss.body == RSS
    assert rss.uri == (tmp_path / "rss.xml").resolve().as_uri()


def test_unknown_and_binary_files_are_errors_not_fatal(tmp_path: Path) -> None:
    """Binary junk, a non-feed JSON file and an unknown text file are reported and skipped."""
    write(tmp_path / "a.bin", os.urandom(2048) + b"\0")
    write(tmp_path / "b.txt", PNG)  # binary content behind a text extension
    write(tmp_path / "c.json", b'{"not": "a feed"}')
    write(tmp_path / "d.csv", b"a,b\n1,2\n")
    write(tmp_path / "e.txt", "Still read after the junk.")
    results = run(tmp_path)
    assert [r.path for r in items(results)] == ["e.txt"]
    messages = [e.message for e in errors(results)]
    assert len(messages) == 4
    assert messages[0].startswith("a.bin: binary content")
    assert messages[1].startswith("b.txt: binary content")
    assert all("not a feed, article or stream" in m for m in messages)


def test_sidecar_gives_articles_metadata(tmp_path: Path) -> None:
    """sources.json maps file names to source, url, time and title; missing keys stay None."""
    sidecar = {
        "one.txt": {"source": "Wire", "url": "https://w.example/1", "title": "One",
                    "published": "2024-06-18T09:30:00+09:00"},
        "two.html": {"published": "2024-06-18"},
        "three.txt": {},
    }  # fmt: skip
    write(tmp_path / "sources.json", json.dumps(sidecar))
    write(tmp_path / "one.txt", "First line\nbody")
    write(tmp_path / "two.html", PAGE)
    write(tmp_path / "three.txt", "Three")
    write(tmp_path / "sub" / "one.txt", "Same name, other directory: no metadata")
    got = {r.path: r for r in items(run(tmp_path))}
    one, two, three, other = got["one.txt"], got["two.html"], got["three.txt"], got["sub/one.txt"]
    assert isinstance(one, ArticleFile)
    assert (one.source, one.url, one.title) == ("Wire", "https://w.example/1", "One")
    assert one.published == datetime(2024, 6, 18, 0, 30, tzinfo=UTC)
    assert isinstance(two, ArticleFile)
    assert two.published == datetime(2024, 6, 18, tzinfo=UTC)
    assert (two.source, two.url, two.title) == (None, None, None)
    assert isinstance(three, ArticleFile)
    assert three.published is None
    assert isinstance(other, ArticleFile)
    assert other.source is None


def test_bad_sidecar_entries_are_reported_and_the_rest_kept(tmp_path: Path) -> None:
    """A sidecar entry with a bad value is an error; its neighbours and the articles still load."""
    sidecar = {
        "a.txt": {"published": "yesterday"},
        "b.txt": {"source": 7},
        "c.txt": {"source": "C"},
    }
    write(tmp_path / "sources.json", json.dumps(sidecar))
    for name in ("a.txt", "b.txt", "c.txt"):
        write(tmp_path / name, name)
    results = run(tmp_path)
    assert [e.message for e in errors(results)] == [
        "sources.json: entry 'a.txt': 'published' is not an ISO 8601 time: 'yesterday'",
        "sources.json: entry 'b.txt': 'source' must be a string or null, not int",
    ]
    got = {r.path: r for r in items(results)}
    assert len(got) == 3
    c = got["c.txt"]
    assert isinstance(c, ArticleFile)
    assert c.source == "C"


def test_unreadable_sidecar_is_one_error(tmp_path: Path) -> None:
    """A sidecar that is not JSON yields one error; the articles come without metadata."""
    write(tmp_path / "sources.json", "[1, 2")
    write(tmp_path / "a.txt", "A")
    results = run(tmp_path)
    assert len(errors(results)) == 1
    assert errors(results)[0].message.startswith("sources.json: not valid JSON")
    assert [r.path for r in items(results)] == ["a.txt"]


def test_a_named_file_uses_its_directorys_sidecar(tmp_path: Path) -> None:
    """Naming one article file still reads the sources.json beside it."""
    write(tmp_path / "sources.json", json.dumps({"a.txt": {"source": "A-Wire"}}))
    path = write(tmp_path / "a.txt", "A")
    (only,) = run(path)
    assert isinstance(only, ArticleFile)
    assert only.source == "A-Wire"
    assert only.path == "a.txt"


def test_every_path_is_its_own_root_and_order_is_kept(tmp_path: Path) -> None:
    """Several paths are replayed in the order given, each relative to itself."""
    write(tmp_path / "x" / "a.txt", "A")
    write(tmp_path / "y" / "a.txt", "B")
    results = run(tmp_path / "y", tmp_path / "x")
    got = [r for r in items(results) if isinstance(r, ArticleFile)]
    assert [(r.path, r.text) for r in got] == [("a.txt", "B"), ("a.txt", "A")]


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    """A path that does not exist yields one ReplayError naming it."""
    missing = tmp_path / "nope"
    assert run(missing) == [ReplayError(f"no such file or directory: {missing}")]


def test_file_over_the_cap_is_refused(tmp_path: Path) -> None:
    """A file larger than max_file_bytes is refused; smaller files next to it are read."""
    write(tmp_path / "big.txt", "x" * 5000)
    write(tmp_path / "small.txt", "y" * 10)
    results = run(tmp_path, max_file_bytes=1000)
    assert [r.path for r in items(results)] == ["small.txt"]
    assert errors(results) == [ReplayError("big.txt: larger than the 1000-byte cap")]


# -- decoding -------------------------------------------------------------------------------------


def test_decoding_handles_boms_legacy_charsets_and_declared_charsets(tmp_path: Path) -> None:
    """UTF-8 and UTF-16 BOMs, cp1252 text and an HTML page's declared charset all decode."""
    write(tmp_path / "bom8.txt", b"\xef\xbb\xbfCaf\xc3\xa9")
    write(tmp_path / "bom16.txt", "Caf\u00e9 \u201cquoted\u201d".encode("utf-16"))
    western = (
        "The caf\u00e9\u2019s \u201cna\u00efve\u201d owner said \u2014 after a long day \u2014"
    )
    write(tmp_path / "cp1252.txt", western.encode("cp1252"))
    page = '<html><head><meta charset="windows-1251"></head><body>Москва сегодня</body></html>'
    write(tmp_path / "ru.html", page.encode("cp1251"))
    got = {r.path: r for r in items(run(tmp_path))}
    texts = {p: r.text for p, r in got.items() if isinstance(r, ArticleFile)}
    assert texts["bom8.txt"] == "Café"
    assert texts["bom16.txt"] == "Café “quoted”"
    assert texts["cp1252.txt"] == western
    assert "Москва сегодня" in texts["ru.html"]


@given(st.binary(max_size=2048), st.booleans())
def test_decoding_never_fails(body: bytes, is_html: bool) -> None:
    """Any bytes decode to a string: bad bytes are replaced, never raised."""
    assert isinstance(decode_text(body, is_html=is_html), str)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=4096), st.sampled_from(["a.txt", "a.html", "a.xml", "a", "a.jsonl"]))
def test_any_file_content_gives_items_or_errors(body: bytes, name: str) -> None:
    """Whatever bytes a file holds, replay yields items or ReplayErrors and never raises."""
    with tempfile.TemporaryDirectory() as tmp:
        write(Path(tmp) / name, body)
        for result in iter_replay([Path(tmp)]):
            assert isinstance(result, (FeedFile, ArticleFile, Record, ReplayError))


# -- streams --------------------------------------------------------------------------------------


def test_stream_records_carry_every_field(tmp_path: Path) -> None:
    """Each JSONL line becomes a Record with body, labels and UTC time; a date is midnight UTC."""
    lines = [
        record(id="a", html="<html><body>x</body></html>", text=..., title="T", url="https://u/",
               source="S", published="2024-06-18T09:00:00+02:00"),
        record(id="b", published="2024-06-18"),
        record(id="c", published="2024-06-18T10:00:00"),
        record(id=42, published=None, event=None, dataset=None),
    ]  # fmt: skip
    write(tmp_path / "s.jsonl", "\ufeff" + "\n".join(lines) + "\n\n")
    got = run(tmp_path / "s.jsonl")
    assert all(isinstance(r, Record) for r in got)
    a, b, c, d = (r for r in got if isinstance(r, Record))
    assert (a.path, a.id, a.is_html, a.title, a.url, a.source) == ("s.jsonl:1", "a", True, "T",
                                                                  "https://u/", "S")  # fmt: skip
    assert a.text.startswith("<html>")
    assert a.published == datetime(2024, 6, 18, 7, tzinfo=UTC)
    assert (a.event, a.dataset) == ("e1", "ds")
    assert b.published == datetime(2024, 6, 18, tzinfo=UTC)
    assert c.published == datetime(2024, 6, 18, 10, tzinfo=UTC)
    assert (b.is_html, b.text) == (False, "Body.")
    assert (d.id, d.event, d.dataset, d.published) == ("42", None, None, None)


def test_bad_stream_lines_are_errors_and_reading_goes_on(tmp_path: Path) -> None:
    """Every kind of bad line yields an error naming file and line; good lines around it survive."""
    lines = [
        record(id="ok1"),
        "{not json",
        "[1, 2]",
        record(id=""),
        record(id=True),
        record(text=..., html=None),
        record(title=["x"]),
        record(published="June 18"),
        "[" * 100_000,  # nesting deep enough to exhaust the JSON decoder's recursion
        b'{"id": "x", "text": "\xff"}'.decode("latin-1"),
        record(id="ok2"),
    ]
    body = "\n".join(lines).encode("latin-1", "replace")
    path = write(tmp_path / "stream.jsonl.gz", gzip.compress(body))
    results = run(path)
    assert [r.id for r in items(results) if isinstance(r, Record)] == ["ok1", "ok2"]
    found = [e.message.split(": ", 1) for e in errors(results)]
    assert [where for where, _ in found] == [f"stream.jsonl.gz:{n}" for n in range(2, 11)]
    reasons = [reason for _, reason in found]
    assert reasons[0].startswith("not valid JSON")
    assert reasons[1] == "a record must be a JSON object"
    assert reasons[2] == reasons[3] == "'id' must be a non-empty string"
    assert reasons[4] == "a record needs a 'text' or 'html' string"
    assert reasons[5] == "'title' must be a string or null, not list"
    assert reasons[6].startswith("'published' is not an ISO 8601 time")
    assert reasons[7].startswith("not valid JSON")
    assert reasons[8].startswith("not valid JSON")


def test_overlong_line_is_skipped_without_holding_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line over the line cap is one error; the next line is read normally."""
    monkeypatch.setattr(replay, "MAX_LINE_BYTES", 1000)
    long = record(id="long", text="x" * 5000)
    path = write(tmp_path / "s.jsonl", "\n".join([record(id="a"), long, record(id="b")]))
    results = run(path)
    assert [r.id for r in items(results) if isinstance(r, Record)] == ["a", "b"]
    assert errors(results) == [ReplayError("s.jsonl:2: line longer than 1000 bytes")]


def test_truncated_gzip_stream_keeps_what_was_read(tmp_path: Path) -> None:
    """A gzip stream cut short yields its complete lines, then one error naming where it broke."""
    body = "\n".join(record(id=f"r{i}", text="t" * 200 + str(i)) for i in range(200)).encode()
    packed = gzip.compress(body)
    path = write(tmp_path / "s.jsonl.gz", packed[: len(packed) * 2 // 3])
    results = run(path)
    good = [r for r in items(results) if isinstance(r, Record)]
    assert 0 < len(good) < 200
    (error,) = errors(results)
    assert error.message.startswith(f"s.jsonl.gz:{len(good) + 1}: unreadable stream")


def test_not_gzip_behind_a_gz_name_is_an_error(tmp_path: Path) -> None:
    """A .jsonl.gz file that is not gzip is one error, not a crash."""
    path = write(tmp_path / "s.jsonl.gz", record(id="a"))
    (error,) = run(path)
    assert isinstance(error, ReplayError)
    assert error.message.startswith("s.jsonl.gz:1: unreadable stream")


# -- archives -------------------------------------------------------------------------------------


def tar_add(tf: tarfile.TarFile, name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE,
            link: str = "") -> None:  # fmt: skip
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    tf.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def build_tar(path: Path) -> Path:
    with tarfile.open(path, "w:gz" if path.name.endswith("gz") else "w") as tf:
        tar_add(tf, "./feeds", kind=tarfile.DIRTYPE)
        tar_add(tf, "./feeds/a.xml", RSS)
        tar_add(tf, "../evil.txt", b"escaped")
        tar_add(tf, "/etc/evil.txt", b"absolute")
        tar_add(tf, "articles/link.txt", kind=tarfile.SYMTYPE, link="/etc/passwd")
        tar_add(tf, "articles/hard.txt", kind=tarfile.LNKTYPE, link="feeds/a.xml")
        tar_add(tf, "articles/fifo", kind=tarfile.FIFOTYPE)
        tar_add(tf, "articles/tty", kind=tarfile.CHRTYPE)
        tar_add(tf, "articles/.hidden.txt", b"hidden")
        tar_add(tf, "articles/story.txt", b"Story title\nbody")
        tar_add(tf, "articles/sources.json", json.dumps({"story.txt": {"source": "W"}}).encode())
        tar_add(tf, "stream.jsonl", (record(id="r1") + "\n" + record(id="r2")).encode())
        tar_add(tf, "inner.zip", b"PK\x05\x06" + b"\0" * 18)
    return path


@pytest.mark.parametrize("name", ["in.tar", "in.tar.gz", "in.tgz"])
def test_tar_members_are_read_and_unsafe_ones_refused(tmp_path: Path, name: str) -> None:
    """Safe tar members become items (sidecar applied, streams read); unsafe ones are refused."""
    results = run(build_tar(tmp_path / name))
    got = {r.path: r for r in items(results)}
    assert list(got) == [f"{name}!feeds/a.xml", f"{name}!articles/story.txt",
                         f"{name}!stream.jsonl:1", f"{name}!stream.jsonl:2"]  # fmt: skip
    feed = got[f"{name}!feeds/a.xml"]
    assert isinstance(feed, FeedFile)
    assert feed.body == RSS
    assert feed.uri == (tmp_path / name).resolve().as_uri() + "!/feeds/a.xml"
    story = got[f"{name}!articles/story.txt"]
    assert isinstance(story, ArticleFile)
    assert story.source == "W"
    escapes = [e.message for e in errors(results) if isinstance(e, PathEscape)]
    assert [m.split(": ", 1)[0] for m in escapes] == [
        f"{name}!../evil.txt", f"{name}!/etc/evil.txt", f"{name}!articles/link.txt",
        f"{name}!articles/hard.txt",
    ]  # fmt: skip
    others = [e.message for e in errors(results) if not isinstance(e, PathEscape)]
    assert others == [
        f"{name}!articles/fifo: not a regular file (device, FIFO or other)",
        f"{name}!articles/tty: not a regular file (device, FIFO or other)",
        f"{name}!inner.zip: archives inside archives are not opened",
    ]


def zip_add(zf: zipfile.ZipFile, name: str, data: bytes = b"", mode: int = 0) -> None:
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    if mode:
        info.create_system, info.external_attr = 3, mode << 16
    zf.writestr(info, data)


def test_zip_members_are_read_and_unsafe_ones_refused(tmp_path: Path) -> None:
    """Safe zip members become items; absolute, '..', symlink and device members are refused."""
    path = tmp_path / "in.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zip_add(zf, "feeds/", mode=stat.S_IFDIR | 0o755)
        zip_add(zf, "feeds/a.atom", ATOM)
        zip_add(zf, "../evil.txt", b"escaped")
        zip_add(zf, "/abs.txt", b"absolute")
        zip_add(zf, "C:/windows.txt", b"absolute")
        zip_add(zf, "nested/../../evil.txt", b"escaped")
        zip_add(zf, "link.txt", b"/etc/passwd", mode=stat.S_IFLNK | 0o777)
        zip_add(zf, "dev.txt", b"", mode=stat.S_IFCHR | 0o644)
        zip_add(zf, "__hidden/.DS_Store", b"\0\0")
        zip_add(zf, "story.txt", b"A story", mode=stat.S_IFREG | 0o644)
    results = run(path)
    assert [r.path for r in items(results)] == ["in.zip!feeds/a.atom", "in.zip!story.txt"]
    assert [type(e) for e in errors(results)] == [PathEscape] * 5 + [ReplayError]
    assert [e.message.split(": ", 1)[0] for e in errors(results)] == [
        "in.zip!../evil.txt", "in.zip!/abs.txt", "in.zip!C:/windows.txt",
        "in.zip!nested/../../evil.txt", "in.zip!link.txt", "in.zip!dev.txt",
    ]  # fmt: skip


def test_zip_bomb_member_is_capped(tmp_path: Path) -> None:
    """A member that inflates past max_file_bytes is refused without inflating it all."""
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zip_add(zf, "bomb.txt", b"a" * (8 * 1024 * 1024))
        zip_add(zf, "fine.txt", b"fine")
    assert path.stat().st_size < 64 * 1024
    results = run(path, max_file_bytes=1024 * 1024)
    assert [r.path for r in items(results)] == ["bomb.zip!fine.txt"]
    assert errors(results) == [ReplayError("bomb.zip!bomb.txt: larger than the 1048576-byte cap")]


def test_zip_member_lying_about_its_size_is_refused(tmp_path: Path) -> None:
    """A member declaring a small size but inflating to more stops at that size and fails."""
    path = tmp_path / "liar.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zip_add(zf, "liar.txt", b"a" * (8 * 1024 * 1024))
    data = bytearray(path.read_bytes())
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, 22, 1000)  # local header: uncompressed size
    struct.pack_into("<I", data, central + 24, 1000)  # central directory: uncompressed size
    path.write_bytes(bytes(data))
    (error,) = run(path, max_file_bytes=1024 * 1024)
    assert isinstance(error, ReplayError)
    assert error.message.startswith("liar.zip!liar.txt: unreadable")


def test_encrypted_zip_member_is_an_error(tmp_path: Path) -> None:
    """An encrypted member (no password to give) is one error; the other members are read."""
    path = tmp_path / "enc.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zip_add(zf, "secret.txt", b"secret")
        zip_add(zf, "open.txt", b"open")
    data = bytearray(path.read_bytes())
    central = data.index(b"PK\x01\x02")
    data[6] |= 1  # the first local header's "encrypted" flag
    data[central + 8] |= 1  # and its central directory entry's
    path.write_bytes(bytes(data))
    results = run(path)
    assert [r.path for r in items(results)] == ["enc.zip!open.txt"]
    (error,) = errors(results)
    assert error.message.startswith("enc.zip!secret.txt:")


def test_member_count_is_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An archive with more members than the cap yields the first ones and one error."""
    monkeypatch.setattr(replay, "MAX_MEMBERS", 3)
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(6):
            zip_add(zf, f"{i}.txt", b"x")
    results = run(path)
    assert [r.path for r in items(results)] == [
        "many.zip!0.txt",
        "many.zip!1.txt",
        "many.zip!2.txt",
    ]
    assert errors(results) == [ReplayError("many.zip: more than 3 members; the rest skipped")]


@pytest.mark.parametrize("name", ["junk.zip", "junk.tar", "junk.tar.gz"])
def test_corrupt_archive_is_an_error(tmp_path: Path, name: str) -> None:
    """An archive that cannot be opened is one error, and the walk goes on."""
    write(tmp_path / name, os.urandom(4096))
    write(tmp_path / "z.txt", "after")
    results = run(tmp_path)
    assert [r.path for r in items(results)] == ["z.txt"]
    (error,) = errors(results)
    assert error.message.startswith(f"{name}: unreadable archive")


# -- paths and links ------------------------------------------------------------------------------


def test_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    """A link found by walking that leads outside the root is a PathEscape; one inside is read."""
    outside = write(tmp_path / "outside" / "secret.txt", "secret")
    root = tmp_path / "root"
    write(root / "real.txt", "real")
    (root / "out.txt").symlink_to(outside)
    (root / "outdir").symlink_to(outside.parent, target_is_directory=True)
    (root / "in.txt").symlink_to(root / "real.txt")
    results = run(root)
    assert [r.path for r in items(results)] == ["in.txt", "real.txt"]
    escapes = errors(results)
    assert all(isinstance(e, PathEscape) for e in escapes)
    assert [e.message.split(":")[0] for e in escapes] == ["out.txt", "outdir"]


def test_dotdot_in_a_given_path_is_resolved(tmp_path: Path) -> None:
    """The operator's own '..' is resolved before the walk, and the target is read."""
    write(tmp_path / "data" / "a.txt", "A")
    (tmp_path / "other").mkdir()
    results = run(tmp_path / "other" / ".." / "data")
    assert [r.path for r in items(results)] == ["a.txt"]


def test_link_loops_and_broken_links_end(tmp_path: Path) -> None:
    """A directory link back to an ancestor is walked once; a broken link is an error."""
    write(tmp_path / "d" / "a.txt", "A")
    (tmp_path / "d" / "loop").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "broken.txt").symlink_to(tmp_path / "missing.txt")
    results = run(tmp_path)
    assert [r.path for r in items(results)] == ["d/a.txt"]
    assert [e.message for e in errors(results)] == [
        "broken.txt: broken symbolic link or unreadable entry"
    ]


@pytest.mark.timeout(20)
def test_fifo_never_blocks(tmp_path: Path) -> None:
    """A FIFO, in a directory or named directly, is refused without opening it for reading."""
    os.mkfifo(tmp_path / "pipe.txt")
    write(tmp_path / "z.txt", "after")
    results = run(tmp_path)
    assert [r.path for r in items(results)] == ["z.txt"]
    assert errors(results) == [ReplayError("pipe.txt: not a regular file")]
    assert run(tmp_path / "pipe.txt") == [ReplayError("pipe.txt: not a regular file")]


def test_hostile_names_are_escaped_in_messages(tmp_path: Path) -> None:
    """A file name with terminal escapes is shown escaped, never raw."""
    write(tmp_path / "evil\x1b[2J.bin", PNG)
    results = run(tmp_path)
    assert items(results) == []
    (error,) = errors(results)
    assert "\x1b" not in error.message
    assert error.message.startswith("evil\\x1b[2J.bin: ")


# -- counting -------------------------------------------------------------------------------------


def test_count_matches_what_is_replayed(tmp_path: Path) -> None:
    """count_replay counts files, stream lines, archive members and errors as replay yields them."""
    write(tmp_path / "a.txt", "A")
    write(tmp_path / "b.xml", RSS)
    write(tmp_path / "sources.json", "{}")
    write(
        tmp_path / "s.jsonl.gz",
        gzip.compress("\n".join(record(id=str(i)) for i in range(7)).encode()),
    )
    with zipfile.ZipFile(tmp_path / "z.zip", "w") as zf:
        zip_add(zf, "one.txt", b"1")
        zip_add(zf, "two.txt", b"2")
    assert count_replay([tmp_path, tmp_path / "missing"]) == 1 + 1 + 7 + 2 + 1
    assert count_replay([tmp_path]) == len(run(tmp_path))


def test_count_gives_up_on_huge_streams(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stream too big to count cheaply makes the estimate unknown (None)."""
    monkeypatch.setattr(replay, "COUNT_LIMIT_BYTES", 10)
    write(tmp_path / "s.jsonl", "\n".join(record(id=str(i)) for i in range(3)))
    assert count_replay([tmp_path]) is None


# -- the real samples -----------------------------------------------------------------------------


def test_sample_feeds_are_feed_files() -> None:
    """Every file in samples/feeds is a FeedFile holding the file's exact bytes."""
    results = run(SAMPLES / "feeds")
    assert errors(results) == []
    feeds = sorted((SAMPLES / "feeds").glob("*.xml"))
    assert [r.path for r in items(results)] == [p.name for p in feeds]
    for result, path in zip(results, feeds, strict=True):
        assert isinstance(result, FeedFile)
        assert result.body == path.read_bytes()
        assert result.uri == path.resolve().as_uri()


def test_sample_articles_carry_their_sidecar_metadata() -> None:
    """Every samples/articles/*.txt is a text ArticleFile with its sources.json metadata."""
    sources = json.loads((SAMPLES / "articles" / "sources.json").read_text())
    results = run(SAMPLES / "articles")
    assert errors(results) == []
    assert sorted(r.path for r in items(results)) == sorted(sources)
    for result in results:
        assert isinstance(result, ArticleFile)
        meta = sources[result.path]
        assert not result.is_html
        assert result.text == (SAMPLES / "articles" / result.path).read_text(encoding="utf-8")
        assert (result.source, result.url, result.title) == (meta["source"], meta["url"], None)
        assert result.published == datetime.fromisoformat(meta["published"])


def test_sample_stream_is_records_with_labels() -> None:
    """samples/stream.jsonl gives one labelled Record a line, in file order, matching the JSON."""
    raw = [json.loads(line) for line in (SAMPLES / "stream.jsonl").read_text().splitlines()]
    results = run(SAMPLES / "stream.jsonl")
    assert errors(results) == []
    assert len(results) == len(raw) == 13
    for n, (result, obj) in enumerate(zip(results, raw, strict=True), 1):
        assert isinstance(result, Record)
        assert result.path == f"stream.jsonl:{n}"
        assert (result.id, result.event, result.dataset) == (obj["id"], obj["event"], "samples")
        assert result.is_html == ("html" in obj)
        assert result.text == obj.get("html", obj.get("text"))
        assert result.published is not None
        assert result.published.utcoffset() is not None


@pytest.mark.shared
def test_shared_dev_stream_reads_cleanly() -> None:
    """The shared dev stream gives 1,585 labelled records and no errors."""
    if not DEV_STREAM.exists():
        pytest.skip(f"shared dataset not present at {DEV_STREAM}")
    results = run(DEV_STREAM)
    assert errors(results) == []
    records = [r for r in results if isinstance(r, Record)]
    assert len(records) == 1585
    assert len({r.id for r in records}) == 1585
    assert all(r.event for r in records)
    assert Counter(r.dataset for r in records) == {"spotsigs": 1084, "ecbplus": 496, "seeds": 5}
    assert count_replay([DEV_STREAM]) == 1585
