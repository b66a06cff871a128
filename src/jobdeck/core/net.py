"""Where things are on the network: which addresses are this machine, and where a webhook may go.

The bottom layer's one home for address rules that the server (``/metrics`` for loopback clients, the
notifier) and the command line (``--no-auth`` only on loopback, ``--notify`` checked at start) both apply. Only
stdlib ``ipaddress`` and ``urllib.parse``: no I/O (a host name is resolved by the notifier, when it sends).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from .errors import InvalidArgumentError

__all__ = ["ALLOW_PRIVATE_FLAG", "DEFAULT_PREFIX", "blocked_address", "check_notify_url", "is_loopback",
           "redact_target"]

# Where the JSON API lives under a server unless told otherwise. Here, not in the api, because the command line
# needs it at start and must not import the web framework to read one string.
DEFAULT_PREFIX = "/api/admin/jobs"


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1): only this machine can connect."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# Where a webhook must not go unless the operator says so: this machine (a local Redis, the server itself),
# link-local addresses (169.254.169.254 is the cloud metadata service), "this network", multicast. A webhook
# target is named by whoever configures the server, but its answers and timing are visible to nobody else, so a
# wrong or hostile URL can probe what only this machine reaches. Private ranges (10/8, 192.168/16, fc00::/7)
# stay allowed: an internal alerting service is the usual receiver.
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
ALLOW_PRIVATE_FLAG = "--notify-allow-private (JOBDECK_NOTIFY_ALLOW_PRIVATE=1)"


def blocked_address(address: str) -> str | None:
    """Why a webhook may not go to this IP address by default (``"a loopback address"``), or None if it may."""
    try:
        ip = ipaddress.ip_address(address.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 reaches 127.0.0.1
    if ip.is_loopback:
        return "a loopback address (this machine)"
    if ip.is_link_local:
        return "a link-local address (such as the cloud metadata service)"
    if ip.is_unspecified or (isinstance(ip, ipaddress.IPv4Address) and ip in _THIS_NETWORK):
        return "an unspecified address (this machine)"
    if ip.is_multicast:
        return "a multicast address"
    return None


def check_notify_url(url: str, *, allow_private: bool = False) -> str:
    """A webhook URL for ``notify``: ``http(s)://...`` or ``slack+https://...``; InvalidArgumentError otherwise.

    Unless ``allow_private``, a host that is ``localhost`` or a loopback, link-local, unspecified or multicast
    address is refused too (:func:`blocked_address`); a host name is checked again each time it is resolved,
    when a notification is sent.
    """
    target = url.removeprefix("slack+")
    if not target.startswith(("http://", "https://")) or len(target) < 10 or any(c.isspace() for c in url):
        raise InvalidArgumentError(f"notify URL must be http(s)://... or slack+https://..., got {url[:80]!r}")
    try:
        parts = urlsplit(target)
        host, _ = parts.hostname or "", parts.port  # .port raises for a port out of range
    except ValueError:
        raise InvalidArgumentError(f"notify URL {redact_target(url)} has an invalid host or port") from None
    if not host:
        raise InvalidArgumentError(f"notify URL {redact_target(url)} names no host")
    if not allow_private:
        name = host.rstrip(".").lower()
        local = name == "localhost" or name.endswith(".localhost")  # RFC 6761: always this machine
        why = "this machine" if local else blocked_address(host)
        if why is not None:
            raise InvalidArgumentError(f"notify URL {redact_target(url)} points to {why}; webhooks go there only "
                                       f"with {ALLOW_PRIVATE_FLAG}")
    return url


def redact_target(url: str) -> str:
    """A webhook URL as logs and errors show it: scheme, host and port only (paths of Slack's carry a secret)."""
    try:
        parts = urlsplit(url.removeprefix("slack+"))
        port = f":{parts.port}" if parts.port is not None else ""
        host = parts.hostname or "?"
    except ValueError:
        return "<invalid URL>"
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}{port}/..."
