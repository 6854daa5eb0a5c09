"""Process wiring: builds the stages from `Settings` and connects ingest → detect → index."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import cv2
import faiss
import numpy as np
import uvicorn
from sqlalchemy.orm import Session, sessionmaker

from detect.detector import Detector, DetectorConfig
from detect.embedder import AppearanceEmbedder
from detect.motion_regions import MotionRegionSettings
from detect.plate_views import PlateSource
from detect.registry import DetectorOptions, build_detector
from detect.violations import SIDE_CLASSES
from detect.worker import AnalysisWorker, CameraAnalysis
from detect.zone_rules import ZoneRule
from evidence.request import EvidenceKit
from index.audit_checkpointer import AuditCheckpointer
from index.camera_links import CameraLinkMonitor
from index.catalog import list_cameras, upsert_camera
from index.catalog.engine import init_catalog, session_factory
from index.catalog.values import CameraSpec, CameraUrlRefusedError, check_camera_urls
from index.catalog.zones import zone_rules_of_cameras
from index.event_recorder import EventRecorder
from index.footage_ingest import FootagePolicy, reindex_analysis
from index.main_plates import MainStreamPlates
from index.reindex_units import detector_version
from index.retention import RetentionScheduler
from index.track_indexer import TrackIndexer, open_vector_index, remove_trackless_vectors
from ingest.camera import CameraConfig, CameraIngest
from ingest.camera_status import CameraStatus
from ingest.frame_queue import LatestFrames
from ingest.segment import Segment
from ingest.uploader import SegmentUploader
from search_api.app import create_app
from search_api.context import ApiContext
from search_api.event_stream import EventStreamPolicy
from search_api.limits import ApiLimits
from search_api.webhook_dispatcher import DeliveryPolicy, WebhookDispatcher
from skynet.accounts import account_policy
from skynet.object_store import open_object_store as open_object_store  # its old home
from skynet.plate_reading import plate_reading
from skynet.reindex_service import ReindexService, api_follows_live
from skynet.retention_config import retention_config
from skynet.settings import Settings
from skynet.supervisor import CameraSupervisor, recorded_until
from storage.ed25519 import Signer
from storage.objectstore import ObjectStore

log = logging.getLogger(__name__)

FRAME_QUEUE_CAPACITY = 32  # bounds analysis lag: newest frames are kept


def pipeline_detector(settings: Settings, input_px: tuple[int, int] | None = None) -> Detector:
    """The live analysis detector as `settings` describe it (at `input_px` if given), built
    by the detector registry from `settings.detector_model`."""
    options = DetectorOptions(
        settings.models_dir,
        input_px=input_px or settings.detector_input_px,
        score_threshold=settings.detector_score_threshold,
        threads=settings.detector_threads,
        side_classes=SIDE_CLASSES,  # stall proxies for the zone rules (#13), never tracked
    )
    return build_detector(settings.detector_model, options)


def query_detector(settings: Settings) -> Detector:
    """The same backend for query images: any aspect, so the square default input, 1 thread."""
    return build_detector(settings.detector_model, DetectorOptions(settings.models_dir))


def openable_cameras(specs: list[CameraSpec], allow: Sequence[str]) -> list[CameraSpec]:
    """The live cameras ingest may open: one whose URL the allow-list refuses (written to the
    catalog before the check existed, or by hand) is logged and left closed, never fetched."""
    openable = []
    for spec in specs:
        if spec.kind != "live":
            continue  # uploaded footage (issue #15): nothing to connect to
        try:
            openable.append(check_camera_urls(spec, allow))
        except CameraUrlRefusedError as error:
            log.error("camera %s not opened: %s", spec.id, error)
    return openable


def footage_policy(settings: Settings) -> FootagePolicy:
    """Limits and work dir of uploaded footage (issue #15), as `settings` say."""
    return FootagePolicy(
        work_dir=settings.footage_dir,
        segment_duration_s=settings.segment_duration_s,
        part_bytes=settings.footage_part_bytes,
        max_bytes=settings.footage_max_bytes,
        max_duration_s=settings.footage_max_duration_s,
    )


def camera_analysis(
    spec: CameraSpec,
    rules: Sequence[ZoneRule] = (),
    motion_regions: bool = False,
    plate_source: PlateSource = "sub",
) -> CameraAnalysis:
    """What the analysis worker needs to know about a camera: its tiling, motion-region
    detection (#16), heading, the rules of its zones and its plates' stream (#14)."""
    config = DetectorConfig(tiles=spec.tile_grid, motion_regions=motion_regions)
    return CameraAnalysis(config, spec.heading_deg, tuple(rules), plate_source)


def plate_source_of(settings: Settings, camera_id: str) -> PlateSource:
    """The stream a camera's plates are read from (#14): its own setting, else the default."""
    return settings.plate_source_cameras.get(camera_id, settings.plate_source)


def motion_region_settings(settings: Settings) -> MotionRegionSettings:
    """The motion-region path's settings (#16): canvases of the detector's input size."""
    return MotionRegionSettings(
        canvas_px=settings.detector_input_px,
        full_every_frames=settings.motion_regions_full_every_frames,
    )


def delivery_policy(settings: Settings) -> DeliveryPolicy:
    """How the webhook dispatcher delivers, as `settings` say."""
    return DeliveryPolicy(
        allow=settings.webhook_allow,
        timeout_s=settings.webhook_timeout_s,
        max_attempts=settings.webhook_max_attempts,
        backoff_base_s=settings.webhook_backoff_base_s,
        backoff_max_s=settings.webhook_backoff_max_s,
        jitter=settings.webhook_backoff_jitter,
        poll_s=settings.outbox_poll_s,
    )


class ApiPortTakenError(RuntimeError):
    """The API's port was taken (by the time the server tried to listen on it)."""


@dataclass
class Runtime:
    """All long-lived parts of one process; the supervisor runs the catalog's cameras."""

    settings: Settings
    sessions: sessionmaker[Session]
    store: ObjectStore
    detector: Detector
    query_detector: Detector
    embedder: AppearanceEmbedder
    indexer: TrackIndexer
    uploader: SegmentUploader
    frames: LatestFrames
    worker: AnalysisWorker
    # The violation detector's sink (issue #13): ViolationUpdates become catalog events.
    event_recorder: EventRecorder
    supervisor: CameraSupervisor | None = None
    dispatcher: WebhookDispatcher | None = None
    camera_links: CameraLinkMonitor | None = None
    retention: RetentionScheduler | None = None  # the daily retention job (issue #17)
    audit_checkpointer: AuditCheckpointer | None = None
    reindex: ReindexService | None = None  # re-index jobs and index versions (issue #15)
    main_plates: MainStreamPlates | None = None  # deferred main-stream plate reads (#14)
    cameras: dict[str, CameraIngest] = field(default_factory=dict)
    _api_server: uvicorn.Server | None = None
    _api_thread: threading.Thread | None = None

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        faiss.omp_set_num_threads(1)  # per-query threads only contend on a small machine
        cv2.setNumThreads(1)  # our threads are the parallelism; OpenCV's pool only adds sync cost
        sessions = session_factory(init_catalog(settings.catalog_url))
        store = open_object_store(settings)
        detector = pipeline_detector(settings)
        embedder = AppearanceEmbedder.from_settings(settings)  # with the learned re-ID metric
        vectors = open_vector_index(
            sessions, settings.vectors_dir, embedder.embedding_version, embedder.dim
        )
        indexer = TrackIndexer(
            sessions, store, vectors, settings.vectors_dir,
            settings.data_dir / "picture_spool", settings.vector_save_interval_s,
            detector_version=detector_version(settings.detector_model, settings.detector_input_px),
        )  # fmt: skip
        uploader = SegmentUploader(
            store, settings.spool_dir, settings.spool_limit_bytes, indexer.record_segment
        )
        event_recorder = EventRecorder(
            sessions, indexer.pictures, settings.timezone, settings.event_merge_gap_s
        )
        frames = LatestFrames(FRAME_QUEUE_CAPACITY)
        reading = plate_reading(settings)  # the re-index workers read with the same recipe
        plate_reader = None if reading is None else reading.reader()
        main_plates = None
        if plate_reader is not None:
            main_plates = MainStreamPlates(
                sessions, store, indexer.pictures, plate_reader, settings.plate_main_max_wait_s
            )
        worker = AnalysisWorker(
            frames,
            detector,
            embedder,
            indexer.index if main_plates is None else main_plates.after(indexer.index),
            track_max_age_s=settings.track_max_age_s,
            threads=settings.analysis_threads,
            violation_sink=event_recorder,
            plate_reader=plate_reader,
            motion_regions=motion_region_settings(settings),
        )
        return cls(
            settings,
            sessions,
            store,
            detector,
            query_detector(settings),
            embedder,
            indexer,
            uploader,
            frames,
            worker,
            event_recorder,
            main_plates=main_plates,
        )

    def start(self) -> None:
        """Start the shared workers and the cameras the catalog lists."""
        self.uploader.start()
        self.indexer.start()
        if self.main_plates is not None:
            self.main_plates.start()
        self.worker.start()
        self.supervisor = CameraSupervisor(
            self.catalog_cameras,
            self._start_camera,
            self._stop_camera,
            self.settings.camera_poll_s,
        )
        self.supervisor.start()
        self.dispatcher = WebhookDispatcher(self.sessions, delivery_policy(self.settings))
        self.dispatcher.start()
        self.camera_links = CameraLinkMonitor(
            self.sessions, self.camera_states, self.settings.camera_poll_s
        )
        self.camera_links.start()
        self.retention = RetentionScheduler(
            self.sessions, self.store, lambda: self.indexer.vectors,
            retention_config(self.settings), self.settings.retention_interval_s,
        )  # fmt: skip
        self.retention.start()
        self.audit_checkpointer = AuditCheckpointer(
            self.sessions,
            Signer.load_or_create(self.settings.evidence_key_path),
            self.settings.audit_checkpoint_entries,
            timedelta(minutes=self.settings.audit_checkpoint_minutes),
        )
        self.audit_checkpointer.start()
        self.reindex = ReindexService(
            self.settings, self.sessions, self.store, self._live_lag_s, self._add_live_vectors,
            self._drop_live_vectors, self._sweep_live_vectors,
        )  # fmt: skip
        self.reindex.start(self.embedder)

    def _live_lag_s(self) -> float:
        """The worst camera's analysis lag: re-index jobs wait while it is high."""
        return max(list(self.worker.lag_s.values()) or [0.0])

    def _add_live_vectors(self, version: str, ids: tuple[int, ...], vectors: np.ndarray) -> None:
        """A re-index into the live version: its tracks join the live index."""
        if ids and version == self.indexer.vectors.embedding_version:
            self.indexer.vectors.add(list(ids), vectors)

    def _drop_live_vectors(self, version: str, ids: tuple[int, ...]) -> None:
        """A re-index into the live version replaced these tracks: their vectors leave."""
        if ids and version == self.indexer.vectors.embedding_version:
            self.indexer.vectors.remove(list(ids))

    def _sweep_live_vectors(self, version: str) -> int:
        """A re-index into the live version lost some replaced ids: vectors without a track go."""
        if version != self.indexer.vectors.embedding_version:
            return 0
        return remove_trackless_vectors(self.sessions, self.indexer.vectors)

    def camera_states(self) -> dict[str, str]:
        """Each running camera's ingest state (online, reconnecting, offline, ...)."""
        running = list(self.cameras.items())
        return {camera_id: ingest.counters.state for camera_id, ingest in running}

    def catalog_cameras(self) -> list[CameraSpec]:
        """The catalog's cameras; hands changed analysis settings to the worker on the way
        (`configure_camera`), so tiling, heading and zone rule changes reach it at the
        supervisor's next poll without restarting ingest."""
        with self.sessions() as session:
            specs = openable_cameras(list_cameras(session), self.settings.camera_url_allow)
            timezones = {spec.id: spec.timezone or self.settings.timezone for spec in specs}
            rules = zone_rules_of_cameras(session, timezones)  # one query for every camera
        motion_regions = self.settings.motion_regions
        wanted = {
            spec.id: camera_analysis(
                spec, rules[spec.id], motion_regions, plate_source_of(self.settings, spec.id)
            )
            for spec in specs
        }
        current = self.worker.camera_settings()
        for camera_id, analysis in wanted.items():
            if current.get(camera_id) != analysis:
                self.worker.configure_camera(camera_id, analysis)
        for camera_id in current.keys() - wanted.keys():
            self.worker.forget_camera(camera_id)
        return specs

    def add_camera(self, spec: CameraSpec) -> None:
        """Write the camera to the catalog and start it now (the API does the same via polling)."""
        with self.sessions() as session:
            upsert_camera(session, spec)
            session.commit()
        self.apply_cameras()

    def apply_cameras(self) -> None:
        """Start, change or stop cameras now to match the catalog (else the next poll does)."""
        if self.supervisor is not None:
            self.supervisor.reconcile()

    def _start_camera(self, config: CameraConfig) -> None:
        ingest = CameraIngest(
            config,
            spool_dir=self.settings.spool_dir,
            segment_duration_s=self.settings.segment_duration_s,
            segment_sink=self._segment_closed,
            frame_sink=self.frames.put,
            gap_sink=self.indexer.record_gap,
            sample_stride=lambda: self.frames.sample_stride,
            recorded_until=recorded_until(self.sessions, self.uploader, config.camera_id),
        )
        self.cameras[config.camera_id] = ingest
        ingest.start()

    def _segment_closed(self, path: Path, segment: Segment) -> None:
        """A recorded segment: first noted for the main-stream plate reads, then uploaded."""
        if self.main_plates is not None:
            self.main_plates.segment_closed(path, segment)
        self.uploader.submit(path, segment)

    def _stop_camera(self, camera_id: str) -> None:
        ingest = self.cameras.pop(camera_id, None)
        if ingest is not None:
            ingest.stop()
        self.worker.end_camera(camera_id)

    def stop(self) -> None:
        """Stop cameras, finish open tracks, upload what is spooled, persist the vector index."""
        if self.reindex is not None:
            self.reindex.stop()  # after the segments in flight; its job is queued again
        if self.retention is not None:
            self.retention.stop()
        if self.camera_links is not None:
            self.camera_links.stop()
        if self.audit_checkpointer is not None:
            self.audit_checkpointer.stop()
        if self.supervisor is not None:
            self.supervisor.stop()
        if self.dispatcher is not None:
            self.dispatcher.stop()
        self.worker.stop()
        if self.main_plates is not None:
            self.main_plates.stop()  # waiting tracks keep their sub-stream plates
        self.uploader.stop()
        self.indexer.stop()

    def camera_status(self) -> dict[str, CameraStatus]:
        """Live status of every camera the catalog lists (paused ones included)."""
        paused = self.supervisor.paused if self.supervisor is not None else set()
        statuses = {
            camera_id: CameraStatus(
                camera_id=camera_id, state="paused", spool_pending_segments=0,
            )
            for camera_id in paused
        }  # fmt: skip
        for camera_id, ingest in list(self.cameras.items()):
            counters = ingest.counters
            spool = self.uploader.status(camera_id)
            analysed = self.worker.analysed_rate.get(camera_id)
            statuses[camera_id] = CameraStatus(
                camera_id=camera_id,
                state=counters.state,
                input_fps=round(counters.input_rate.per_second(), 2),
                analysed_fps=round(analysed.per_second(), 2) if analysed else 0.0,
                frames_sampled=counters.frames_sampled,
                frames_gated=counters.frames_gated,
                frames_dropped=self.frames.dropped.get(camera_id, 0),
                sample_stride=round(self.frames.sample_stride, 2),
                corrupt_packets=counters.corrupt_packets,
                lag_s=round(self.worker.lag_s.get(camera_id, 0.0), 3),
                reconnects=counters.reconnects,
                last_error=counters.last_error,
                spool_pending_segments=spool.pending_segments,
                spool_dropped_segments=spool.dropped_segments,
                storage_down=spool.storage_down,
            )
        return statuses

    def api_context(self) -> ApiContext:
        return ApiContext(
            sessions=self.sessions,
            store=self.store,
            vectors=self.indexer.vectors,
            detector=self.query_detector,
            embedder=self.embedder,
            url_expiry_s=self.settings.url_expiry_s,
            signing_key=self.settings.signing_key_bytes(),
            camera_status=self.camera_status,
            public_base_url=self.settings.api_base_url,
            limits=ApiLimits(
                max_request_bytes=self.settings.max_request_bytes,
                max_image_pixels=self.settings.max_image_pixels,
                rate_limit_per_minute=self.settings.rate_limit_per_minute,
                max_upload_part_bytes=self.settings.footage_part_bytes,
            ),
            camera_url_allow=self.settings.camera_url_allow,
            webhook_url_allow=self.settings.webhook_allow,
            event_stream=EventStreamPolicy(
                poll_s=self.settings.outbox_poll_s,
                heartbeat_s=self.settings.event_stream_heartbeat_s,
                max_s=self.settings.event_stream_max_s,
            ),
            default_timezone=self.settings.timezone,
            accounts=account_policy(self.settings),
            retention=retention_config(self.settings),
            evidence=EvidenceKit.for_site(
                self.settings.evidence_key_path, self.settings.models_dir
            ),  # evidence exports (issue #17)
            audit_public_key=Signer.load_or_create(self.settings.evidence_key_path).public_key,
            footage_policy=footage_policy(self.settings),
            footage_analysis=reindex_analysis(
                self.settings.detector_model, self.settings.embedder_model
            ),  # an upload's segments are queued for the re-index engine (issue #15)
            docs_assets_dir=self.settings.models_dir / "docs",
        )

    def serve_api(self) -> None:
        """Serve the API on a background thread (returns once it accepts connections)."""
        app = create_app(self.api_context())
        if self.reindex is not None:
            api_follows_live(self.reindex, app, self.indexer.vectors.embedding_version)
        config = uvicorn.Config(
            app,
            host=self.settings.api_host,
            port=self.settings.api_port,
            log_level="warning",
        )
        server = self._api_server = uvicorn.Server(config)

        def run() -> None:
            with contextlib.suppress(SystemExit):  # uvicorn's exit when it cannot listen
                server.run()

        self._api_thread = threading.Thread(target=run, daemon=True)
        self._api_thread.start()
        while not self._api_server.started:
            if not self._api_thread.is_alive():
                raise ApiPortTakenError(
                    f"API could not listen on {self.settings.api_host}:{self.settings.api_port}"
                )
            threading.Event().wait(0.05)

    def stop_api(self) -> None:
        if self._api_server is not None and self._api_thread is not None:
            self._api_server.should_exit = True
            self._api_thread.join(10)
