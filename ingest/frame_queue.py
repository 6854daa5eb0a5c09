"""`LatestFrames`: the bounded queue between every camera's decoder and the analysis threads."""

from __future__ import annotations

import threading
import time
from collections import deque

from ingest.frame import Frame


class LatestFrames:
    """A bounded frame queue shared by all cameras: when full, the oldest frame is dropped.

    Several analysis threads may consume it. A batch claims its cameras until `release`, so one
    camera's frames are never analysed by two threads at once and always in arrival order.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be ≥ 1, got {capacity}")
        self._capacity = capacity
        self._frames: deque[Frame] = deque()
        self._claimed: set[str] = set()
        self._changed = threading.Condition()
        self.dropped: dict[str, int] = {}

    def __len__(self) -> int:
        with self._changed:
            return len(self._frames)

    def put(self, frame: Frame) -> None:
        with self._changed:
            if len(self._frames) >= self._capacity:
                old = self._frames.popleft()
                self.dropped[old.camera_id] = self.dropped.get(old.camera_id, 0) + 1
            self._frames.append(frame)
            self._changed.notify()

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
