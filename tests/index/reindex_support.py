"""Recorded sample footage for re-index tests: real 1080p segments cut by the live recorder."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
from sqlalchemy.orm import Session, sessionmaker

from index.catalog import add_segment, init_catalog, session_factory, upsert_camera
from index.catalog.values import CameraSpec
from index.reindex_units import InProcessExecutor, SegmentUnit, UnitContext, UnitResult
from ingest.recorder import SegmentRecorder
from ingest.segment import Segment
from storage.local import LocalObjectStore
from storage.objectstore import ObjectStore

FOOTAGE_START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def record_segments(
    source: Path, spool: Path, camera_id: str, seconds: float, segment_s: float
) -> list[tuple[Path, Segment]]:
    """The first `seconds` of `source` cut into segments by the live recorder, timed from
    FOOTAGE_START (packets remuxed, not re-encoded, as live)."""
    produced: list[tuple[Path, Segment]] = []
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        time_base = stream.time_base
        assert time_base is not None
        recorder = SegmentRecorder(
            camera_id, stream, spool, segment_s, lambda p, s: produced.append((p, s))
        )
        for packet in container.demux(stream):
            if packet.pts is None:
                continue
            at_s = float(packet.pts * time_base)
            if at_s > seconds:
                break
            recorder.write(packet, FOOTAGE_START + timedelta(seconds=at_s))
        recorder.close()
    return produced


@dataclass
class Archive:
    """A catalog with cameras and their recorded segments in a local object store."""

    sessions: sessionmaker[Session]
    store: ObjectStore
    root: Path
    segments: list[Segment]


def archive_in(
    sessions: sessionmaker[Session],
    store: ObjectStore,
    root: Path,
    footage: dict[str, list[tuple[Path, Segment]]],
) -> Archive:
    """`footage` (camera id → recorded segments) stored in `store` and the catalog."""
    segments: list[Segment] = []
    with sessions() as session:
        for camera_id, recorded in footage.items():
            upsert_camera(
                session, CameraSpec(id=camera_id, name=camera_id, main_url="rtsp://10.0.0.9/m")
            )
            for path, segment in recorded:
                store.put_file(segment.object_key, path)
                add_segment(session, segment)
                segments.append(segment)
        session.commit()
    return Archive(sessions, store, root, segments)


def archive_with(root: Path, footage: dict[str, list[tuple[Path, Segment]]]) -> Archive:
    """A fresh SQLite catalog + local store holding `footage`."""
    sessions = session_factory(init_catalog(f"sqlite:///{root / 'catalog.db'}"))
    store = LocalObjectStore(root / "objects", "http://127.0.0.1/objects", b"k" * 32)
    return archive_in(sessions, store, root, footage)


class CountingExecutor(InProcessExecutor):
    """The in-process executor keeping every unit's result in `results` (bench/
    reindex_boundaries.py reads the frames each analysed); `hook(n)` runs after the n-th unit
    finished (a test's fault)."""

    def __init__(
        self,
        context: UnitContext,
        hook: Callable[[int], None] = lambda n: None,
        threads: int = 1,
    ) -> None:
        super().__init__(context, threads)
        self.results: list[UnitResult] = []
        self._hook = hook

    @property
    def finished(self) -> int:
        return len(self.results)

    def run(
        self,
        units: Sequence[SegmentUnit],
        on_done: Callable[[UnitResult], None],
        admit: Callable[[], bool],
    ) -> None:
        def counted(result: UnitResult) -> None:
            on_done(result)
            self.results.append(result)
            self._hook(len(self.results))

        super().run(units, counted, admit)
