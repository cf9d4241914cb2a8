"""OPML import and export: round trips, hostile documents, and the two ``feeds`` commands.

Hostile documents are the classics an OPML file from anywhere can be: entity expansion (billion
laughs, quadratic blow-up), external entities (a local file, a URL), URLs that are not http(s),
a file over the size cap and an element flood. Each is refused as a whole (``OPMLError``) or
outline by outline (``Refused``), and none ever yields a feed it should not.
"""

from __future__ import annotations

import codecs
import json
import os
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from ingestor.cli import cli
from ingestor.opml import MAX_BYTES, MAX_ELEMENTS, OPMLError, read_opml, write_opml
from ingestor.store import open_store

FEEDS = [
    ("https://www.example.com/news/rss.xml", "Example News"),
    ("http://blog.example.org/feed?format=atom&lang=en", "A blog & its <feed>"),
    ("https://example.net/podcast.xml", None),
]


def _opml(body: str, *, prolog: str = '<?xml version="1.0" encoding="utf-8"?>') -> bytes:
    head = '<opml version="2.0"><head><title>t</title></head>'
    return f"{prolog}{head}<body>{body}</body></opml>".encode()


# -- round trip -----------------------------------------------------------------------------------


def test_written_opml_reads_back_as_the_same_feeds() -> None:
    """write_opml then read_opml gives back every feed, its title and the order."""
    document = write_opml(FEEDS, created=datetime(2024, 5, 1, 12, tzinfo=UTC))
    assert document.startswith(b"<?xml")
    assert b"<dateCreated>Wed, 01 May 2024 12:00:00 GMT</dateCreated>" in document
    assert b'version="2.0"' in document
    assert read_opml(document).feeds == tuple(FEEDS)
    assert read_opml(document).refused == ()


_TITLE = st.one_of(st.none(), st.text(max_size=80))
_PATH = st.text(st.characters(categories=["L", "N"], include_characters="/-_.~%"), max_size=40)


@settings(max_examples=200, deadline=None)
@given(
    feeds=st.lists(
        st.tuples(st.sampled_from(["http", "https"]), st.sampled_from(["a.example", "b.test"]),
                  _PATH, _TITLE),
        max_size=20,
    )
)  # fmt: skip
def test_round_trip_keeps_urls_exactly_and_titles_cleaned(
    feeds: list[tuple[str, str, str, str | None]],
) -> None:
    """Any list of http(s) feeds survives a round trip: the same URLs in order, once each, and
    titles reduced to one clean line (never a control character)."""
    pairs = [(f"{scheme}://{host}/{path}", title) for scheme, host, path, title in feeds]
    back = read_opml(write_opml(pairs))
    assert [url for url, _ in back.feeds] == list(dict.fromkeys(url for url, _ in pairs))
    for _, title in back.feeds:
        assert title is None or title.strip() == title != ""
        assert title is None or not any(unicodedata.category(c) == "Cc" for c in title)
    assert read_opml(write_opml(back.feeds)) == back


def test_nested_folders_are_flattened_in_document_order() -> None:
    """Outlines inside folders inside folders are all found, in document order, once each."""
    document = _opml(
        '<outline text="World">'
        '  <outline text="Europe"><outline text="A" xmlUrl="https://a.example/rss"/></outline>'
        '  <outline text="B" title="Bee" xmlUrl="https://b.example/rss"/>'
        "</outline>"
        '<outline text="again" xmlUrl="https://a.example/rss"/>'
        '<outline text="a link, not a feed" url="https://c.example/" type="link"/>'
    )
    assert read_opml(document).feeds == (
        ("https://a.example/rss", "A"),
        ("https://b.example/rss", "Bee"),
    )


def test_opml_1_documents_from_other_readers_are_read() -> None:
    """An OPML 1.0 export in the style of other readers (``xmlurl`` in lower case, Latin-1)."""
    document = (
        '<?xml version="1.0" encoding="ISO-8859-1"?><opml version="1.0"><head/><body>'
        '<outline title="Le Caf\xe9" text="Le Caf\xe9" type="rss" xmlurl="https://cafe.example/rss"/>'
        "</body></opml>"
    ).encode("latin-1")
    assert read_opml(document).feeds == (("https://cafe.example/rss", "Le Café"),)


def test_utf16_documents_are_read() -> None:
    """A UTF-16 document with a byte-order mark reads like its UTF-8 twin."""
    text = _opml('<outline text="Ünï" xmlUrl="https://u.example/rss"/>').decode()
    document = codecs.BOM_UTF16_LE + text.replace("utf-8", "utf-16").encode("utf-16-le")
    assert read_opml(document).feeds == (("https://u.example/rss", "Ünï"),)


# -- hostile documents ----------------------------------------------------------------------------

_LAUGHS = "".join(
    f'<!ENTITY lol{i} "' + (f"&lol{i - 1};" if i > 1 else "&lol;") * 10 + '">' for i in range(1, 10)
)
BILLION_LAUGHS = _opml(
    '<outline text="&lol9;" xmlUrl="https://a.example/rss"/>',
    prolog=f'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY lol "lol">{_LAUGHS}]>',
)


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(BILLION_LAUGHS, id="billion laughs"),
        pytest.param(
            _opml(
                '<outline text="&big;&big;&big;" xmlUrl="https://a.example/rss"/>',
                prolog=f'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY big "{"x" * 100_000}">]>',
            ),
            id="quadratic blow-up",
        ),
        pytest.param(
            _opml(
                '<outline text="&xxe;" xmlUrl="https://a.example/rss"/>',
                prolog='<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
            ),
            id="external entity: a local file",
        ),
        pytest.param(
            _opml(
                "<outline text='x' xmlUrl='https://a.example/rss'/>",
                prolog='<?xml version="1.0"?><!DOCTYPE opml SYSTEM "http://127.0.0.1:9/evil.dtd">',
            ),
            id="external DTD",
        ),
        pytest.param(
            _opml(
                '<outline text="%p;" xmlUrl="https://a.example/rss"/>',
                prolog='<?xml version="1.0"?><!doctype opml [<!ENTITY % p SYSTEM "http://x/">%p;]>',
            ),
            id="parameter entity, lower-case doctype",
        ),
        pytest.param(
            "".join(
                [
                    '<?xml version="1.0" encoding="utf-7"?>',
                    "+ADw-!DOCTYPE opml +AFs-+ADw-!ENTITY a +ACI-b+ACI-+AD4-+AF0-+AD4-",
                    '<opml version="1.0"><body><outline text="&a;" xmlUrl="https://a.example/"/>',
                    "</body></opml>",
                ]
            ).encode(),
            id="DOCTYPE hidden in UTF-7",
        ),
        pytest.param(
            codecs.BOM_UTF16_BE
            + BILLION_LAUGHS.decode()
            .replace('"1.0"?>', '"1.0" encoding="utf-16"?>', 1)
            .encode("utf-16-be"),
            id="billion laughs in UTF-16",
        ),
    ],
)
def test_dtds_and_entities_are_refused_before_parsing(document: bytes) -> None:
    """A DOCTYPE or ENTITY declaration, in any encoding the document claims, refuses the whole
    file: nothing is expanded and nothing external is read."""
    with pytest.raises(OPMLError, match="DOCTYPE and ENTITY"):
        read_opml(document)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "file: URL"),
        ("FILE:///home/someone/.ssh/id_rsa", "file: URL"),
        ("javascript:alert(1)", "javascript: URL"),
        ("ftp://ftp.example.com/feed.xml", "ftp: URL"),
        ("gopher://example.com:70/1", "gopher: URL"),
        ("data:text/xml,<rss/>", "data: URL"),
        ("//example.com/feed", "no scheme"),
        ("feed.xml", "no scheme"),
        ("http:///etc/passwd", "no host"),
        ("https://example.com:99999/feed", "not a valid URL"),
        ("https://exa mple.com/feed", "whitespace or control"),
        ("https://example.com/\x9b31mred", "whitespace or control"),  # C1 CSI: valid XML
        ("https://example.com/\ttab", "whitespace or control"),
        ("https://example.com/" + "a" * 3000, "longer than"),
    ],
)
def test_urls_that_are_not_http_feeds_are_refused_and_reported(url: str, reason: str) -> None:
    """An outline whose xmlUrl is not an http(s) URL with a host is refused with a reason, shown
    without raw control characters, and the document's good feeds are still taken."""
    document = write_opml([("https://good.example/rss", "Good")]).replace(
        b"</body>", b'<outline text="bad" xmlUrl="%s"/></body>' % _attr(url)
    )
    listed = read_opml(document)
    assert listed.feeds == (("https://good.example/rss", "Good"),)
    assert len(listed.refused) == 1
    refused = listed.refused[0]
    assert reason in refused.reason
    assert "\x9b" not in refused.url
    assert len(refused.url) <= 200


def _attr(value: str) -> bytes:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;").encode()


def test_a_file_over_the_cap_is_refused_unread() -> None:
    """A file larger than the cap is refused before decoding or parsing."""
    outline = b'<outline text="x" xmlUrl="https://a.example/rss"/>'
    document = _opml("").replace(b"<body>", b"<body>" + outline * (MAX_BYTES // len(outline)))
    assert len(document) > MAX_BYTES
    with pytest.raises(OPMLError, match="cap"):
        read_opml(document)


def test_an_element_flood_under_the_size_cap_is_refused() -> None:
    """Hundreds of thousands of tiny elements (under the byte cap) stop at the element cap."""
    document = _opml("<a/>" * (3 * MAX_ELEMENTS))
    assert len(document) < MAX_BYTES
    with pytest.raises(OPMLError, match="elements"):
        read_opml(document)


def test_deeply_nested_folders_are_read_without_recursion() -> None:
    """Ten thousand folders deep is still a flat list of one feed."""
    depth = MAX_ELEMENTS // 2 - 10
    document = _opml(
        '<outline text="f">' * depth
        + '<outline text="deep" xmlUrl="https://deep.example/rss"/>'
        + "</outline>" * depth
    )
    assert read_opml(document).feeds == (("https://deep.example/rss", "deep"),)


@pytest.mark.parametrize(
    ("document", "match"),
    [
        (b"", "empty"),
        (b"<opml><body><outline", "well-formed"),
        (b'<rss version="2.0"><channel/></rss>', "not an OPML"),
        (b'<?xml version="1.0" encoding="no-such-codec"?><opml/>', "unknown text encoding"),
        (b'<?xml version="1.0" encoding="zlib"?><opml/>', "encoding"),
        (b'<?xml version="1.0" encoding="utf-8"?><opml>\xff\xfe</opml>', "utf-8"),
        (_opml('<outline text="&undefined;" xmlUrl="https://a.example/"/>'), "well-formed"),
        (b"\x00\x00\x00\x00garbage", "well-formed|encoding|utf"),
    ],
)
def test_documents_that_are_not_opml_are_refused_whole(document: bytes, match: str) -> None:
    """Empty, truncated, non-OPML, undecodable or otherwise broken documents raise OPMLError."""
    with pytest.raises(OPMLError, match=match):
        read_opml(document)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise_anything_but_opml_errors(data: bytes) -> None:
    """Random bytes (after a valid prefix or alone) give feeds or an OPMLError, nothing else."""
    for document in (data, _opml("")[:60] + data):
        try:
            listed = read_opml(document)
        except OPMLError:
            continue
        assert all(url.startswith(("http://", "https://")) for url, _ in listed.feeds)


def test_export_leaves_out_local_files_and_cleans_titles() -> None:
    """write_opml never writes a file: URL, and a title with control characters is still a
    well-formed document."""
    document = write_opml(
        [("file:///srv/feeds/local.xml", "Local"), ("https://a.example/rss", "Bad\x00\x1b\ud800 t")]
    )
    assert b"file:" not in document
    assert read_opml(document).feeds == (("https://a.example/rss", "Bad t"),)


# -- the commands ---------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    """The CLI configures structlog onto the runner's stream; the next test gets the old setup."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.fixture
def runner_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A clean environment for the CLI: its own database, no settings file, quiet logs."""
    monkeypatch.chdir(tmp_path)
    for name in [k for k in os.environ if k.startswith("INGESTOR_")]:
        monkeypatch.delenv(name)
    return {
        "INGESTOR_DATABASE_URL": f"sqlite:///{tmp_path / 'ingestor.db'}",
        "INGESTOR_LOG_LEVEL": "error",
        "INGESTOR_LOG_FORMAT": "json",
    }


def test_import_adds_new_feeds_reports_present_and_refused(
    tmp_path: Path, runner_env: dict[str, str]
) -> None:
    """`feeds import` adds each new feed with its title, counts the ones already present and
    lists the refused ones; `--json` gives the same as data, and nothing refused is stored."""
    source = tmp_path / "subscriptions.opml"
    source.write_bytes(
        _opml(
            '<outline text="Folder">'
            '<outline text="One" xmlUrl="https://one.example/rss"/>'
            '<outline text="Two" xmlUrl="https://two.example/rss"/></outline>'
            '<outline text="Secrets" xmlUrl="file:///etc/shadow"/>'
        )
    )
    runner = CliRunner()
    first = runner.invoke(cli, ["feeds", "import", str(source)], env=runner_env)
    assert first.exit_code == 0, first.output
    assert "2 added, 0 already present, 1 refused" in first.stdout
    assert "file:///etc/shadow" in first.stderr
    second = runner.invoke(cli, ["feeds", "import", "--json", str(source)], env=runner_env)
    assert second.exit_code == 0, second.output
    report = json.loads(second.stdout)
    assert (report["added"], report["present"], report["refused"]) == (0, 2, 1)
    assert report["refused_feeds"][0]["url"] == "file:///etc/shadow"
    store = open_store(runner_env["INGESTOR_DATABASE_URL"])
    try:
        feeds = {f.url: f for f in store.list_feeds(include_removed=True)}
    finally:
        store.close()
    assert set(feeds) == {"https://one.example/rss", "https://two.example/rss"}
    assert feeds["https://one.example/rss"].title == "One"


def test_import_leaves_a_removed_feed_removed(tmp_path: Path, runner_env: dict[str, str]) -> None:
    """An OPML import does not bring back a feed the operator removed; it says so."""
    runner = CliRunner()
    url = "https://gone.example/rss"
    assert runner.invoke(cli, ["feeds", "add", url], env=runner_env).exit_code == 0
    assert runner.invoke(cli, ["feeds", "remove", url], env=runner_env).exit_code == 0
    source = tmp_path / "old.opml"
    source.write_bytes(write_opml([(url, "Gone")]))
    result = runner.invoke(cli, ["feeds", "import", str(source)], env=runner_env)
    assert result.exit_code == 0, result.output
    assert "0 added, 1 already present" in result.stdout
    assert "removed earlier" in result.stderr
    store = open_store(runner_env["INGESTOR_DATABASE_URL"])
    try:
        feed = store.get_feed(url)
    finally:
        store.close()
    assert feed is not None
    assert feed.status == "removed"


def test_import_of_a_hostile_file_fails_with_one_line_and_adds_nothing(
    tmp_path: Path, runner_env: dict[str, str]
) -> None:
    """A billion-laughs OPML exits 1 with one error line, and the database gains no feed."""
    source = tmp_path / "lol.opml"
    source.write_bytes(BILLION_LAUGHS)
    result = CliRunner().invoke(cli, ["feeds", "import", str(source)], env=runner_env)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: DOCTYPE")
    assert result.stderr.count("\n") == 1


def test_export_writes_the_non_removed_feeds_and_import_reads_them_back(
    tmp_path: Path, runner_env: dict[str, str]
) -> None:
    """`feeds export` (stdout or --output) lists the active feeds and no removed or local one,
    and importing that file into a fresh database adds exactly those feeds."""
    runner = CliRunner()
    local = tmp_path / "local.xml"
    local.write_bytes(b'<rss version="2.0"><channel><title>l</title></channel></rss>')
    for target in ("https://a.example/rss", "https://b.example/rss", str(local)):
        assert runner.invoke(cli, ["feeds", "add", target], env=runner_env).exit_code == 0
    removed = runner.invoke(cli, ["feeds", "remove", "https://b.example/rss"], env=runner_env)
    assert removed.exit_code == 0, removed.output
    shown = runner.invoke(cli, ["feeds", "export"], env=runner_env)
    assert shown.exit_code == 0, shown.output
    assert read_opml(shown.stdout_bytes).feeds == (("https://a.example/rss", None),)
    assert "1 local feed file(s) left out" in shown.stderr
    out = tmp_path / "export.opml"
    written = runner.invoke(cli, ["feeds", "export", "--output", str(out)], env=runner_env)
    assert written.exit_code == 0, written.output
    assert read_opml(out.read_bytes()) == read_opml(shown.stdout_bytes)
    fresh = {**runner_env, "INGESTOR_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}"}
    imported = runner.invoke(cli, ["feeds", "import", "--json", str(out)], env=fresh)
    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.stdout)["added_urls"] == ["https://a.example/rss"]
