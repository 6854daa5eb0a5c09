"""The API's one rate limiter (issues #12 and #17): at most `limit` events per key within any
`window_s`, a sliding window held in this process's memory.

Every event let through counts at its arrival, so parallel requests cannot slip past together;
a refused one does not count (a caller that waits gets its share back), and its wait is when
the oldest event counted leaves the window. The request guard limits each principal's requests
with it (search_api/limits.py), the login throttle each client's and each name's password
attempts (search_api/login_throttle.py).

Memory stays bounded: at most `max_keys` keys are held; when a new key would pass that, keys
with nothing left in their window are dropped, and if all are active (a flood from that many
callers) the least recently counted half.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateRefusal:
    """A refused event: whole seconds until the key may come again, and whether this is the
    key's first refusal in its current wait (worth an audit entry; the ones after it are not)."""

    retry_after_s: int
    first: bool


@dataclass
class _KeyState:
    times: deque[float]  # arrivals counted within the window, oldest first
    refused_until: float = -math.inf  # end of the wait its first refusal announced


class RateLimiter:
    """Sliding windows per key (thread-safe); `limit` 0 turns the limit off."""

    def __init__(
        self,
        limit: int,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        if window_s <= 0 or limit < 0 or max_keys < 1:
            raise ValueError("a rate limit needs a positive window, a limit of at least 0 and keys")
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self.max_keys = max_keys
        self._lock = threading.RLock()  # retry_after_s holds it across refusal + count
        self._keys: dict[str, _KeyState] = {}  # least recently counted first

    def __len__(self) -> int:
        """Keys held in memory."""
        return len(self._keys)

    def refusal(self, key: str) -> RateRefusal | None:
        """Why `key` may not go on now (None: it may); counts nothing."""
        if self.limit <= 0:
            return None
        with self._lock:
            now = self.clock()
            state = self._keys.get(key)
            if state is None:
                return None
            times = state.times
            while times and times[0] <= now - self.window_s:
                times.popleft()
            if len(times) < self.limit:
                return None
            wait_s = times[0] + self.window_s - now
            first = state.refused_until <= now
            if first:
                state.refused_until = now + wait_s
            return RateRefusal(max(1, math.ceil(wait_s)), first)

    def count(self, key: str) -> None:
        """Count an event of `key` now."""
        if self.limit <= 0:
            return
        with self._lock:
            now = self.clock()
            state = self._keys.pop(key, None)
            if state is None:
                state = _KeyState(deque())
                if len(self._keys) >= self.max_keys:
                    self._evict(now)
            state.times.append(now)
            self._keys[key] = state  # now the most recently counted

    def retry_after_s(self, key: str) -> int | None:
        """None when `key` may go on (the event is counted), else whole seconds to wait."""
        with self._lock:
            refused = self.refusal(key)
            if refused is not None:
                return refused.retry_after_s
            self.count(key)
            return None

    def _evict(self, now: float) -> None:
        """Drop idle keys (nothing in the window, no wait announced); if too few were, the
        least recently counted half."""
        horizon = now - self.window_s
        self._keys = {
            key: state
            for key, state in self._keys.items()
            if (state.times and state.times[-1] > horizon) or state.refused_until > now
        }
        if len(self._keys) >= self.max_keys:
            kept = list(self._keys.items())[len(self._keys) // 2 :]
            self._keys = dict(kept)
