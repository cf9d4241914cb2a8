"""The fetcher against a real local HTTP server, and the address policy on its own."""

from __future__ import annotations

import email.utils
import gzip
import os
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ingestor.errors import (
    BlockedAddress,
    BodyTooLarge,
    HTTPStatusError,
    TooManyRedirects,
    TransportError,
    UnsupportedURL,
)
from ingestor.fetch import Fetcher, FetchPolicy, address_allowed, parse_ip_host
from ingestor.models import FeedSource
from tests.faultserver import (
    FaultServer,
    Handler,
    Listener,
    StubResolver,
    encoded_feed,
    feed,
    redirect,
    status,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
LOCAL = (ip_network("127.0.0.1/32"),)
RSS = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
MIB = 1024 * 1024


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


@pytest.fixture
def resolver() -> StubResolver:
    return StubResolver(
        {
            "feeds.test": ["127.0.0.1"],
            "other.test": ["127.0.0.1"],
            "internal.test": ["127.0.0.2"],
            "mixed.test": ["127.0.0.2", "127.0.0.1"],
            "metadata.test": ["169.254.169.254"],
        }
    )


@pytest.fixture
def fetcher(resolver: StubResolver) -> Iterator[Fetcher]:
    f = Fetcher(
        FetchPolicy(timeout_s=5, max_body_bytes=2 * MIB, allow_networks=LOCAL), resolver=resolver
    )
    yield f
    f.close()


# -- conditional GET and headers -------------------------------------------------------------


def test_ok_returns_body_validators_and_metadata(server: FaultServer, fetcher: Fetcher) -> None:
    """A 200 returns the body, ETag, Last-Modified, content type, status and the given `now`."""
    lm = "Tue, 30 Apr 2024 10:00:00 GMT"
    url = server.route("/feed", feed(RSS, etag='"v1"', last_modified=lm))
    result = fetcher.fetch(FeedSource(url=url), now=NOW)
    assert result.status == "ok"
    assert result.error is None
    assert result.body == RSS
    assert (result.etag, result.last_modified) == ('"v1"', lm)
    assert result.content_type == "application/rss+xml; charset=utf-8"
    assert result.http_status == 200
    assert result.fetched_at == NOW
    assert result.url == url
    assert result.elapsed_ms >= 0


def test_request_names_the_service_and_sends_validators(
    server: FaultServer, fetcher: Fetcher
) -> None:
    """The request carries the policy's User-Agent, a feed Accept header and both validators."""
    url = server.route("/feed", feed(RSS))
    fetcher.fetch(
        FeedSource(url=url, etag='"v0"', last_modified="Mon, 29 Apr 2024 00:00:00 GMT"), now=NOW
    )
    sent = server.recorded[-1].headers
    assert sent["User-Agent"] == FetchPolicy().user_agent
    assert "application/rss+xml" in sent["Accept"]
    assert sent["If-None-Match"] == '"v0"'
    assert sent["If-Modified-Since"] == "Mon, 29 Apr 2024 00:00:00 GMT"
    assert "gzip" in sent["Accept-Encoding"]


def test_unsendable_stored_validator_is_left_out(server: FaultServer, fetcher: Fetcher) -> None:
    """A stored ETag that could not travel as a header (a newline in it) is not sent at all."""
    url = server.route("/feed", feed(RSS))
    result = fetcher.fetch(FeedSource(url=url, etag='"a"\r\nX-Evil: 1'), now=NOW)
    assert result.status == "ok"
    assert "If-None-Match" not in server.recorded[-1].headers
    assert "X-Evil" not in server.recorded[-1].headers


def test_not_modified(server: FaultServer, fetcher: Fetcher) -> None:
    """A matching If-None-Match gets a 304: status not_modified, no body, validators echoed."""
    url = server.route("/feed", feed(RSS, etag='"v1"'))
    result = fetcher.fetch(FeedSource(url=url, etag='"v1"'), now=NOW)
    assert result.status == "not_modified"
    assert result.http_status == 304
    assert result.body == b""
    assert result.etag == '"v1"'


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "gzip, br", "identity"])
def test_content_encodings_are_decoded(
    server: FaultServer, fetcher: Fetcher, encoding: str
) -> None:
    """gzip, deflate, brotli and a chain of them come back as the original bytes."""
    url = server.route("/enc", encoded_feed(RSS * 50, encoding))
    result = fetcher.fetch(FeedSource(url=url), now=NOW)
    assert result.status == "ok", result.error
    assert result.body == RSS * 50


def test_raw_deflate_and_concatenated_gzip_members(server: FaultServer, fetcher: Fetcher) -> None:
    """Raw deflate (no zlib header) and a gzip body of two members both decode in full."""
    import zlib

    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    raw = c.compress(RSS) + c.flush()
    server.route("/raw", lambda h: h.reply(200, raw, {"Content-Encoding": "deflate"}))
    two = gzip.compress(RSS[:20]) + gzip.compress(RSS[20:])
    server.route("/two", lambda h: h.reply(200, two, {"Content-Encoding": "gzip"}))
    assert fetcher.fetch(FeedSource(url=server.url("/raw")), now=NOW).body == RSS
    assert fetcher.fetch(FeedSource(url=server.url("/two")), now=NOW).body == RSS


def test_unknown_or_corrupt_encoding_is_a_transport_error(
    server: FaultServer, fetcher: Fetcher
) -> None:
    """An encoding we cannot decode, or a corrupt gzip body, is a TransportError, not garbage."""
    server.route("/zstd", lambda h: h.reply(200, b"x", {"Content-Encoding": "zstd"}))
    server.route("/bad", lambda h: h.reply(200, b"not gzip at all", {"Content-Encoding": "gzip"}))
    for path in ("/zstd", "/bad"):
        result = fetcher.fetch(FeedSource(url=server.url(path)), now=NOW)
        assert isinstance(result.error, TransportError), path


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Cache-Control": "public, max-age=3600"}, 3600),
        ({"Cache-Control": "s-maxage=60, max-age=900"}, 900),
        ({"Cache-Control": "s-maxage=60"}, None),
        ({"Cache-Control": "no-cache, max-age=3600"}, None),
        ({"Cache-Control": "no-store"}, None),
        (
            {"Date": "Wed, 01 May 2024 12:00:00 GMT", "Expires": "Wed, 01 May 2024 14:00:00 GMT"},
            7200,
        ),
        ({"Expires": "0"}, 0),
        ({}, None),
    ],
)
def test_cache_hints(
    server: FaultServer, fetcher: Fetcher, headers: dict[str, str], expected: int | None
) -> None:
    """max_age_s comes from Cache-Control max-age, else Expires minus Date; no-store/no-cache
    and s-maxage give no hint; an invalid Expires means already stale."""
    url = server.route("/feed", feed(RSS, headers=headers))
    assert fetcher.fetch(FeedSource(url=url), now=NOW).max_age_s == expected


# -- status codes and redirects --------------------------------------------------------------


def test_error_status_is_a_value_without_the_body(server: FaultServer, fetcher: Fetcher) -> None:
    """A 404 comes back as HTTPStatusError(404) with a one-line message that omits the body."""
    url = server.route("/gone", status(404, body=b"SECRET internal\nstack trace"))
    result = fetcher.fetch(FeedSource(url=url), now=NOW)
    assert result.status == "error"
    assert isinstance(result.error, HTTPStatusError)
    assert result.error.status_code == 404
    assert result.http_status == 404
    assert "SECRET" not in str(result.error)
    assert "\n" not in str(result.error)


def test_garbage_instead_of_http_is_a_transport_error_without_the_bytes(
    server: FaultServer, fetcher: Fetcher
) -> None:
    """A server answering with bytes that are not HTTP gives a one-line TransportError that does
    not quote what it sent."""

    def garbage(h: Handler) -> None:
        h.close_connection = True
        h.send(b"<html>SECRET internal page</html>\r\n\r\n")

    url = server.route("/garbage", garbage)
    result = fetcher.fetch(FeedSource(url=url), now=NOW)
    assert isinstance(result.error, TransportError)
    assert "SECRET" not in str(result.error)
    assert "\n" not in str(result.error)


def test_temporary_redirect_is_followed_without_moving(
    server: FaultServer, fetcher: Fetcher
) -> None:
    """A 302 is followed; the body comes from the target and permanent_url stays unset."""
    server.route("/feed", feed(RSS))
    url = server.route("/old", redirect("/feed", 302))
    result = fetcher.fetch(FeedSource(url=url), now=NOW)
    assert result.status == "ok"
    assert result.url == server.url("/feed")
    assert result.permanent_url is None


def test_permanent_redirects_set_permanent_url(server: FaultServer, fetcher: Fetcher) -> None:
    """301 then 308 to another host name: permanent_url is the final address."""
    server.route("/feed", feed(RSS))
    server.route("/b", redirect(server.url("/feed", host="other.test"), 308))
    url = server.route("/a", redirect("/b", 301))
    result = fetcher.fetch(FeedSource(url=url), now=NOW)
    assert result.status == "ok"
    assert result.permanent_url == server.url("/feed", host="other.test")


def test_mixed_redirects_do_not_move_the_feed(server: FaultServer, fetcher: Fetcher) -> None:
    """One temporary hop among permanent ones leaves permanent_url unset."""
    server.route("/feed", feed(RSS))
    server.route("/b", redirect("/feed", 307))
    url = server.route("/a", redirect("/b", 301))
    assert fetcher.fetch(FeedSource(url=url), now=NOW).permanent_url is None


def test_redirect_chain_longer_than_the_limit(server: FaultServer, resolver: StubResolver) -> None:
    """More hops than max_redirects ends in TooManyRedirects, after max_redirects + 1 requests."""
    for i in range(5):
        server.route(f"/r{i}", redirect(f"/r{i + 1}"))
    server.route("/r5", feed(RSS))
    f = Fetcher(FetchPolicy(max_redirects=3, allow_networks=LOCAL), resolver=resolver)
    try:
        result = f.fetch(FeedSource(url=server.url("/r0")), now=NOW)
    finally:
        f.close()
    assert isinstance(result.error, TooManyRedirects)
    assert len(server.recorded) == 4


@pytest.mark.parametrize(
    "location", ["file:///etc/passwd", "ftp://127.0.0.1/feed", "gopher://x/", "data:,hi"]
)
def test_redirect_off_the_web_is_refused(
    server: FaultServer, fetcher: Fetcher, location: str
) -> None:
    """A redirect to file: or any other non-http(s) scheme is refused with UnsupportedURL."""
    url = server.route("/r", redirect(location))
    result = fetcher.fetch(FeedSource(url=url), now=NOW)
    assert isinstance(result.error, UnsupportedURL)
    assert result.body == b""


@pytest.mark.parametrize(
    "url", ["ftp://example.org/feed", "javascript:alert(1)", "http://", "//feeds.test/x", "feed"]
)
def test_unsupported_source_urls(fetcher: Fetcher, url: str) -> None:
    """Sources that are not http(s) or file: URLs fail with UnsupportedURL, without raising."""
    assert isinstance(fetcher.fetch(FeedSource(url=url), now=NOW).error, UnsupportedURL)


def test_unresolvable_and_refused_are_transport_errors(fetcher: Fetcher) -> None:
    """An unknown host name and a closed port both come back as TransportError."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        refused = fetcher.fetch(FeedSource(url=f"http://127.0.0.1:{port}/"), now=NOW)
    unknown = fetcher.fetch(FeedSource(url="http://nowhere.test/feed"), now=NOW)
    assert isinstance(refused.error, TransportError)
    assert isinstance(unknown.error, TransportError)


_NOWHERE = Fetcher(FetchPolicy(timeout_s=2), resolver=StubResolver({}))


@given(
    scheme=st.sampled_from(["http", "https", "HTTP", "ftp", "gopher", "data", ""]),
    host=st.text(alphabet="abcxyz-_.@ \t\n\u00e9\u0000/\\?#", max_size=20),
    rest=st.text(max_size=30),
)
def test_hostile_urls_never_raise(scheme: str, host: str, rest: str) -> None:
    """Whatever the URL string, fetch returns a value; nothing escapes as an exception. (Hosts
    are drawn without digits, colons or percent signs, so none spells an address, the resolver
    knows no name, and nothing leaves the machine.)"""
    result = _NOWHERE.fetch(FeedSource(url=f"{scheme}://{host}/{rest}"), now=NOW)
    assert result.status == "error"
    assert result.error is not None
    assert "\n" not in str(result.error)


# -- local files -----------------------------------------------------------------------------


def test_local_file_is_read_with_mtime_validator(tmp_path: Path, fetcher: Fetcher) -> None:
    """A file: URL is read from disk; its mtime is Last-Modified, and a match is not_modified."""
    path = tmp_path / "local feed.xml"
    path.write_bytes(RSS)
    first = fetcher.fetch(FeedSource(url=path.as_uri()), now=NOW)
    assert (first.status, first.body) == ("ok", RSS)
    modified = email.utils.formatdate(os.stat(path).st_mtime, usegmt=True)
    assert first.last_modified == modified
    again = fetcher.fetch(FeedSource(url=path.as_uri(), last_modified=modified), now=NOW)
    assert again.status == "not_modified"


def test_local_file_limits(tmp_path: Path, fetcher: Fetcher) -> None:
    """Local files obey the body cap; directories, relative and remote file: URLs are refused."""
    big = tmp_path / "big.xml"
    big.write_bytes(b"x" * (2 * MIB + 1))
    assert isinstance(fetcher.fetch(FeedSource(url=big.as_uri()), now=NOW).error, BodyTooLarge)
    assert isinstance(
        fetcher.fetch(FeedSource(url=tmp_path.as_uri()), now=NOW).error, UnsupportedURL
    )
    for url in ("file:relative.xml", "file://server/share/feed.xml"):
        assert isinstance(fetcher.fetch(FeedSource(url=url), now=NOW).error, UnsupportedURL)
    missing = fetcher.fetch(FeedSource(url=(tmp_path / "none.xml").as_uri()), now=NOW)
    assert isinstance(missing.error, TransportError)


# -- reach -----------------------------------------------------------------------------------


def test_loopback_outside_the_allow_list_is_blocked(fetcher: Fetcher) -> None:
    """With only 127.0.0.1/32 allowed, 127.0.0.2 in any spelling or by name is refused and
    gets no connection."""
    with Listener("127.0.0.2") as internal:
        port = internal.port
        urls = [
            f"http://{host}:{port}/"
            for host in (
                "127.0.0.2",
                "2130706434",
                "0x7f.2",
                "127.2",
                "0177.0.0.2",
                "[::ffff:127.0.0.2]",
                "internal.test",
            )
        ]
        for url in urls:
            result = fetcher.fetch(FeedSource(url=url), now=NOW)
            # httpx itself rejects a dotted quad with leading zeros: refused all the same
            assert isinstance(result.error, BlockedAddress | UnsupportedURL), url
    assert internal.accepted == 0


def test_mixed_answers_connect_only_to_allowed_addresses(
    server: FaultServer, fetcher: Fetcher
) -> None:
    """A name resolving to a blocked and an allowed address is fetched from the allowed one."""
    server.route("/feed", feed(RSS))
    with Listener("127.0.0.2", port=server.port) as internal:
        result = fetcher.fetch(FeedSource(url=server.url("/feed", host="mixed.test")), now=NOW)
    assert result.status == "ok", result.error
    assert result.body == RSS
    assert internal.accepted == 0


def test_literal_hosts_never_reach_the_resolver(fetcher: Fetcher, resolver: StubResolver) -> None:
    """Numeric hosts are judged as the address they spell; the resolver is not asked."""
    for host in ("169.254.169.254", "0xa9fea9fe", "[::1]", "0", "[fe80::1%25eth0]"):
        assert isinstance(
            fetcher.fetch(FeedSource(url=f"http://{host}/"), now=NOW).error, BlockedAddress
        )
    assert resolver.calls == []


def test_per_host_limit(server: FaultServer, resolver: StubResolver) -> None:
    """With per_host=1, concurrent fetches of one host reach the server one at a time."""

    def slow(h: Handler) -> None:
        time.sleep(0.15)
        h.reply(200, RSS)

    url = server.route("/slow", slow)
    f = Fetcher(FetchPolicy(timeout_s=5, per_host=1, allow_networks=LOCAL), resolver=resolver)
    try:
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda _: f.fetch(FeedSource(url=url), now=NOW), range(4)))
    finally:
        f.close()
    assert [r.status for r in results] == ["ok"] * 4
    assert server.max_in_flight == 1


def test_concurrent_fetches_are_independent(server: FaultServer, fetcher: Fetcher) -> None:
    """Many threads sharing one fetcher each get their own, correct answer."""
    for i in range(8):
        server.route(f"/f{i}", feed(RSS + str(i).encode(), etag=f'"{i}"'))
    hosts = ["127.0.0.1", "feeds.test", "other.test"]
    jobs = [(i, hosts[i % 3]) for i in range(8)] * 4
    with ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(
                lambda j: fetcher.fetch(
                    FeedSource(url=server.url(f"/f{j[0]}", host=j[1])), now=NOW
                ),
                jobs,
            )
        )
    for (i, _), result in zip(jobs, results, strict=True):
        assert result.status == "ok"
        assert result.body == RSS + str(i).encode()
        assert result.etag == f'"{i}"'


def test_per_host_slots_are_released_after_failures(
    server: FaultServer, resolver: StubResolver
) -> None:
    """With one slot per host, failures and refusals give the slot back: the next fetch of the
    host is served rather than left waiting for its deadline."""
    server.route("/500", status(500))
    server.route("/loop", redirect("/loop"))
    url = server.route("/feed", feed(RSS))
    f = Fetcher(FetchPolicy(timeout_s=2, per_host=1, allow_networks=LOCAL), resolver=resolver)
    try:
        for path in ("/500", "/loop", "/500"):
            assert f.fetch(FeedSource(url=server.url(path)), now=NOW).status == "error"
        assert f.fetch(FeedSource(url=url), now=NOW).status == "ok"
    finally:
        f.close()


# -- the address policy, pure --------------------------------------------------------------

BLOCKED_V4 = [
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
    "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32",
]  # fmt: skip
BLOCKED_V6 = [
    "::1/128", "::/128", "fc00::/7", "fe80::/10", "ff00::/8", "2001:db8::/32", "fec0::/10",
    "64:ff9b:1::/48", "100::/64",
]  # fmt: skip


def spellings(ip: IPv4Address) -> list[str]:
    """Every way a URL host can spell an IPv4 address that resolvers accept."""
    n = int(ip)
    a, b, c, d = ip.packed
    return [
        str(ip),
        str(n),
        hex(n),
        "0" + oct(n)[2:],
        ".".join("0" + oct(x)[2:] for x in (a, b, c, d)),
        ".".join(hex(x) for x in (a, b, c, d)),
        f"{a}.{n & 0xFFFFFF}",
        f"{a}.{b}.{n & 0xFFFF}",
        f"{hex(a)}.{b}.{c}.{d}.",
        f"[::ffff:{ip}]",
        f"[::ffff:{(n >> 16):x}:{(n & 0xFFFF):x}]",
        f"[0:0:0:0:0:FFFF:{ip}]",
    ]


@st.composite
def addresses_in(draw: st.DrawFn, cidrs: list[str]) -> IPv4Address | IPv6Address:
    net = ip_network(draw(st.sampled_from(cidrs)))
    offset = draw(st.integers(0, net.num_addresses - 1))
    return ip_address(int(net.network_address) + offset)


@given(addresses_in(BLOCKED_V4))
@example(IPv4Address("127.0.0.1"))
@example(IPv4Address("169.254.169.254"))
@example(IPv4Address("0.0.0.0"))
def test_blocked_ipv4_is_refused_in_every_spelling(ip: IPv4Address) -> None:
    """Each spelling of a blocked IPv4 address parses to it, and it is refused, also when
    embedded in NAT64 or 6to4 IPv6 addresses."""
    for spelled in spellings(ip):
        parsed = parse_ip_host(spelled)
        assert parsed is not None, spelled
        assert not address_allowed(parsed), spelled
        assert int(parsed) & 0xFFFFFFFF == int(ip), spelled
    n = int(ip)
    assert not address_allowed(f"64:ff9b::{ip}")
    assert not address_allowed(f"2002:{n >> 16:x}:{n & 0xFFFF:x}::1")
    assert not address_allowed(f"::{ip}")


@given(addresses_in(BLOCKED_V6))
def test_blocked_ipv6_is_refused(ip: IPv6Address) -> None:
    """Loopback, unspecified, ULA, link-local, site-local, multicast and documentation IPv6
    addresses are refused, bracketed or not."""
    assert not address_allowed(ip)
    assert parse_ip_host(f"[{ip}]") == ip
    assert not address_allowed(str(ip))


@given(st.integers(0, 2**32 - 1).map(IPv4Address))
def test_every_spelling_parses_to_the_same_address(ip: IPv4Address) -> None:
    """Decimal, octal, hex and short forms of any IPv4 address all parse to that address."""
    for spelled in spellings(ip)[:9]:
        assert parse_ip_host(spelled) == ip, spelled


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]
)
def test_public_addresses_are_allowed(address: str) -> None:
    """Ordinary public unicast addresses (and IPv4-mapped public ones) are allowed."""
    assert address_allowed(address)


def test_allow_list_opens_only_its_own_networks() -> None:
    """An allow-listed network is reachable, in IPv4 or IPv4-mapped form; its neighbours are not."""
    allow = (ip_network("10.1.0.0/16"), ip_network("127.0.0.1/32"))
    assert address_allowed("10.1.2.3", allow)
    assert address_allowed("::ffff:10.1.2.3", allow)
    assert address_allowed("127.0.0.1", allow)
    assert not address_allowed("10.2.0.1", allow)
    assert not address_allowed("127.0.0.2", allow)
    assert not address_allowed("::1", allow)


@pytest.mark.parametrize("host", ["example.com", "feeds.test", "1example.com", "a.1b", "localhost"])
def test_names_are_not_addresses(host: str) -> None:
    """Host names (even ones starting with a digit) are left to the resolver."""
    assert parse_ip_host(host) is None


@pytest.mark.parametrize(
    "host", ["256.1.1.1", "1.2.3.4.5", "09.1.1.1", "0x1g.1", "1..1", "[::1::2]", "4294967296"]
)
def test_malformed_numeric_hosts_are_unsupported(host: str) -> None:
    """A host that ends in a number but is no valid address is refused, not looked up."""
    with pytest.raises(UnsupportedURL):
        parse_ip_host(host)


def test_garbage_addresses_are_refused() -> None:
    """Anything that is not an IP address string is refused by the checker."""
    for junk in ("", "localhost", "1.2.3", "::ffff:999.0.0.1", "fe80::1%", " 8.8.8.8"):
        assert not address_allowed(junk), junk
