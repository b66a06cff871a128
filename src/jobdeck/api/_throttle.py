"""The brake on guessing tokens: a budget of wrong tokens per client, per proxy and in all, over a time window.

A generated token cannot be guessed, but a chosen one might be weak; without a brake a client could try about a
thousand a second. What the brake counts is what a guesser cannot change for free:

- **The client**: the address of the TCP connection (an IPv6 address by its /64 network, which one host is
  commonly given whole). Headers are not believed, except that for a request from a proxy listed in
  ``forwarded_allow_ips`` the client is the address that proxy reports in ``X-Forwarded-For`` (taken together
  with the proxy's own address). Such a proxy must be one the operator runs and that writes the header itself.
- **The proxy**: every wrong token that came through a trusted proxy also counts against the proxy's address,
  so that a client rotating ``X-Forwarded-For`` (possible wherever it can reach the server directly from a
  trusted address, loopback by default under ``jobdeck serve``) is bounded all the same.
- **Everything**: a bound on wrong tokens from all clients together, against many addresses.

Within the window (10 minutes) a client's first ``free`` (5) wrong tokens are 403s; later ones are 429 with
``Retry-After``. A right token is accepted all the while: a typo, a stale script or someone guessing on the
same network does not lock the administrator out, and a right token is checked at the same cost as a wrong
one. Once a client has had ``limit`` (20) wrong tokens checked in the window, nothing more from it is checked,
the right token included: every credential is refused 429 until the oldest of its failures is older than the
window. That bound, about one guess per 30 seconds, is what keeps guessing slow, and it is why a right token
cannot simply be let through a lockout: answering "right" while "wrong" stays blocked would answer every guess.
When a proxy has had ``proxy_limit`` (200), or all clients ``global_limit`` (600), wrong tokens in the window,
only clients that presented a right token in the window are still checked; others are refused unchecked.

A right token does not wipe a client's failures (an administrator polling from a shared address would otherwise
reset a guesser's budget there every few seconds). A report token (``jdr1_``) outside its job's report
endpoints is a mistake of scope, not a guess: it is never compared with the admin token and never counted.
Bounded: at most ``size`` clients are remembered, those seen longest ago forgotten first.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.types import Scope

__all__ = ["PEER_SCOPE_KEY", "Throttle", "Verdict", "client_keys"]

# Where the request guard keeps the TCP peer's address, before a trusted proxy's X-Forwarded-For replaces
# ``scope["client"]`` (see _middleware.py and _app.py).
PEER_SCOPE_KEY = "jobdeck.peer"


@functools.lru_cache(maxsize=4096)  # every authenticated request asks; parsing an address costs microseconds
def _address_key(host: str) -> str:
    """An address as the throttle counts it: IPv4 as it is, IPv6 by its /64 network."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host  # a unix socket path, a test client's name
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def client_keys(scope: Scope) -> tuple[str, str | None]:
    """``(client, proxy)``: who a request's wrong tokens count against; ``proxy`` is None without one.

    The client is the TCP peer, or, when a trusted proxy rewrote ``scope["client"]`` from its
    ``X-Forwarded-For``, the address it reported together with the proxy's own.
    """
    client = scope.get("client")
    host = client[0] if client else "-"
    peer = scope.get(PEER_SCOPE_KEY, client)
    peer_host = peer[0] if peer else "-"
    if peer_host == host:
        return _address_key(host), None
    proxy = _address_key(peer_host)
    return f"{_address_key(host)} via {proxy}", f"proxy {proxy}"


@dataclass
class _Record:
    failures: deque[float] = field(default_factory=deque)  # when the wrong tokens counted in the window came
    proven: float = -math.inf  # until when the key counts as having presented a right token


@dataclass(frozen=True, slots=True)
class Verdict:
    """What :meth:`Throttle.refusal` decided: refuse unchecked for ``retry_after`` seconds, naming ``who``."""

    retry_after: float
    who: str


class Throttle:
    """``refusal(client, proxy)`` before a check; then ``succeeded(client)`` or ``failed(client, proxy)``.

    Not thread-safe: called on the event loop's thread only (the checks are microseconds, no I/O).
    """

    def __init__(self, *, free: int = 5, limit: int = 20, proxy_limit: int = 200, global_limit: int = 600,
                 window: float = 600.0, size: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.free = free
        self.limit = limit
        self.proxy_limit = proxy_limit
        self.global_limit = global_limit
        self.window = window
        self.size = size
        self._clock = clock
        self._records: OrderedDict[str, _Record] = OrderedDict()
        self._all: deque[float] = deque()

    def _recent(self, failures: deque[float], now: float) -> deque[float]:
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def _wait(self, failures: deque[float], bound: int, now: float) -> float:
        """Seconds until fewer than ``bound`` failures are in the window (they are ordered by time)."""
        return max(0.0, failures[len(failures) - bound] + self.window - now)

    def failures(self, key: str) -> int:
        """Wrong tokens counted against ``key`` (a client or ``proxy <address>``) in the window."""
        record = self._records.get(key)
        return len(self._recent(record.failures, self._clock())) if record is not None else 0

    def refusal(self, client: str, proxy: str | None = None) -> Verdict | None:
        """A :class:`Verdict` when the request's credentials must be refused without being checked, else None."""
        now = self._clock()
        record = self._records.get(client)
        if record is not None:
            own = self._recent(record.failures, now)
            if len(own) >= self.limit:
                return Verdict(self._wait(own, self.limit, now), "this address")
            if record.proven > now:
                return None  # a right token came from here within the window: only its own budget applies
        if proxy is not None and (through := self._records.get(proxy)) is not None:
            failures = self._recent(through.failures, now)
            if len(failures) >= self.proxy_limit:
                return Verdict(self._wait(failures, self.proxy_limit, now), "this proxy")
        every = self._recent(self._all, now)
        if len(every) >= self.global_limit:
            return Verdict(self._wait(every, self.global_limit, now), "all addresses")
        return None

    def succeeded(self, client: str) -> None:
        """A right token from ``client``: it stays checked while others are refused (see the module docstring)."""
        self._touch(client).proven = self._clock() + self.window

    def failed(self, client: str, proxy: str | None = None) -> float | None:
        """Count a wrong token. Past the free ones (of the client, or of its proxy together) the seconds until
        wrong tokens are 403s again, for ``Retry-After``; else None."""
        now = self._clock()
        waits = [self._count(self._touch(client).failures, self.limit, now)]
        if proxy is not None:
            waits.append(self._count(self._touch(proxy).failures, self.proxy_limit, now))
        self._count(self._all, self.global_limit, now)
        return max((wait for wait in waits if wait is not None), default=None)

    def _count(self, failures: deque[float], bound: int, now: float) -> float | None:
        failures = self._recent(failures, now)
        failures.append(now)
        while len(failures) > bound:  # the newest are what the bounds need; the older ones leave first anyway
            failures.popleft()
        return self._wait(failures, self.free + 1, now) if len(failures) > self.free else None

    def _touch(self, key: str) -> _Record:
        record = self._records.pop(key, None) or _Record()
        self._records[key] = record
        while len(self._records) > self.size:
            self._records.popitem(last=False)
        return record
