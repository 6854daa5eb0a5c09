"""Remuxes a camera's compressed packets (no re-encode) into fixed-length MP4 segment files."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import av
import av.container
import av.stream

from ingest.segment import Segment, segment_key
from ingest.stream import MAX_TIMESTAMP_JUMP_S
from storage.objectstore import sha256_of_file

SegmentSink = Callable[[Path, Segment], None]


class SegmentRecorder:
    """Cuts segments at the first keyframe after `segment_duration_s` and hands each to `sink`.

    Packets before the first keyframe are dropped (a segment must start decodable). The MP4 is
    written with `+faststart` so browsers can play it from a URL. `sink` receives the local file
    and its `Segment`; it owns the file afterwards.
    """

    def __init__(
        self,
        camera_id: str,
        template: av.stream.Stream,
        spool_dir: Path,
        segment_duration_s: float,
        sink: SegmentSink,
    ) -> None:
        self.camera_id = camera_id
        self._template = template
        self._spool_dir = spool_dir
        self._segment_duration_s = segment_duration_s
        self._sink = sink
        self._output: av.container.OutputContainer | None = None
        self._out_stream: av.stream.Stream | None = None
        self._path: Path | None = None
        self._start_at: datetime | None = None
        self._start_pts = 0
        self._start_dts = 0
        self._last_wall: datetime | None = None
        self._last_dts = 0
        self.discontinuities = 0
        spool_dir.mkdir(parents=True, exist_ok=True)

    @property
    def recording(self) -> bool:
        """True once a segment is open (from the first keyframe on)."""
        return self._output is not None

    def write(self, packet: av.Packet, wall_time: datetime) -> None:
        """Add one packet of the template's stream, seen at `wall_time` (UTC)."""
        if packet.pts is None or packet.dts is None:
            return
        if self._output is not None and self._timestamps_jumped(packet):
            self.discontinuities += 1
            self._finish(end_at=self._last_wall)  # a new segment starts at the next keyframe
        if packet.is_keyframe and self._should_cut(wall_time):
            self._finish(end_at=wall_time)
        if self._output is None:
            if not packet.is_keyframe:
                return
            self._begin(packet, wall_time)
        assert self._out_stream is not None and self._output is not None
        self._last_dts = packet.dts
        packet.pts -= self._start_pts
        packet.dts -= self._start_dts
        packet.stream = self._out_stream
        self._output.mux(packet)
        self._last_wall = wall_time

    def _timestamps_jumped(self, packet: av.Packet) -> bool:
        """DTS must grow, and not leap: MP4 needs monotonic timestamps within a file."""
        assert packet.dts is not None and packet.time_base is not None
        step_s = float((packet.dts - self._last_dts) * packet.time_base)
        return step_s <= 0 or step_s > MAX_TIMESTAMP_JUMP_S

    def close(self, end_at: datetime | None = None) -> None:
        """Finish the open segment (end defaults to the last packet's time)."""
        self._finish(end_at=end_at or self._last_wall)

    def _should_cut(self, wall_time: datetime) -> bool:
        if self._start_at is None:
            return False
        return (wall_time - self._start_at).total_seconds() >= self._segment_duration_s

    def _begin(self, packet: av.Packet, wall_time: datetime) -> None:
        assert packet.pts is not None and packet.dts is not None
        self._start_at = wall_time
        self._start_pts = packet.pts
        self._start_dts = packet.dts
        self._path = self._spool_dir / f"{int(wall_time.timestamp() * 1000)}.mp4.part"
        self._output = av.open(
            str(self._path), "w", format="mp4", options={"movflags": "+faststart"}
        )
        self._out_stream = self._output.add_stream_from_template(self._template)

    def _finish(self, end_at: datetime | None) -> None:
        if self._output is None or self._path is None or self._start_at is None:
            return
        self._output.close()
        start_at = self._start_at
        final_path = self._path.with_suffix("")
        self._path.replace(final_path)
        self._output, self._out_stream, self._path, self._start_at = None, None, None, None
        if end_at is None or end_at <= start_at:
            final_path.unlink(missing_ok=True)
            return
        sha256, size_bytes = sha256_of_file(final_path)
        segment = Segment(
            camera_id=self.camera_id,
            start_at=start_at,
            end_at=end_at,
            object_key=segment_key(self.camera_id, start_at),
            sha256=sha256,
            size_bytes=size_bytes,
        )
        self._sink(final_path, segment)
