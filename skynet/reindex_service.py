"""Re-index jobs in a running process (issue #15): the runner, its executor, the versioned
indexes and what the API searches.

`ReindexService` builds a `ReindexRunner` on the executor `skynet/executors.py` chooses
(in-process, or Ray at `SKYNET_RAY_ADDRESS`), pacing each unit against live analysis lag. The
search side follows the catalog's live index version: `search_models` opens the live version's
vector index and the embedder that made it (so a query vector is always of the index's version:
a search never mixes two versions), and after a switch the API context gets both at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from detect.embedder import AppearanceEmbedder
from index.catalog import IndexVersion
from index.index_versions import IndexVersions
from index.reindex_boundaries import BoundarySettings
from index.reindex_jobs import ReindexRunner
from index.reindex_units import AnalysisSettings, UnitContext, detector_version
from index.track_indexer import open_vector_index
from index.vectors import VectorIndex
from ingest.archive import ArchiveSettings
from models.registry import model_path
from skynet.executors import reindex_executor
from skynet.plate_reading import plate_reading
from skynet.settings import Settings
from storage.objectstore import ObjectStore

log = logging.getLogger(__name__)

PACE_WAIT_S = 2.0  # how long a job waits before it looks at the live lag again
LIVE_POLL_S = 5.0  # how often the live index version is read (a switch made elsewhere)


def analysis_settings(settings: Settings) -> AnalysisSettings:
    """How re-index units are analysed, from the settings (live detector input and tracker,
    the boundaries' warm-up and hand-over period, the live plate reading)."""
    archive = ArchiveSettings(
        active_fps=settings.reindex_active_fps, keepalive_s=settings.reindex_keepalive_s
    )
    return AnalysisSettings(
        archive=archive,
        detector_input_px=settings.detector_input_px,
        score_threshold=settings.detector_score_threshold,
        track_max_age_s=settings.track_max_age_s,
        boundaries=(
            BoundarySettings(settings.reindex_warmup_s, settings.reindex_handover_s)
            if settings.reindex_join_boundaries
            else None
        ),
        plates=plate_reading(settings),  # the live runtime's reader, at full resolution (#14)
    )


@dataclass(frozen=True)
class SearchModels:
    """A version's vector index and the embedder whose vectors it holds."""

    version: str
    vectors: VectorIndex
    embedder: AppearanceEmbedder


def search_models(
    sessions: sessionmaker[Session], settings: Settings, live: IndexVersion
) -> SearchModels:
    """The live version's index (saved snapshot + catalog, see open_vector_index) and embedder."""
    embedder = AppearanceEmbedder(model_path(live.embedder, settings.models_dir))
    if embedder.embedding_version != live.version:
        raise RuntimeError(
            f"embedder {live.embedder!r} now makes {embedder.embedding_version!r}, not the live"
            f" version {live.version!r}: re-index with it, or rebuild its models"
        )
    vectors = open_vector_index(sessions, settings.vectors_dir, live.version, embedder.dim)
    return SearchModels(live.version, vectors, embedder)


class ReindexService:
    """The process's re-index runner and versioned indexes.

    `live_lag_s` reports the live analysis lag (seconds; the worst camera); `on_vectors` takes
    the vectors of a job whose version is the live one (the live vector index adds them),
    `on_superseded` the ids of the live tracks such a job replaced (the index removes them),
    `on_stale` sweeps the live index when such ids were lost (index/reindex_jobs.py).
    """

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        store: ObjectStore,
        live_lag_s: Callable[[], float] = lambda: 0.0,
        on_vectors: Callable[[str, tuple[int, ...], np.ndarray], None] | None = None,
        on_superseded: Callable[[str, tuple[int, ...]], None] | None = None,
        on_stale: Callable[[str], int] | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        analysis = analysis_settings(settings)
        self.context = UnitContext(sessions, store, settings.models_dir, analysis)
        self.versions = IndexVersions(sessions, settings.vectors_dir)
        self._live_lag_s = live_lag_s
        self.runner = ReindexRunner(
            sessions,
            reindex_executor(settings, self.context, settings.reindex_threads),
            self.context,
            self.versions,
            pace=self._pace,
            on_vectors=on_vectors,
            on_superseded=on_superseded,
            on_stale=on_stale,
            max_attempts=settings.reindex_max_attempts,
            live_settle_s=settings.reindex_live_settle_s,
        )
        self._lock = threading.Lock()
        self._serving = ""
        self._apply: Callable[[SearchModels], None] | None = None
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def _pace(self) -> float:
        """Wait while live analysis lags: live ingest keeps its capacity."""
        lag_s = self._live_lag_s()
        return PACE_WAIT_S if lag_s > self.settings.reindex_max_live_lag_s else 0.0

    def follow_switches(self, serving: str, apply: Callable[[SearchModels], None]) -> None:
        """Hand the live version to `apply` whenever it is not the one `serving` (the API
        context swaps its index and query embedder together): at once after a switch in this
        process, within LIVE_POLL_S after one elsewhere (`skynet index switch`)."""
        self._serving = serving
        self._apply = apply
        self.versions.listen(self._switched)

    def _switched(self, version: IndexVersion) -> None:
        with self._lock:
            if self._apply is None or version.version == self._serving:
                return
            self._apply(search_models(self.sessions, self.settings, version))
            self._serving = version.version
        log.info("searches use index version %s", version.version)

    def _watch_live(self) -> None:
        while not self._stop.wait(LIVE_POLL_S):
            try:
                live = self.versions.live()
                if live is not None:
                    self._switched(live)
            except Exception:  # the catalog down, a model missing: searches keep the old one
                log.exception("following the live index version failed")

    def start(self, live_embedder: AppearanceEmbedder) -> None:
        """`record_live`, then run jobs and follow the live version. Switches (a job's, or
        `skynet index switch` read by `_watch_live`) are refused unless live ingest embeds
        into the new version: it keeps `live_embedder` until the process restarts."""
        self.record_live(live_embedder.embedding_version, live_embedder.dim)
        self.versions.guard_live_ingest(
            live_embedder.embedding_version, self.settings.embedder_model
        )
        self.runner.start()
        self._stop.clear()
        self._watcher = threading.Thread(target=self._watch_live, name="index-live", daemon=True)
        self._watcher.start()

    def record_live(self, embedding_version: str, dim: int) -> None:
        """Record the live path's version as live when the catalog has none yet (first start);
        warn when another version is live (live ingest's new tracks are then searchable only
        after a re-index with this embedder, or once SKYNET_EMBEDDER_MODEL names the live one)."""
        live = self.versions.ensure_live(
            embedding_version,
            detector_version(self.settings.detector_model, self.settings.detector_input_px),
            self.settings.embedder_model,
            dim,
        )
        if live.version != embedding_version:
            log.warning(
                "live ingest embeds %s but index version %s (embedder %s) is live: searches use"
                " the live one; set SKYNET_EMBEDDER_MODEL=%s to index new tracks into it",
                embedding_version, live.version, live.embedder, live.embedder,
            )  # fmt: skip

    def stop(self) -> None:
        """Stop following, stop the runner (after the units in flight), then close the
        executor: a Ray executor's actors stop and the process leaves the cluster."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(10)
        self.runner.stop()
        self.runner.executor.close()


def api_follows_live(service: ReindexService, app: FastAPI, serving: str) -> None:
    """The API app's searches follow the live version: its context is replaced by a copy with
    the new index and query embedder (one assignment, so a request, and a search job, which
    reads `app.state.context` when it starts, sees one consistent pair; export jobs read no
    vectors)."""

    def use(models: SearchModels) -> None:
        context = app.state.context
        app.state.context = replace(context, vectors=models.vectors, embedder=models.embedder)

    service.follow_switches(serving, use)
