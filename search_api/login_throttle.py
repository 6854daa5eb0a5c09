"""Rate limits on password logins (issue #17): per client address and per user name, a sliding
window that refuses an attempt before its password is hashed.

Why: an argon2id check costs tens of milliseconds of a core by design, so without a limit one
client can keep the API's CPUs busy hashing guesses, and a guesser spreading tries over many
names stays under each account's lock-out. An attempt is refused (429, Retry-After: when the
oldest attempt counted leaves the window) when its client address or its name already made
`per_client` / `per_name` attempts within the last `window_s` — every attempt counts, right or
wrong, at its arrival, so parallel requests cannot slip past together. Refused attempts do not
count (a client that waits gets its share back). The account lock-out (index/catalog/accounts)
still applies to every attempt let through.

A client is its address as the server sees it (behind a reverse proxy, the proxy's forwarded
address as uvicorn trusts it); an IPv6 client is its /64 network, which one host usually
owns whole. The windows are the API's one rate limiter (search_api/rate_limit.py), in this
process's memory: each API process limits on its own, and a restart empties them.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request

from search_api.rate_limit import RateLimiter

IPV6_CLIENT_PREFIX = 64


@dataclass(frozen=True)
class LoginThrottlePolicy:
    """Settings.login_rate_*: attempts allowed per client and per name within `window_s`
    (0: that limit is off); `max_tracked` bounds the keys held in memory."""

    window_s: float = 60.0
    per_client: int = 30
    per_name: int = 10
    max_tracked: int = 100_000

    def __post_init__(self) -> None:
        if self.window_s <= 0 or self.per_client < 0 or self.per_name < 0:
            raise ValueError("login_rate_*: the window must be positive and limits at least 0")


@dataclass(frozen=True)
class LoginRefusal:
    """Why an attempt was refused: which limit (`client` or `name`), the whole seconds until
    an attempt may come again, and whether it is the key's first refusal in this window
    (worth an audit entry; the ones after it are not)."""

    limit: str
    retry_after_s: int
    first: bool


def client_key(address: str) -> str:
    """The key a client's attempts count under: its address, or its /64 for IPv6."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address  # not an IP (a test client's name, a Unix socket): as it is
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/{IPV6_CLIENT_PREFIX}", strict=False))
    return str(parsed)


def client_address(request: Request) -> str:
    """The caller's address as the server sees it ("unknown" when the server has none)."""
    return request.client.host if request.client is not None else "unknown"


def name_key(name: str) -> str:
    """The key a name's attempts count under (case and surrounding spaces do not split it)."""
    return name.strip().casefold()


class LoginThrottle:
    """The login windows of one API process (thread-safe): one rate limiter per client key,
    one per name key (search_api/rate_limit.py)."""

    def __init__(
        self,
        policy: LoginThrottlePolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy or LoginThrottlePolicy()
        self._lock = threading.Lock()  # checks both limits, then counts both, as one step
        window_s, tracked = self.policy.window_s, self.policy.max_tracked
        self.clients = RateLimiter(self.policy.per_client, window_s, clock, tracked)
        self.names = RateLimiter(self.policy.per_name, window_s, clock, tracked)

    def admit(self, client: str, name: str) -> LoginRefusal | None:
        """Count an attempt by `client` (an address) for `name` and let it through (None), or
        refuse it without counting it."""
        by_client, by_name = client_key(client), name_key(name)
        with self._lock:
            for limit, limiter, key in (
                ("client", self.clients, by_client),
                ("name", self.names, by_name),
            ):
                refused = limiter.refusal(key)
                if refused is not None:
                    return LoginRefusal(limit, refused.retry_after_s, refused.first)
            self.clients.count(by_client)
            self.names.count(by_name)
        return None
