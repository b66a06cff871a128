"""Who this server is, as the browser sees it: for the cross-site check behind a reverse proxy.

A write whose ``Origin`` names another site is refused (see :mod:`jobdeck.api._middleware`). Behind a proxy that
terminates TLS or serves another host name, the browser's ``Origin`` (``https://jobs.example.com``) differs
from what reaches the server (``http://127.0.0.1:8000``); two ways to reconcile them:

- ``forwarded_allow_ips``: addresses (or networks, or ``*``) of proxies trusted to say, in ``X-Forwarded-Host``
  and ``X-Forwarded-Proto`` (or RFC 7239 ``Forwarded: host=...;proto=...``), which host and scheme the browser
  used. uvicorn's option of the same name; a request from any other address has these headers ignored.
- ``trusted_origins``: origins always accepted (``https://admin.example.com``), for set-ups where the proxy
  rewrites nothing useful.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import Scope

from ..core.errors import InvalidArgumentError

__all__ = ["SiteCheck", "normalize_origin", "origin_matches"]

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def normalize_origin(origin: str) -> str | None:
    """``scheme://host:port`` with the default port spelled out and the host lower-cased; None if malformed."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or port is None:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme.lower()}://{host}:{port}"


def origin_matches(origin: str, host: str | None, scheme: str) -> bool:
    """Whether ``origin`` is the site ``scheme://host`` (ports compared with the scheme's default filled in)."""
    if not host or origin == "null":
        return False
    mine = normalize_origin(origin)
    return mine is not None and mine == normalize_origin(f"{scheme}://{host}")


def _first(value: bytes) -> str:
    """The first of comma-separated values: the one the proxy nearest the browser wrote."""
    return value.decode("latin-1").split(",", 1)[0].strip()


def _forwarded(value: bytes) -> tuple[str | None, str | None]:
    """host and proto of the first element of an RFC 7239 ``Forwarded`` header."""
    host = proto = None
    for pair in _first(value).split(";"):
        key, _, item = pair.partition("=")
        item = item.strip().strip('"')
        if key.strip().lower() == "host" and item:
            host = item
        elif key.strip().lower() == "proto" and item:
            proto = item.lower()
    return host, proto


class SiteCheck:
    """Decides whether a request's ``Origin`` is this site. Built once per app; holds no per-request state."""

    def __init__(self, forwarded_allow_ips: str | Iterable[str] | None = None,
                 trusted_origins: Iterable[str] = ()) -> None:
        if isinstance(forwarded_allow_ips, str):
            forwarded_allow_ips = [forwarded_allow_ips]
        items = [p.strip() for entry in forwarded_allow_ips or () for p in entry.split(",") if p.strip()]
        self.trust_all = "*" in items
        self.networks: list[Network] = []
        for item in items:
            if item == "*":
                continue
            try:
                self.networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise InvalidArgumentError(f"forwarded_allow_ips: {item!r} is not an IP address or network "
                                           "(e.g. 127.0.0.1, 10.0.0.0/8 or *)") from None
        self.trusted_origins: frozenset[str] = frozenset(self._origin(o) for o in trusted_origins)

    @staticmethod
    def _origin(origin: str) -> str:
        normal = normalize_origin(origin)
        if normal is None:
            raise InvalidArgumentError(f"trusted origin {origin!r} must look like https://host or http://host:port")
        return normal

    @property
    def forwarded_allow_ips(self) -> list[str]:
        """The trusted proxies as uvicorn's ``forwarded_allow_ips`` takes them."""
        return ["*"] if self.trust_all else [str(n) for n in self.networks]

    def trusts(self, peer: str | None) -> bool:
        """Whether ``peer`` (the address the request came from) is a trusted proxy."""
        if self.trust_all:
            return True
        if peer is None or not self.networks:
            return False
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:  # a unix socket path, or a name: never trusted by address
            return False
        return any(address in network for network in self.networks)

    def allows(self, origin: str, scope: Scope, headers: dict[bytes, bytes]) -> bool:
        """Whether a request with this ``Origin`` comes from this site (or a trusted origin)."""
        if self.trusted_origins and normalize_origin(origin) in self.trusted_origins:
            return True
        raw_host = headers.get(b"host")
        host = raw_host.decode("latin-1") if raw_host is not None else None
        scheme: str = scope.get("scheme", "http")
        client = scope.get("client")
        if (self.trust_all or self.networks) and self.trusts(client[0] if client else None):
            forwarded = headers.get(b"forwarded")
            f_host, f_proto = _forwarded(forwarded) if forwarded is not None else (None, None)
            x_host, x_proto = headers.get(b"x-forwarded-host"), headers.get(b"x-forwarded-proto")
            host = f_host or (_first(x_host) if x_host else None) or host
            proto = f_proto or (_first(x_proto).lower() if x_proto else None)
            if proto in ("http", "https"):
                scheme = proto
        return origin_matches(origin, host, scheme)
