"""Exponential backoff with jitter for reconnects and retries."""

from __future__ import annotations

import random


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
