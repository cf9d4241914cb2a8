"""``Poster``: one JSON POST (a webhook delivery), under the same reach and time rules as a
feed fetch.

Owns: sending one request body to one http(s) URL through the vetted network backend
(``_net``: every address connected to is checked, ``fetch.allow_networks`` widens the checks),
under one total deadline, and translating every failure into a ``FetchError``.

Does not: follow redirects (a 3xx is an answer like any other non-2xx: the receiver's URL is
configured, not discovered), retry, sign, or read more than ``RESPONSE_BYTES`` of the answer.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import httpcore
import httpx

from ingestor.errors import FetchError, FetchTimeout, TransportError, UnsupportedURL, one_line
from ingestor.fetch._net import Outbound, Resolver
from ingestor.policies import FetchPolicy

__all__ = ["Poster"]

RESPONSE_BYTES = 64 * 1024


class Poster:
    """Sends webhook bodies; thread-safe like ``Fetcher``."""

    def __init__(self, policy: FetchPolicy, *, resolver: Resolver | None = None) -> None:
        self._policy = policy
        self._net = Outbound(policy, resolver=resolver)
        self._deadline, self._transport = self._net.deadline, self._net.transport

    def close(self) -> None:
        self._net.close()

    def post(self, url: str, body: bytes, headers: Mapping[str, str], *, timeout_s: float) -> int:
        """POST ``body`` to ``url``; the answer's status code. Raises ``FetchError`` when no
        answer came (blocked address, timeout, transport failure, bad URL)."""
        deadline = time.monotonic() + timeout_s
        self._deadline.set(deadline)
        try:
            target = httpx.URL(url)
            if target.scheme not in ("http", "https") or not target.host:
                raise UnsupportedURL(f"refusing a non-http(s) webhook URL {url[:80]!r}")
            sent = {"User-Agent": self._policy.user_agent, "Content-Type": "application/json"}
            request = httpx.Request(
                "POST", target, headers=sent | dict(headers), content=body,
                extensions={"timeout": {"connect": min(timeout_s, self._policy.connect_timeout_s),
                                        "read": timeout_s, "write": timeout_s,
                                        "pool": timeout_s}},
            )  # fmt: skip
            response = self._transport.handle_request(request)
            try:
                read = 0
                for chunk in response.iter_raw():
                    read += len(chunk)
                    if read >= RESPONSE_BYTES or time.monotonic() > deadline:
                        break
            finally:
                response.close()
            return response.status_code
        except FetchError:
            raise
        except httpcore.TimeoutException as e:
            raise FetchTimeout(f"timed out ({type(e).__name__}; deadline {timeout_s:g}s)") from e
        except (httpx.InvalidURL, httpcore.UnsupportedProtocol, UnicodeError) as e:
            raise UnsupportedURL(f"invalid URL: {one_line(e, limit=160)}") from e
        except (httpcore.NetworkError, httpcore.ProtocolError, httpx.HTTPError, OSError) as e:
            raise TransportError(f"{type(e).__name__}: {one_line(e, limit=160)}") from e
        finally:
            self._deadline.set(None)
