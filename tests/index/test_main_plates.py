"""Deferred main-stream plate reads (#14, index/main_plates.py) on real parts: the traffic
sample clip (two vehicles with composited plates, main 1080p + sub 640×360), segments cut by
the real recorder, the live analysis path with the real detector, embedder and plate reader,
a real catalog and object store (and the real S3 on Swift for the fetch and the missing
object). The track builder reads no plate for a "main" camera; when the main stream cannot be
read, the queue reads the views' sub-stream crops instead. Vehicle 0 (闽ND4E84, 22 px characters
on the main stream) is read on both streams; vehicle 1 (冀A6118领, a 241 px car on the main
stream, 80 px on the sub stream) is under the sub stream's legibility gate, so only the main
stream can read it."""

from __future__ import annotations

import shutil
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bench.plates_live_cost import EPOCH, sub_frames
from bench.plates_main_stream import analyse, cut_segments
from detect.embedder import AppearanceEmbedder
from detect.plate_match import parse_plate_pattern
from detect.plate_reader import PlateReader
from detect.track_record import TrackRecord
from index.catalog import create_case, get_plate, upsert_camera
from index.catalog.values import CameraSpec
from index.catalog.watchlists import add_plate_entry, create_watchlist, list_hits
from index.main_plates import SUB_READ_FALLBACKS, MainStreamPlates
from index.track_indexer import TrackIndexer
from index.vectors import VectorIndex
from models.registry import default_cache_dir
from sample_streams.plate_traffic import TrafficClip, build_traffic_clip
from skynet.runtime import pipeline_detector
from skynet.settings import Settings
from storage.local import LocalObjectStore
from storage.objectstore import ObjectStore
from storage.s3 import S3ObjectStore
from tests.servers.rtsp import sample_cache_dir
from tests.servers.swift import S3Endpoint

pytestmark = pytest.mark.slow
CAMERA = "plates-live-cost"  # the camera id of bench.plates_live_cost.sub_frames
READ_BY_BOTH, MAIN_ONLY = "闽ND4E84", "冀A6118领"


@pytest.fixture(scope="module")
def clip() -> TrafficClip:
    return build_traffic_clip(sample_cache_dir(), 16, pick=(0, 5))


Parts = tuple[Settings, PlateReader, AppearanceEmbedder]


@pytest.fixture(scope="module")
def parts() -> Parts:
    settings = Settings(models_dir=default_cache_dir().resolve())
    reader = PlateReader.from_model_cache(settings.models_dir)
    return settings, reader, AppearanceEmbedder.from_settings(settings)


@pytest.fixture(scope="module")
def records(clip: TrafficClip, parts: Parts) -> list[TrackRecord]:
    """The live analysis of the clip's sub stream (camera `plate_source` main), once."""
    settings, reader, embedder = parts
    frames = sub_frames(clip.sub_path, settings.detect_fps, clip.duration_s)
    detector = pipeline_detector(settings)
    found, _cpu_s = analyse(frames, settings, (detector, embedder, reader), "main")
    return found


def _vehicle_record(records: list[TrackRecord], clip: TrafficClip, text: str) -> TrackRecord:
    vehicle = next(v for v in clip.vehicles if v.text == text)
    enter, leave = (EPOCH + timedelta(seconds=s) for s in (vehicle.enter_s, vehicle.leave_s))
    mine = [  # not the parked van and car of the scene: they are there all along
        r for r in records if enter - timedelta(seconds=0.5) <= r.start_at and r.end_at <= leave
    ]
    return max(mine, key=lambda r: r.end_at - r.start_at)


def _catalog(sessions: sessionmaker[Session], texts: tuple[str, ...], mode: str = "exact") -> int:
    with sessions() as session:
        upsert_camera(session, CameraSpec(CAMERA, "traffic", "rtsp://10.0.0.5/main"))
        case_id = create_case(session, "plates", "test")
        expires = datetime.now(UTC) + timedelta(days=1)
        watchlist = create_watchlist(session, "wanted", case_id, "test", expires, "test")
        for text in texts:
            add_plate_entry(session, watchlist.id, parse_plate_pattern(text, mode))
        session.commit()
        return watchlist.id


def _queue(
    sessions: sessionmaker[Session], store: ObjectStore, reader: PlateReader,
    embedder: AppearanceEmbedder, records: list[TrackRecord], root: Path, **kwargs: object,
) -> tuple[MainStreamPlates, list[int]]:  # fmt: skip
    indexer = TrackIndexer(
        sessions, store, VectorIndex(embedder.dim, embedder.embedding_version), root / "vectors",
        root / "pictures",
    )  # fmt: skip
    queue = MainStreamPlates(sessions, store, indexer.pictures, reader, **kwargs)  # type: ignore[arg-type]
    ids = indexer.index(records)
    queue.submit(ids, records)
    return queue, ids


def test_a_read_waits_for_its_segment_then_the_main_stream_reads_what_the_sub_could_not(
    clip: TrafficClip, parts: Parts,
    records: list[TrackRecord], sessions: sessionmaker[Session], tmp_path: Path,
) -> None:  # fmt: skip
    _settings, reader, embedder = parts
    watchlist_id = _catalog(sessions, (READ_BY_BOTH, MAIN_ONLY))
    segments = cut_segments(clip.main_path, tmp_path / "spool", 4.0)
    store = LocalObjectStore(tmp_path / "objects", "http://x/objects", b"k" * 32)
    main_only = _vehicle_record(records, clip, MAIN_ONLY)
    assert all(r.plate is None for r in records)  # a "main" camera's builder reads no plate
    queue, ids = _queue(sessions, store, reader, embedder, records, tmp_path)
    assert queue.process_ready() == 0  # no segment has closed yet
    assert queue.pending == queue.stats.submitted >= 2
    for path, segment in segments:
        queue.segment_closed(path, segment)
    assert queue.process_ready() == queue.stats.submitted
    assert queue.pending == 0
    track_id = ids[records.index(main_only)]
    with sessions() as session:
        plate = get_plate(session, track_id)
        hits = list_hits(session, watchlist_id)
    assert plate is not None and plate.text == MAIN_ONLY
    assert plate.crop_key is not None and store.exists(plate.crop_key)
    assert {read["stream"] for read in plate.reads} == {"main"}
    assert {read["frame_size"][0] for read in plate.reads} == {1920}
    assert MAIN_ONLY in {hit.plate_text for hit in hits}
    assert any(hit.track_id == track_id for hit in hits)
    assert queue.stats.read_to_commit_s and max(queue.stats.read_to_commit_s) < 5.0
    # a distant vehicle (under the main gate at the main size) costs no decode at all
    view = main_only.plate_views[0]
    tiny = replace(view, box_xyxy_px=(10.0, 10.0, 40.0, 30.0))  # 90×60 px on the main stream
    for path, _segment in segments:
        path.unlink()  # decoding would fail: "segment_unreadable"
    before = dict(queue.stats.fallbacks)
    queue.submit([track_id], [replace(main_only, plate_views=(tiny,))])
    queue.process_ready()
    assert queue.stats.fallbacks["illegible"] == before.get("illegible", 0) + 1
    assert queue.stats.fallbacks["segment_unreadable"] == before.get("segment_unreadable", 0)


def _sub_plate(sessions: sessionmaker[Session], track_id: int) -> str | None:
    with sessions() as session:
        plate = get_plate(session, track_id)
    return None if plate is None else plate.text


def _read_on_sub_instead(
    sessions: sessionmaker[Session], queue: MainStreamPlates, ids: list[int],
    records: list[TrackRecord], clip: TrafficClip,
) -> None:  # fmt: skip
    """Every request fell back to its sub-stream crops: the vehicle legible there has its sub
    plate stored (reads marked "sub", in sub-stream pixels; the sub stream loses its province,
    as it does on the bench), the one under the gate none."""
    assert queue.stats.stored == 0
    failed = sum(queue.stats.fallbacks[kind] for kind in SUB_READ_FALLBACKS)
    assert queue.stats.sub_reads == failed >= 2  # not the views too small for the main stream
    assert queue.stats.sub_stored >= 1
    track_id = {text: ids[records.index(_vehicle_record(records, clip, text))]
                for text in (READ_BY_BOTH, MAIN_ONLY)}  # fmt: skip
    with sessions() as session:
        both = get_plate(session, track_id[READ_BY_BOTH])
        main_only = get_plate(session, track_id[MAIN_ONLY])
    assert both is not None and both.text.endswith(READ_BY_BOTH[1:])
    assert {read["stream"] for read in both.reads} == {"sub"}
    assert {tuple(read["frame_size"]) for read in both.reads} == {(640, 360)}
    assert main_only is None


def test_a_truncated_segment_falls_back_to_the_sub_stream_read_and_its_watchlist_check(
    clip: TrafficClip, parts: Parts,
    records: list[TrackRecord], sessions: sessionmaker[Session], tmp_path: Path,
) -> None:  # fmt: skip
    _settings, reader, embedder = parts
    segments = cut_segments(clip.main_path, tmp_path / "spool", 60.0)  # one segment
    store = LocalObjectStore(tmp_path / "objects", "http://x/objects", b"k" * 32)
    ((path, segment),) = segments
    path.write_bytes(path.read_bytes()[: segment.size_bytes // 8])  # cut in its first GOPs
    watchlist_id = _catalog(sessions, ("*" + READ_BY_BOTH[1:],), "wildcard")
    queue, ids = _queue(sessions, store, reader, embedder, records, tmp_path)
    assert all(_sub_plate(sessions, i) is None for i in ids)  # indexed without a plate
    queue.segment_closed(path, segment)
    queue.process_ready()
    assert sum(queue.stats.fallbacks.values()) == queue.stats.submitted
    assert queue.stats.fallbacks["segment_unreadable"] >= 1
    _read_on_sub_instead(sessions, queue, ids, records, clip)  # nothing lost
    with sessions() as session:
        hits = list_hits(session, watchlist_id)
    both_id = ids[records.index(_vehicle_record(records, clip, READ_BY_BOTH))]
    assert [hit.track_id for hit in hits] == [both_id]  # the fall-back read was checked


def _s3_store(s3_server: S3Endpoint, bucket: str) -> S3ObjectStore:
    return S3ObjectStore(
        s3_server.endpoint, s3_server.access_key, s3_server.secret_key, bucket=bucket,
        region=s3_server.region,
    )  # fmt: skip


def test_a_segment_is_fetched_from_s3_and_a_missing_object_falls_back(
    clip: TrafficClip, parts: Parts, records: list[TrackRecord],
    sessions: sessionmaker[Session], tmp_path: Path, s3_server: S3Endpoint,
) -> None:  # fmt: skip
    _settings, reader, embedder = parts
    bucket = f"main-plates-{uuid.uuid4().hex[:12]}"
    segments = cut_segments(clip.main_path, tmp_path / "spool", 4.0)
    uploaded = _s3_store(s3_server, bucket)
    for path, segment in segments:  # uploaded, local spool files gone: read from S3
        uploaded.put_file(segment.object_key, path, "video/mp4")
        path.unlink()
    main_only = _vehicle_record(records, clip, MAIN_ONLY)
    _catalog(sessions, ())
    queue, ids = _queue(sessions, uploaded, reader, embedder, records, tmp_path / "a")
    for path, segment in segments:
        queue.segment_closed(path, segment)
    queue.process_ready()
    assert _sub_plate(sessions, ids[records.index(main_only)]) == MAIN_ONLY
    assert queue.stats.fallbacks["segment_unreadable"] == 0
    # the same tracks again over a bucket where no segment was stored: ObjectNotFound
    empty = _s3_store(s3_server, bucket + "-empty")
    empty.check()
    again = [replace(r, local_track_id=r.local_track_id + 1000) for r in records]
    queue, ids = _queue(sessions, empty, reader, embedder, again, tmp_path / "b")
    for path, segment in segments:
        queue.segment_closed(path, segment)
    queue.process_ready()
    assert queue.stats.fallbacks["segment_unreadable"] == queue.stats.submitted >= 2
    _read_on_sub_instead(sessions, queue, ids, again, clip)


def test_a_segment_that_never_closes_times_out_and_reads_the_sub_crops(
    clip: TrafficClip, parts: Parts,
    records: list[TrackRecord], sessions: sessionmaker[Session], tmp_path: Path,
) -> None:  # fmt: skip
    _settings, reader, embedder = parts
    now = [100.0]
    store = LocalObjectStore(tmp_path / "objects", "http://x/objects", b"k" * 32)
    _catalog(sessions, ())
    queue, ids = _queue(
        sessions, store, reader, embedder, records, tmp_path, max_wait_s=30.0,
        clock=lambda: now[0],
    )  # fmt: skip
    now[0] += 29.0
    assert queue.process_ready() == 0
    assert queue.stats.sub_reads == 0  # still waiting for the main stream
    now[0] += 2.0
    assert queue.process_ready() == queue.stats.submitted
    assert queue.stats.fallbacks["timed_out"] == queue.stats.submitted
    _read_on_sub_instead(sessions, queue, ids, records, clip)


def test_a_segment_gone_from_the_spool_and_never_stored_is_not_an_error(
    clip: TrafficClip, parts: Parts,
    records: list[TrackRecord], sessions: sessionmaker[Session], tmp_path: Path,
) -> None:  # fmt: skip
    _settings, reader, embedder = parts
    store = LocalObjectStore(tmp_path / "objects", "http://x/objects", b"k" * 32)
    segments = cut_segments(clip.main_path, tmp_path / "spool", 4.0)
    shutil.rmtree(tmp_path / "spool")  # the spool was full: dropped before any upload
    _catalog(sessions, ())
    queue, _ids = _queue(sessions, store, reader, embedder, records, tmp_path)
    for path, segment in segments:
        queue.segment_closed(path, segment)
    queue.start()  # its own thread reads, as in the runtime
    try:
        for _ in range(200):
            if queue.pending == 0:
                break
            time.sleep(0.05)
    finally:
        queue.stop()
    assert queue.stats.fallbacks["segment_unreadable"] == queue.stats.submitted
    assert queue.stats.sub_reads == queue.stats.submitted


def test_a_stopped_queue_reads_the_waiting_tracks_on_their_sub_crops(
    clip: TrafficClip, parts: Parts,
    records: list[TrackRecord], sessions: sessionmaker[Session], tmp_path: Path,
) -> None:  # fmt: skip
    _settings, reader, embedder = parts
    store = LocalObjectStore(tmp_path / "objects", "http://x/objects", b"k" * 32)
    _catalog(sessions, ())
    queue, ids = _queue(sessions, store, reader, embedder, records, tmp_path)
    queue.stop()  # never started, no segment closed: every request still waits
    assert queue.pending == 0
    assert queue.stats.fallbacks["stopped"] == queue.stats.submitted
    _read_on_sub_instead(sessions, queue, ids, records, clip)


def test_views_in_a_recording_gap_read_the_sub_crops(
    clip: TrafficClip, parts: Parts, records: list[TrackRecord],
    sessions: sessionmaker[Session], tmp_path: Path,
) -> None:  # fmt: skip
    _settings, reader, embedder = parts
    store = LocalObjectStore(tmp_path / "objects", "http://x/objects", b"k" * 32)
    segments = cut_segments(clip.main_path, tmp_path / "spool", 4.0)
    _catalog(sessions, ())
    queue, ids = _queue(sessions, store, reader, embedder, records, tmp_path)
    last_path, last = segments[-1]  # only the last segment was recorded: the rest is a gap
    later = replace(last, start_at=last.end_at, end_at=last.end_at + timedelta(seconds=4))
    queue.segment_closed(last_path, later)
    assert queue.process_ready() == queue.stats.submitted
    assert queue.stats.fallbacks["segment_missing"] == queue.stats.submitted
    _read_on_sub_instead(sessions, queue, ids, records, clip)
