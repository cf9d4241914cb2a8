"""The address policy: which IP addresses the fetcher may ever connect to.

Owns: the blocked ranges (private, loopback, link-local, multicast, reserved, documentation,
NAT64/6to4 wrappers of any of those), the operator's allow-list check, and reading every spelling
of an IP literal a resolver accepts in a URL host (``127.1``, ``0x7f.1``, ``2130706433``,
``[::ffff:127.0.0.1]``).

Does not: resolve names, open sockets or read the clock; it is pure, values in and values out.
The network backend in ``_net`` calls it for every address it is about to connect to.

Inputs: host strings from feed URLs and redirect ``Location`` headers (hostile), addresses from
the resolver, and ``FetchPolicy.allow_networks`` from settings.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import unquote

from ingestor.errors import UnsupportedURL
from ingestor.policies import Network

__all__ = ["IPAddress", "Network", "address_allowed", "parse_ip_host"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_BLOCKED = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
        "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
        "::/8", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32", "fc00::/7",
        "fe80::/10", "fec0::/10", "ff00::/8",
    )
)  # fmt: skip
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _blocked(ip: IPAddress) -> bool:
    if (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
        or ip.is_unspecified or not ip.is_global or any(ip in net for net in _BLOCKED)
    ):  # fmt: skip
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.sixtofour
        if ip in _NAT64:
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        return ip.is_site_local or (inner is not None and _blocked(inner))
    return False


def address_allowed(address: str | IPAddress, allow_networks: Iterable[Network] = ()) -> bool:
    """Whether we may connect to ``address``: a public unicast address, or one inside
    ``allow_networks``. IPv4-mapped IPv6 is judged as the IPv4 address it is; 6to4 and NAT64
    addresses also by the IPv4 address they embed. Anything unparsable is refused."""
    try:
        ip = address if not isinstance(address, str) else ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip.version == net.version and ip in net for net in allow_networks):
        return True
    return not _blocked(ip)


def _ipv4_part(part: str) -> int | None:
    try:
        if part[:2].lower() == "0x":
            return (
                int(part[2:] or "0", 16)
                if all(c in "0123456789abcdefABCDEF" for c in part[2:])
                else None
            )
        if not (part.isascii() and part.isdigit()):
            return None
        return int(part, 8) if len(part) > 1 and part[0] == "0" else int(part)
    except ValueError:
        return None


def parse_ip_host(host: str) -> IPAddress | None:
    """The address a URL host spells, in any spelling a resolver accepts (``127.1``, ``0x7f.1``,
    ``2130706433``, ``017700000001``, ``[::ffff:127.0.0.1]``), or ``None`` for a host name.
    A host that ends in a number but is no valid IPv4 address raises ``UnsupportedURL``."""
    name = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if ":" in name:
        try:
            return ipaddress.IPv6Address(unquote(name))
        except ValueError as e:
            raise UnsupportedURL(f"invalid IPv6 host {host[:60]!r}") from e
    parts = name.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    if not parts[-1] or _ipv4_part(parts[-1]) is None:
        return None
    values = [_ipv4_part(p) if p else None for p in parts]
    if len(values) > 4 or any(v is None for v in values):
        raise UnsupportedURL(f"invalid IPv4 host {host[:60]!r}")
    numbers = [v for v in values if v is not None]
    if any(v > 255 for v in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        raise UnsupportedURL(f"invalid IPv4 host {host[:60]!r}")
    value = numbers[-1] + sum(v << (8 * (3 - i)) for i, v in enumerate(numbers[:-1]))
    return ipaddress.IPv4Address(value)
