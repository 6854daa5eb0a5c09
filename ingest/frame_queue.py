"""`LatestFrames`: the bounded queue between every camera's decoder and the analysis threads."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from ingest.frame import Frame

MAX_SAMPLE_STRIDE = 8.0
SHED_WINDOW_S = 4.0  # long enough that a burst the queue absorbs does not count as overload
SHED_DROP_SHARE = 0.05  # drops above this share of a window's frames widen the stride
MAX_WIDEN_FACTOR = 1.5  # per window: a burst of drops must not halve every camera's rate
RECOVER_FACTOR = 0.6  # a window without drops narrows the stride by this factor (fast: a
# start-up or burst transient must not keep every camera slow for long)


class LatestFrames:
    """A bounded frame queue shared by all cameras: when full, the oldest frame is dropped.

    Several analysis threads may consume it. A batch claims its cameras until `release`, so one
    camera's frames are never analysed by two threads at once and always in arrival order.

    Load shedding: while frames are dropped, `sample_stride` (≥ 1) grows so that cameras
    sample `detect_fps / sample_stride` and every camera keeps evenly spaced frames instead of
    losing random ones (random gaps break tracks into pieces, and each piece costs a
    finalisation); windows without drops bring it back towards 1. Windows and put times read
    `clock` (seconds, monotonic).
    """

    def __init__(
        self,
        capacity: int,
        shed_window_s: float = SHED_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be ≥ 1, got {capacity}")
        self._capacity = capacity
        self._frames: deque[Frame] = deque()
        self._claimed: set[str] = set()
        self._changed = threading.Condition()
        self.dropped: dict[str, int] = {}
        self._last_put_s: dict[str, float] = {}
        self.sample_stride = 1.0
        self._shed_window_s = shed_window_s
        self._clock = clock
        self._window_started_s = clock()
        self._window_puts = 0
        self._window_drops = 0

    def __len__(self) -> int:
        with self._changed:
            return len(self._frames)

    def put(self, frame: Frame) -> None:
        now_s = self._clock()
        with self._changed:
            self._last_put_s[frame.camera_id] = now_s
            self._window_puts += 1
            if len(self._frames) >= self._capacity:
                old = self._frames.popleft()
                self.dropped[old.camera_id] = self.dropped.get(old.camera_id, 0) + 1
                self._window_drops += 1
            self._frames.append(frame)
            self._changed.notify()
            self._adapt_stride(now_s)

    def last_put_s(self, camera_id: str) -> float:
        """The clock's time when the camera last offered a frame (0 if never)."""
        with self._changed:
            return self._last_put_s.get(camera_id, 0.0)

    def _adapt_stride(self, now_s: float) -> None:
        """Once per window: widen the stride by the overload seen, or narrow it a step."""
        if now_s - self._window_started_s < self._shed_window_s:
            return
        puts, drops = self._window_puts, self._window_drops
        if drops > SHED_DROP_SHARE * puts:
            served = max(1, puts - drops)
            factor = min(MAX_WIDEN_FACTOR, puts / (0.9 * served))  # aim at 90 % of analysed
            self.sample_stride = min(MAX_SAMPLE_STRIDE, self.sample_stride * factor)
        elif drops == 0:
            self.sample_stride = max(1.0, self.sample_stride * RECOVER_FACTOR)
        self._window_started_s, self._window_puts, self._window_drops = now_s, 0, 0

    def get_batch(self, max_size: int, timeout_s: float) -> list[Frame]:
        """Up to `max_size` oldest frames of unclaimed cameras; waits at most `timeout_s` for one.

        The cameras in the returned batch stay claimed until `release(batch)`.
        """
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while not (batch := self._take(max_size)):
                remaining_s = deadline - time.monotonic()
                if remaining_s <= 0:
                    return []
                self._changed.wait(remaining_s)
            self._claimed.update(frame.camera_id for frame in batch)
            return batch

    def release(self, batch: list[Frame]) -> None:
        """Let other consumers take the batch's cameras again."""
        with self._changed:
            self._claimed.difference_update(frame.camera_id for frame in batch)
            self._changed.notify_all()

    def _take(self, max_size: int) -> list[Frame]:
        batch: list[Frame] = []
        kept: deque[Frame] = deque()
        for frame in self._frames:
            if len(batch) < max_size and frame.camera_id not in self._claimed:
                batch.append(frame)
            else:
                kept.append(frame)
        if batch:
            self._frames = kept
        return batch
