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
owns whole. The windows live in this process's memory: each API process limits on its own,
and a restart empties them.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request

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


class _Window:
    """Arrival times of the attempts each key made within the last `window_s`."""

    def __init__(self, limit: int, window_s: float, max_tracked: int) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_tracked = max_tracked
        self._times: dict[str, deque[float]] = {}
        self._refused_until: dict[str, float] = {}  # key → end of its audited refusal

    def wait_s(self, key: str, now: float) -> float | None:
        """Seconds until `key` may attempt again (None: it may now)."""
        if self.limit <= 0:
            return None
        times = self._times.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if len(times) < self.limit:
            return None
        return times[0] + self.window_s - now

    def first_refusal(self, key: str, now: float, wait_s: float) -> bool:
        """True once per refused spell of `key` (until its wait is over)."""
        if self._refused_until.get(key, -math.inf) > now:
            return False
        self._refused_until[key] = now + wait_s
        return True

    def record(self, key: str, now: float) -> None:
        if self.limit <= 0:
            return
        if key not in self._times and len(self._times) >= self.max_tracked:
            self._forget(now)
        self._times.setdefault(key, deque()).append(now)

    def _forget(self, now: float) -> None:
        """Drop keys with no attempt in the window; if all are recent (a flood from that many
        addresses or names), the oldest half, so memory stays bounded."""
        horizon = now - self.window_s
        self._times = {k: t for k, t in self._times.items() if t and t[-1] > horizon}
        self._refused_until = {k: t for k, t in self._refused_until.items() if t > now}
        if len(self._times) >= self.max_tracked:
            keep = list(self._times.items())[len(self._times) // 2 :]
            self._times = dict(keep)


class LoginThrottle:
    """The sliding windows of one API process (thread-safe)."""

    def __init__(
        self,
        policy: LoginThrottlePolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy or LoginThrottlePolicy()
        self._clock = clock
        self._lock = threading.Lock()
        tracked = self.policy.max_tracked
        self._clients = _Window(self.policy.per_client, self.policy.window_s, tracked)
        self._names = _Window(self.policy.per_name, self.policy.window_s, tracked)

    def admit(self, client: str, name: str) -> LoginRefusal | None:
        """Count an attempt by `client` (an address) for `name` and let it through (None), or
        refuse it without counting it."""
        by_client, by_name = client_key(client), name_key(name)
        with self._lock:
            now = self._clock()
            for limit, window, key in (
                ("client", self._clients, by_client),
                ("name", self._names, by_name),
            ):
                wait_s = window.wait_s(key, now)
                if wait_s is not None:
                    first = window.first_refusal(key, now, wait_s)
                    return LoginRefusal(limit, max(1, math.ceil(wait_s)), first)
            self._clients.record(by_client, now)
            self._names.record(by_name, now)
        return None
