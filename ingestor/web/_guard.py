"""What stands between a request and a curation action: whether actions are on, where the
request comes from, its CSRF token and ``serve.token``; and the writable ``Ingestor`` the
actions use.

Owns: ``Actions`` (the per-process secret, the lazily opened writer and the lock that runs one
action at a time), ``check_source`` (the Host and Origin rules), ``RowId`` (a bounded id).

The rules, because any page a browser visits may POST to 127.0.0.1:

* ``serve.actions`` false: every action is 403 and no form is shown.
* Host: the request's ``Host`` must name this server: an IP address, ``localhost`` or one of the
  names the server was given (``serve.host``). A page on another name that resolves to this
  machine (DNS rebinding) is refused, so it never sees a same-origin answer.
* Origin: an ``Origin`` header must be the server's own origin (scheme and ``Host``); without
  one, ``Sec-Fetch-Site`` must not be ``cross-site`` or ``same-site``. Browsers send one of the
  two on every POST and DELETE; clients that send neither (curl) are not browsers.
* A form carries a CSRF token, an HMAC-SHA256 of its action path under a random secret made at
  start-up, checked in constant time. The API needs none (a JSON body or DELETE cannot be sent
  cross-origin without a CORS preflight, which this server never grants), but it needs a JSON
  content type.
* ``serve.token`` set: a form needs it in its password field, the API as a bearer token, both
  compared in constant time (401 otherwise).

Does not: write through the server's reading ``Ingestor``: the writer is a second one, opened
(without migrating) at the first action, so a server that only answers GETs writes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import threading
from collections.abc import Iterable
from typing import Annotated

from fastapi import HTTPException, Path, Request

from ingestor.app import Ingestor

__all__ = ["MAX_ID", "Actions", "RowId", "check_source", "parse_id"]

MAX_ID = 2**63 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ID, description="An id: 1 to 2**63-1")]


def parse_id(value: str | None, name: str) -> int:
    """A form field holding an id; 400 naming the field when it is not one."""
    text = (value or "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 19 or not 1 <= int(text) <= MAX_ID:
        raise HTTPException(400, f"{name}: give an id, a whole number from 1")
    return int(text)


class Actions:
    """The curation actions of one server: on or off, the token they need, the CSRF secret,
    and the writer."""

    def __init__(
        self, reader: Ingestor, *, enabled: bool, token: str, hosts: Iterable[str] = ()
    ) -> None:
        self.reader = reader
        self.enabled = enabled
        self.token = token
        self.hosts = frozenset(h.lower() for h in hosts) | {"localhost"}
        self._secret = secrets.token_bytes(32)
        self._writer: Ingestor | None = None
        self.lock = threading.Lock()
        """Held while an action runs, and while the writer is opened or closed."""

    def csrf(self, path: str) -> str:
        """The CSRF token of the form posting to ``path``."""
        return hmac.new(self._secret, b"POST " + path.encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, path: str, given: str | None) -> None:
        if not given or not hmac.compare_digest(given.encode(), self.csrf(path).encode()):
            raise HTTPException(403, "this form has expired or did not come from this server")

    def check_token(self, given: str | None) -> None:
        """With ``serve.token`` set, ``given`` must be it (401 otherwise)."""
        if self.token and not hmac.compare_digest((given or "").encode(), self.token.encode()):
            raise HTTPException(401, "the server's token is required for this action")

    def check_enabled(self) -> None:
        if not self.enabled:
            raise HTTPException(403, "actions are turned off on this server (serve.actions)")

    def writer(self) -> Ingestor:
        """The writable ``Ingestor``, opened at the first call; hold ``lock`` around its use."""
        if self._writer is None:
            self._writer = Ingestor(self.reader.settings, migrate=False)
        return self._writer

    def close(self) -> None:
        with self.lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def check_source(request: Request, actions: Actions) -> None:
    """403 unless the request comes from this server's own pages or from no browser at all."""
    host = request.headers.get("host", "").strip().lower()
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    if not host or not (_is_ip(name) or name in actions.hosts):
        raise HTTPException(403, "the request's Host does not name this server")
    origin = request.headers.get("origin")
    if origin is not None:
        own = f"{request.url.scheme}://{host}"
        if not hmac.compare_digest(origin.strip().lower().encode(), own.encode()):
            raise HTTPException(403, "cross-origin requests may not change anything")
    site = request.headers.get("sec-fetch-site", "").strip().lower()
    if site in ("cross-site", "same-site"):
        raise HTTPException(403, "cross-site requests may not change anything")
