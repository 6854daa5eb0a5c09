"""Exponential backoff with jitter for reconnects and retries, and the clock loops wait on."""

from __future__ import annotations

import random
import threading
import time
from typing import Protocol


class Backoff:
    """Delays double from `initial_s` up to `max_s`, each drawn from [ceiling/2, ceiling]."""

    def __init__(self, initial_s: float = 0.5, max_s: float = 30.0) -> None:
        self._initial_s = initial_s
        self._max_s = max_s
        self.attempt = 0

    def next_delay_s(self) -> float:
        ceiling = min(self._max_s, self._initial_s * 2**self.attempt)
        self.attempt += 1
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0


class LoopClock(Protocol):
    """Time as a reconnecting loop sees it: injectable, so tests step it instead of sleeping."""

    def now_s(self) -> float:
        """Monotonic seconds."""
        ...

    def wait_s(self, seconds: float, stop: threading.Event) -> None:
        """Wait `seconds`, or less when `stop` is set."""
        ...


class MonotonicClock:
    """The real clock: `time.monotonic`, waits on the stop event."""

    def now_s(self) -> float:
        return time.monotonic()

    def wait_s(self, seconds: float, stop: threading.Event) -> None:
        stop.wait(seconds)


class ReconnectBackoff:
    """When one stream loop tries again: a `Backoff` that only a stable connection resets.

    A connection counts as stable once it has been up `stable_after_s`. One that ends sooner
    (a stream that ends right after connecting, a camera that accepts and hangs up) backs off
    like a failed connect: resetting on its first packet made such a camera reconnect ~2.4
    times a second, writing a gap row and a segment each time.
    """

    def __init__(self, backoff: Backoff, stable_after_s: float, clock: LoopClock) -> None:
        self._backoff = backoff
        self._stable_after_s = stable_after_s
        self._clock = clock
        self._connected_at_s: float | None = None

    def connected(self) -> None:
        """The connection delivered its first packet."""
        self._connected_at_s = self._clock.now_s()

    @property
    def stable(self) -> bool:
        """Whether the current connection has been up for `stable_after_s` or longer."""
        connected_at_s = self._connected_at_s
        return (
            connected_at_s is not None
            and self._clock.now_s() - connected_at_s >= self._stable_after_s
        )

    def next_delay_s(self) -> float:
        """The wait before the next attempt, after a connection ended or an attempt failed."""
        if self.stable:
            self._backoff.reset()
        self._connected_at_s = None
        return self._backoff.next_delay_s()
