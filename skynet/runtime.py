"""Process wiring: builds the stages from `Settings` and connects ingest → detect → index."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

import uvicorn
from sqlalchemy.orm import Session, sessionmaker

from detect.detector import NanoDetDetector
from detect.embedder import AppearanceEmbedder
from detect.worker import AnalysisWorker
from index.db import init_catalog, session_factory
from index.track_indexer import TrackIndexer, open_vector_index
from ingest.camera import CameraConfig, CameraIngest, LatestFrames
from ingest.objectstore import ObjectStore
from ingest.objectstore_local import LocalObjectStore
from ingest.objectstore_s3 import S3ObjectStore
from models.build import model_path
from search_api.app import API_PREFIX, create_app
from search_api.context import ApiContext
from skynet.settings import Settings

log = logging.getLogger(__name__)

FRAME_QUEUE_CAPACITY = 64


def open_object_store(settings: Settings) -> ObjectStore:
    if settings.storage_backend == "s3":
        return S3ObjectStore(
            endpoint=settings.s3_endpoint,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key.get_secret_value(),
            bucket=settings.s3_bucket,
            secure=settings.s3_secure,
        )
    return LocalObjectStore(
        root=settings.data_dir / "objects",
        public_base_url=f"{settings.api_base_url}{API_PREFIX}/objects",
        signing_key=settings.signing_key_bytes(),
    )


@dataclass
class Runtime:
    """All long-lived parts of one process; `start_camera` and `serve_api` bring them to life."""

    settings: Settings
    sessions: sessionmaker[Session]
    store: ObjectStore
    detector: NanoDetDetector
    embedder: AppearanceEmbedder
    indexer: TrackIndexer
    frames: LatestFrames
    worker: AnalysisWorker
    cameras: dict[str, CameraIngest] = field(default_factory=dict)
    _api_server: uvicorn.Server | None = None
    _api_thread: threading.Thread | None = None

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        sessions = session_factory(init_catalog(settings.catalog_url))
        store = open_object_store(settings)
        width_px, height_px = settings.detector_input_px
        detector = NanoDetDetector(
            model_path("nanodet", settings.models_dir),
            input_size=(width_px, height_px),
            score_threshold=settings.detector_score_threshold,
            intra_op_threads=settings.detector_threads,
        )
        embedder = AppearanceEmbedder(model_path("mobilenetv2-embedder", settings.models_dir))
        vectors = open_vector_index(
            sessions, settings.data_dir / "vectors", embedder.embedding_version, embedder.dim
        )
        indexer = TrackIndexer(sessions, store, vectors, settings.data_dir / "vectors")
        frames = LatestFrames(FRAME_QUEUE_CAPACITY)
        worker = AnalysisWorker(
            frames, detector, embedder, indexer.index, track_max_age_s=settings.track_max_age_s
        )
        return cls(settings, sessions, store, detector, embedder, indexer, frames, worker)

    def start(self) -> None:
        self.worker.start()

    def start_camera(self, config: CameraConfig, name: str | None = None) -> None:
        """Register the camera in the catalog and start recording and analysing it."""
        self.indexer.register_camera(config, name or config.camera_id)
        ingest = CameraIngest(
            config,
            spool_dir=self.settings.data_dir / "spool",
            segment_duration_s=self.settings.segment_duration_s,
            segment_sink=self.indexer.store_segment,
            frame_sink=self.frames.put,
        )
        self.cameras[config.camera_id] = ingest
        ingest.start()

    def stop_cameras(self) -> None:
        """Stop every camera, finish their open tracks and persist the vector index."""
        for ingest in self.cameras.values():
            ingest.stop()
        self.worker.stop()
        self.indexer.save()

    def api_context(self) -> ApiContext:
        return ApiContext(
            sessions=self.sessions,
            store=self.store,
            vectors=self.indexer.vectors,
            detector=self.detector,
            embedder=self.embedder,
            url_expiry_s=self.settings.url_expiry_s,
            signing_key=self.settings.signing_key_bytes(),
        )

    def serve_api(self) -> None:
        """Serve the API on a background thread (returns once it accepts connections)."""
        config = uvicorn.Config(
            create_app(self.api_context()),
            host=self.settings.api_host,
            port=self.settings.api_port,
            log_level="warning",
        )
        self._api_server = uvicorn.Server(config)
        self._api_thread = threading.Thread(target=self._api_server.run, daemon=True)
        self._api_thread.start()
        while not self._api_server.started:
            if not self._api_thread.is_alive():
                raise RuntimeError(f"API could not listen on port {self.settings.api_port}")
            threading.Event().wait(0.05)

    def stop_api(self) -> None:
        if self._api_server is not None and self._api_thread is not None:
            self._api_server.should_exit = True
            self._api_thread.join(10)
