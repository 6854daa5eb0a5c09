"""Catalog tests against SQLite and a real PostgreSQL: migrations, repository, audit, keys, time."""

from __future__ import annotations

import dataclasses
import multiprocessing
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, MetaData, String, delete, func, inspect, select, text, update
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from detect.track_record import TrackRecord
from index import catalog
from index.catalog import (
    CameraSpec,
    NaiveDatetimeError,
    NewTrack,
    TrackQuery,
    UnknownCameraError,
    init_catalog,
    redact_url,
)
from index.catalog.engine import (
    UnsupportedDatabaseError,
    head_revision,
    make_engine,
    normalize_url,
)
from index.catalog.rows import ApiKeyRow, AuditRow, Base, CameraRow, TrackRow
from ingest.segment import Segment
from tests.migration_support import upgraded_from

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def _camera(camera_id: str = "cam-1", **overrides: object) -> CameraSpec:
    fields: dict[str, object] = {
        "id": camera_id,
        "name": f"Camera {camera_id}",
        "main_url": f"rtsp://admin:s3cret@10.0.0.5:554/{camera_id}/main",
        "sub_url": f"rtsp://admin:s3cret@10.0.0.5:554/{camera_id}/sub",
        "lat": 52.52,
        "lon": 13.405,
        "heading_deg": 270.0,
    }
    fields.update(overrides)
    return CameraSpec(**fields)  # type: ignore[arg-type]


def _track(
    local_id: int, start: datetime = T0, camera_id: str = "cam-1", **overrides: object
) -> NewTrack:
    vector = np.arange(8, dtype=np.float32) + local_id
    fields: dict[str, object] = {
        "camera_id": camera_id,
        "local_track_id": local_id,
        "class_name": "person",
        "confidence": 0.87,
        "start_at": start,
        "end_at": start + timedelta(seconds=12),
        "best_shot_at": start + timedelta(seconds=5),
        "best_bbox_xyxy_px": (10.5, 20.0, 110.25, 320.0),
        "thumbnail_key": f"thumbs/{camera_id}/{local_id}.jpg",
        "embedding": catalog.embedding_to_bytes(vector),
        "embedding_version": "mnv2-1280-v1",
        "attributes": {"upper_colour": "red", "direction_deg": 90},
        "trajectory": [[0.0, 10, 20, 110, 320], [5.0, 12, 21, 112, 322]],
    }
    fields.update(overrides)
    return NewTrack(**fields)  # type: ignore[arg-type]


# ---- migrations --------------------------------------------------------------------------------


def test_migrations_from_empty_match_the_orm_exactly(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        # The comparison is live: against an empty model it reports every table as extra.
        removed = compare_metadata(context, MetaData())
        assert {d[1].name for d in removed if d[0] == "remove_table"} == set(Base.metadata.tables)
        assert (
            connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
            == head_revision()
        )
    assert set(inspect(engine).get_table_names()) == {*Base.metadata.tables, "alembic_version"}


def test_schema_comparison_notices_a_drifted_model(engine: Engine) -> None:
    drifted = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(drifted)
    drifted.tables["tracks"].c.class_name.type = String(32)
    drifted.tables["cameras"].c.name.nullable = True
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        changes = [
            (change[0], change[2], change[3])
            for diff in compare_metadata(context, drifted)
            for change in (diff if isinstance(diff, list) else [diff])
        ]
    assert sorted(changes) == [
        ("modify_nullable", "cameras", "name"),
        ("modify_type", "tracks", "class_name"),
    ]


def _init_and_dispose(url: str) -> None:
    init_catalog(url).dispose()


@pytest.mark.slow
def test_concurrent_start_ups_migrate_once(catalog_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_init_and_dispose, args=(catalog_url,)) for _ in range(3)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [p.exitcode for p in processes] == [0, 0, 0]
    engine = make_engine(catalog_url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).all() == [
            (head_revision(),)
        ]
    engine.dispose()


def test_init_catalog_twice_is_a_no_op(catalog_url: str) -> None:
    first = init_catalog(catalog_url)
    first.dispose()
    second = init_catalog(catalog_url)
    with second.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
    second.dispose()


def test_sqlite_engine_settings(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'nested' / 'c.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 10_000
    engine.dispose()


def test_urls_are_normalised_and_unsupported_ones_named() -> None:
    assert normalize_url("postgresql://u:p@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgres://u:p@h/db").drivername == "postgresql+psycopg"
    with pytest.raises(UnsupportedDatabaseError, match="mysql"):
        normalize_url("mysql://u:p@h/db")
    with pytest.raises(UnsupportedDatabaseError, match="psycopg2"):
        normalize_url("postgresql+psycopg2://u:p@h/db")
    with pytest.raises(UnsupportedDatabaseError, match="not a database URL"):
        normalize_url("catalog.db")


# ---- cameras, segments, gaps -----------------------------------------------------------------


def test_cameras_upsert_get_list(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        catalog.upsert_camera(session, _camera("cam-2"))
        catalog.upsert_camera(session, _camera("cam-1", sub_url=None))
    with sessions.begin() as session:
        catalog.upsert_camera(session, _camera("cam-2", name="Gate", detect_fps=2.5, enabled=False))
    with sessions() as session:
        cameras = catalog.list_cameras(session)
        assert [c.id for c in cameras] == ["cam-1", "cam-2"]
        assert cameras[0].sub_url is None
        gate = catalog.get_camera(session, "cam-2")
        assert gate == _camera("cam-2", name="Gate", detect_fps=2.5, enabled=False)
        assert catalog.get_camera(session, "nope") is None
    assert "s3cret" not in repr(gate)
    assert gate is not None and redact_url(gate.main_url) == "rtsp://10.0.0.5:554/cam-2/main"
    with pytest.raises(ValueError, match="detect_fps"):
        _camera(detect_fps=0)
    with pytest.raises(ValueError, match="camera id"):
        _camera("bad id/with slash")


def test_camera_tiles_round_trip_and_are_checked(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        catalog.upsert_camera(session, _camera("cam-1", tiles="2x1"))
        catalog.upsert_camera(session, _camera("cam-2"))
    with sessions() as session:
        tiled, plain = catalog.list_cameras(session)
    assert (tiled.tiles, tiled.tile_grid) == ("2x1", (2, 1))
    assert (plain.tiles, plain.tile_grid) == ("1x1", (1, 1))
    for bad in ("4x1", "0x2", "2x2\n", "2 x 2", ""):
        with pytest.raises(ValueError, match="tiles"):
            _camera(tiles=bad)


def test_migration_0006_gives_existing_cameras_the_full_frame(catalog_url: str) -> None:
    insert = (
        "INSERT INTO cameras (id, name, main_url, detect_fps, enabled, created_at, updated_at)"
        " VALUES ('old', 'Old', 'rtsp://h/m', 5.0, :yes, :at, :at)"
    )
    with upgraded_from(catalog_url, "0005_job_leases", insert, {"yes": True, "at": T0}) as session:
        old = catalog.get_camera(session, "old")
        assert old is not None and old.tiles == "1x1"


def _segment(index: int, sha: str, **overrides: object) -> Segment:
    fields: dict[str, object] = {
        "camera_id": "cam-1",
        "start_at": T0 + timedelta(seconds=10 * index),
        "end_at": T0 + timedelta(seconds=10 * (index + 1)),
        "object_key": f"seg/cam-1/{index}.mp4",
        "sha256": sha,
        "size_bytes": 1000 + index,
    }
    fields.update(overrides)
    return Segment(**fields)  # type: ignore[arg-type]


def test_segments_between_and_idempotent_add(sessions: sessionmaker[Session]) -> None:
    sha = "ab" * 32
    with sessions.begin() as session:
        catalog.upsert_camera(session, _camera())
        ids = [catalog.add_segment(session, _segment(i, sha)) for i in range(6)]
        again = catalog.add_segment(session, _segment(0, sha.upper()))
    assert again == ids[0]
    with sessions() as session:
        found = catalog.segments_between(
            session, "cam-1", T0 + timedelta(seconds=15), T0 + timedelta(seconds=30)
        )
        assert found == [_segment(1, sha), _segment(2, sha)]
        assert found[0].duration_s == 10.0
        assert catalog.segments_between(session, "cam-2", T0, T0 + timedelta(hours=1)) == []
    with sessions.begin() as session, pytest.raises(ValueError, match="different sha256"):
        catalog.add_segment(session, _segment(0, "cd" * 32))
    with sessions.begin() as session, pytest.raises(UnknownCameraError, match="cam-9"):
        catalog.add_segment(session, _segment(0, sha, camera_id="cam-9", object_key="x.mp4"))
    with sessions.begin() as session, pytest.raises(ValueError, match="before it starts"):
        catalog.add_segment(session, _segment(0, sha, end_at=T0 - timedelta(seconds=1)))


def test_recording_gaps(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        catalog.upsert_camera(session, _camera())
        gap_id = catalog.add_recording_gap(
            session, "cam-1", T0, T0 + timedelta(minutes=2), "storage unreachable"
        )
    with sessions() as session:
        gaps = catalog.gaps_between(
            session, "cam-1", T0 + timedelta(minutes=1), T0 + timedelta(hours=1)
        )
        assert [(g.id, g.reason) for g in gaps] == [(gap_id, "storage unreachable")]
        assert (
            catalog.gaps_between(
                session, "cam-1", T0 + timedelta(minutes=2), T0 + timedelta(hours=1)
            )
            == []
        )


# ---- tracks ----------------------------------------------------------------------------------


def test_add_track_round_trip_and_idempotent(sessions: sessionmaker[Session]) -> None:
    new = _track(7)
    with sessions.begin() as session:
        catalog.upsert_camera(session, _camera())
        first = catalog.add_track(session, new)
    with sessions.begin() as session:
        second = catalog.add_track(session, _track(7, confidence=0.5))
    assert first == second
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(TrackRow)) == 1
        stored = catalog.get_track(session, first)
        assert catalog.get_track(session, first + 1000) is None
    assert stored is not None
    assert stored.id == first and stored.created_at.tzinfo is UTC
    assert stored.confidence == pytest.approx(0.87)
    assert (stored.start_at, stored.end_at, stored.best_shot_at) == (
        new.start_at,
        new.end_at,
        new.best_shot_at,
    )
    assert stored.best_bbox_xyxy_px == (10.5, 20.0, 110.25, 320.0)
    assert stored.attributes == {"upper_colour": "red", "direction_deg": 90}
    assert [list(p) for p in stored.trajectory] == [
        [0.0, 10, 20, 110, 320],
        [5.0, 12, 21, 112, 322],
    ]
    assert stored.embedding is not None
    vector = catalog.embedding_from_bytes(stored.embedding)
    assert vector.dtype == np.float32
    np.testing.assert_array_equal(vector, np.arange(8, dtype=np.float32) + 7)


def test_new_track_from_record_is_the_one_conversion_from_detect() -> None:
    """Every field of detect's finished track reaches the catalog row; pictures stay out."""
    expected = _track(4, frame_size_px=(1920, 1080))
    assert expected.embedding is not None
    record = TrackRecord(
        camera_id="cam-1",
        local_track_id=4,
        class_name="person",
        confidence=0.87,
        start_at=T0,
        end_at=T0 + timedelta(seconds=12),
        best_shot_at=T0 + timedelta(seconds=5),
        best_box=(10.5, 20.0, 110.25, 320.0),
        thumbnail_jpeg=b"jpeg",
        embedding=catalog.embedding_from_bytes(expected.embedding),
        embedding_version="mnv2-1280-v1",
        trajectory=[(0.0, 10, 20, 110, 320), (5.0, 12, 21, 112, 322)],
        attributes={"upper_colour": "red", "direction_deg": 90},
        context_jpeg=b"context",
        frame_size_px=(1920, 1080),
    )
    converted = NewTrack.from_record(record, "thumbs/cam-1/4.jpg")
    assert [list(p) for p in converted.trajectory] == [list(p) for p in expected.trajectory]
    assert converted == dataclasses.replace(expected, trajectory=record.trajectory)


def test_add_tracks_batch_is_idempotent_and_ordered(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        catalog.upsert_camera(session, _camera("cam-1"))
        catalog.upsert_camera(session, _camera("cam-2"))
        earlier = catalog.add_track(session, _track(5))
    batch = [
        _track(i, camera_id=f"cam-{1 + i % 2}", start=T0 + timedelta(seconds=i))
        for i in range(2100)  # three chunks
    ]
    # stored before; repeated from an earlier chunk; repeated within the same statement
    batch += [_track(5), batch[10], batch[2099]]
    with sessions.begin() as session:
        ids = catalog.add_tracks(session, batch)
    assert len(ids) == 2103 and len(set(ids)) == 2101
    assert ids[2100] == earlier and ids[2101] == ids[10] and ids[2102] == ids[2099]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(TrackRow)) == 2101
        stored = catalog.tracks_by_ids(session, ids[:2100])
        assert [(t.camera_id, t.local_track_id, t.start_at) for t in stored] == [
            (t.camera_id, t.local_track_id, t.start_at) for t in batch[:2100]
        ]
        assert catalog.add_tracks(session, []) == []
        with pytest.raises(UnknownCameraError, match="cam-3"):
            catalog.add_tracks(session, [_track(1), _track(2, camera_id="cam-3")])


def _ids(session: Session, query: TrackQuery) -> set[int]:
    return set(catalog.matching_track_ids(session, query))


def test_track_queries_and_embeddings(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        catalog.upsert_camera(session, _camera("cam-1"))
        catalog.upsert_camera(session, _camera("cam-2"))
        person_1 = catalog.add_track(session, _track(1))
        car_1 = catalog.add_track(
            session, _track(2, start=T0 + timedelta(minutes=10), class_name="car")
        )
        person_2 = catalog.add_track(
            session, _track(1, camera_id="cam-2", start=T0 + timedelta(hours=1))
        )
        bare = catalog.add_track(session, _track(3, embedding=None, embedding_version=None))
    with sessions() as session:
        assert _ids(session, TrackQuery()) == {person_1, car_1, person_2, bare}
        people_1 = TrackQuery(camera_ids=("cam-1",), class_names=("person",))
        assert _ids(session, people_1) == {person_1, bare}
        window = TrackQuery(start=T0 + timedelta(seconds=30), end=T0 + timedelta(hours=2))
        assert _ids(session, window) == {car_1, person_2}
        assert _ids(session, TrackQuery(camera_ids=())) == set()
        assert _ids(session, TrackQuery(class_names=("bus",))) == set()
        ordered = catalog.tracks_by_ids(session, [person_2, 999_999, person_1])
        assert [t.id for t in ordered] == [person_2, person_1]
        ids, vectors = catalog.track_embeddings(session, "mnv2-1280-v1", limit=2)
        assert ids.tolist() == sorted([person_1, car_1, person_2])[:2]
        assert vectors.shape == (2, 8) and vectors.dtype == np.float32
        rest, _ = catalog.track_embeddings(session, "mnv2-1280-v1", after_id=int(ids[-1]))
        assert rest.tolist() == [max(person_1, car_1, person_2)]
    with sessions.begin() as session:
        catalog.set_track_embedding(session, bare, catalog.embedding_to_bytes([1.0, 2.0]), "v2")
    with sessions() as session:
        ids, vectors = catalog.track_embeddings(session, "v2")
        assert ids.tolist() == [bare] and vectors.tolist() == [[1.0, 2.0]]


def test_concurrent_reingest_keeps_one_row_per_track(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        catalog.upsert_camera(session, _camera())
    results: list[list[int]] = []
    errors: list[BaseException] = []

    def ingest() -> None:
        try:
            ids = []
            for local_id in range(15):
                with sessions.begin() as session:
                    ids.append(catalog.add_track(session, _track(local_id)))
            results.append(ids)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=ingest) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 4 and all(r == results[0] for r in results)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(TrackRow)) == 15


# ---- time ------------------------------------------------------------------------------------


def test_datetimes_round_trip_as_aware_utc(sessions: sessionmaker[Session]) -> None:
    kolkata = timezone(timedelta(hours=5, minutes=30))
    local_start = datetime(2026, 3, 1, 17, 30, 0, 123456, tzinfo=kolkata)
    with sessions.begin() as session:
        catalog.upsert_camera(session, _camera())
        track_id = catalog.add_track(session, _track(1, start=local_start))
        # Same instant written in another zone is the same unique key.
        assert catalog.add_track(session, _track(1, start=local_start.astimezone(UTC))) == track_id
    with sessions() as session:
        stored = catalog.get_track(session, track_id)
        camera_row = session.get(CameraRow, "cam-1")
    assert stored is not None
    assert stored.start_at == local_start
    assert stored.start_at.tzinfo is UTC
    assert stored.start_at.hour == 12 and stored.start_at.microsecond == 123456
    assert camera_row is not None and camera_row.created_at.tzinfo is UTC


def test_naive_datetimes_are_rejected(sessions: sessionmaker[Session]) -> None:
    naive = datetime(2026, 3, 1, 12, 0, 0)
    with pytest.raises(NaiveDatetimeError, match="naive"):
        _track(1, start=naive)
    with sessions.begin() as session:
        catalog.upsert_camera(session, _camera())
    with sessions.begin() as session, pytest.raises(NaiveDatetimeError):
        catalog.segments_between(session, "cam-1", naive, naive)
    row = TrackRow(
        camera_id="cam-1",
        local_track_id=1,
        class_name="person",
        confidence=0.5,
        start_at=naive,
        end_at=T0,
        best_shot_at=T0,
        bbox_x1=0,
        bbox_y1=0,
        bbox_x2=1,
        bbox_y2=1,
    )
    with sessions() as session:
        session.add(row)
        with pytest.raises(StatementError) as raised:
            session.flush()
        assert isinstance(raised.value.orig, NaiveDatetimeError)


# ---- audit, cases, keys, jobs ----------------------------------------------------------------


def test_audit_log_is_append_only(sessions: sessionmaker[Session], engine: Engine) -> None:
    with sessions.begin() as session:
        case_id = catalog.create_case(session, "Stolen bicycle", "alice")
        audit_id = catalog.append_audit(
            session,
            principal="alice",
            role="investigator",
            action="search",
            query_type="image",
            case_id=case_id,
            purpose="case 42",
            filters={"cameras": ["c1"]},
            image_sha256="ef" * 32,
            hit_count=17,
        )
        catalog.append_audit(
            session, principal="bob", role="admin", action="camera.update", target="cam-1"
        )
    with sessions() as session:
        entries = catalog.audit_entries(session)
        assert [e.principal for e in entries] == ["alice", "bob"]
        assert entries[0].id == audit_id and entries[0].filters == {"cameras": ["c1"]}
        assert entries[0].hit_count == 17 and entries[0].at.tzinfo is UTC
        assert [e.action for e in catalog.audit_entries(session, principal="bob")] == [
            "camera.update"
        ]
    forbidden = [
        update(AuditRow).where(AuditRow.id == audit_id).values(hit_count=0),
        delete(AuditRow).where(AuditRow.id == audit_id),
        delete(AuditRow),
    ]
    if engine.dialect.name == "postgresql":
        forbidden.append(text("TRUNCATE audit_log"))  # type: ignore[arg-type]
    for statement in forbidden:
        with engine.connect() as connection, pytest.raises(DBAPIError, match="append-only"):
            connection.execute(statement)
    with sessions() as session:  # the ORM path is refused too
        row = session.get(AuditRow, audit_id)
        assert row is not None
        row.purpose = "rewritten"
        with pytest.raises(DBAPIError, match="append-only"):
            session.commit()
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(AuditRow)) == 2
        assert catalog.audit_entries(session)[0].purpose == "case 42"


def test_audit_entries_are_the_newest_rows_oldest_first(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        for minute in range(5):  # explicit times must keep time order (issue #17)
            principal = "bob" if minute % 2 else "alice"
            at = T0 + timedelta(minutes=minute)
            catalog.append_audit(session, principal=principal, role="r", action=f"a{minute}", at=at)
        with pytest.raises(catalog.BackdatedAuditError, match="before the newest entry"):
            catalog.append_audit(session, principal="eve", role="r", action="x", at=T0)
    with sessions() as session:

        def actions(**query: object) -> list[str]:
            return [e.action for e in catalog.audit_entries(session, **query)]  # type: ignore[arg-type]

        assert actions() == ["a0", "a1", "a2", "a3", "a4"]
        assert actions(limit=2) == ["a3", "a4"]
        assert actions(limit=1, principal="bob") == ["a3"]
        assert actions(since=T0 + timedelta(minutes=2), principal="alice") == ["a2", "a4"]
        with pytest.raises(ValueError, match="at least 1"):
            catalog.audit_entries(session, limit=0)


def test_cases_open_and_close(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        case_id = catalog.create_case(session, "Hit and run", "alice")
    with sessions.begin() as session:
        closed = catalog.close_case(session, case_id, T0)
    assert closed.closed_at == T0
    with sessions() as session:
        case = catalog.get_case(session, case_id)
        assert case is not None and case.title == "Hit and run" and case.closed_at == T0
        with pytest.raises(LookupError, match="missing"):
            catalog.close_case(session, "missing")


def test_api_keys(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        for camera_id in ("cam-1", "cam-2"):  # a key may be limited to known cameras only
            catalog.upsert_camera(session, CameraSpec(camera_id, camera_id, "rtsp://h/x"))
        admin_key = catalog.create_api_key(session, "ops", "admin")
        viewer_key = catalog.create_api_key(session, "kiosk", "viewer", ["cam-2", "cam-1"])
    assert admin_key != viewer_key and admin_key.startswith("skn_")
    with sessions() as session:
        stored = session.scalars(select(ApiKeyRow.key_sha256)).all()
        assert admin_key not in stored and all(len(h) == 64 for h in stored)
        admin = catalog.principal_for_key(session, admin_key)
        viewer = catalog.principal_for_key(session, viewer_key)
        assert admin is not None and viewer is not None
        assert (admin.name, admin.role, admin.camera_ids) == ("ops", "admin", None)
        assert (viewer.name, viewer.role) == ("kiosk", "viewer")
        assert viewer.camera_ids == frozenset({"cam-1", "cam-2"})
        assert admin.key_id != viewer.key_id and admin.principal_id == f"key:{admin.key_id}"
        assert viewer.can_see("cam-1") and not viewer.can_see("cam-3") and admin.can_see("x")
        assert catalog.principal_for_key(session, admin_key + "x") is None
        assert catalog.principal_for_key(session, "") is None
    with sessions.begin() as session:
        assert catalog.revoke_api_key(session, "kiosk") == 1
    with sessions() as session:
        assert catalog.principal_for_key(session, viewer_key) is None
        assert catalog.principal_for_key(session, admin_key) is not None
        keys = catalog.list_api_keys(session)
        assert [(k.name, k.revoked_at is not None) for k in keys] == [
            ("ops", False),
            ("kiosk", True),
        ]
    with sessions() as session, pytest.raises(ValueError, match="role"):
        catalog.create_api_key(session, "x", "Super User")


def test_jobs_lifecycle(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        job_id = catalog.create_held_job(session, "reindex", "ana", {"camera_id": "cam-1"}, "r1")
    with sessions.begin() as session:
        assert catalog.start_held_job(session, job_id, "r1")
        assert catalog.record_progress(session, job_id, "r1", 0.5)
        assert catalog.finish_held_job(session, job_id, "r1", "succeeded", result={"tracks": 12})
    with sessions() as session:
        job = catalog.get_job(session, job_id)
        assert job is not None
        assert job.updated_at >= job.created_at
        assert (job.state, job.progress, job.result, job.params) == (
            "succeeded",
            1.0,
            {"tracks": 12},
            {"camera_id": "cam-1"},
        )
        with pytest.raises(ValueError, match="job state"):
            catalog.finish_held_job(session, job_id, "r1", "exploded")


# ---- redaction -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rtsp://admin:pa55@10.1.2.3:554/Streaming/101", "rtsp://10.1.2.3:554/Streaming/101"),
        ("rtsp://admin:p@ss@cam.local/live", "rtsp://cam.local/live"),
        ("rtsp://user@[fe80::1]:8554/s", "rtsp://[fe80::1]:8554/s"),
        ("rtsp://10.1.2.3/live", "rtsp://10.1.2.3/live"),
        (
            "http://cam/cgi?user=admin&password=x&ch=1",
            "http://cam/cgi?user=admin&password=***&ch=1",
        ),
        ("postgresql+psycopg://sky:pw@db:5432/catalog", "postgresql+psycopg://db:5432/catalog"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected
