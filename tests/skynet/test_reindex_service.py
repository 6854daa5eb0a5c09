"""The re-index service's share of the machine (#15): a job waits while live analysis lags,
and the runner admits the next segment only once the wait is over and the job still runs."""

from __future__ import annotations

import itertools
from pathlib import Path

from index.catalog import create_job, init_catalog, session_factory
from index.catalog.reindex import claim_job, pause_job
from skynet.reindex_service import PACE_WAIT_S, ReindexService
from skynet.settings import Settings
from storage.local import LocalObjectStore


def service(tmp_path: Path, lag_s: list[float]) -> ReindexService:
    sessions = session_factory(init_catalog(f"sqlite:///{tmp_path / 'catalog.db'}"))
    store = LocalObjectStore(tmp_path / "objects", "http://127.0.0.1/objects", b"k" * 32)
    settings = Settings(data_dir=tmp_path, reindex_max_live_lag_s=3.0)
    return ReindexService(settings, sessions, store, live_lag_s=lambda: lag_s[0])


def test_a_job_waits_while_live_analysis_lags(tmp_path: Path):
    lag_s = [5.0]
    reindex = service(tmp_path, lag_s)
    assert reindex.runner._pace() == PACE_WAIT_S
    lag_s[0] = 2.9
    assert reindex.runner._pace() == 0.0


def test_the_next_segment_is_admitted_after_the_wait_and_only_while_the_job_runs(tmp_path: Path):
    reindex = service(tmp_path, [0.0])
    waits = itertools.chain([0.01, 0.01], itertools.repeat(0.0))
    calls: list[float] = []

    def pace() -> float:
        calls.append(wait := next(waits))
        return wait

    reindex.runner._pace = pace
    with reindex.sessions() as session:
        job_id = create_job(session, "reindex", {})
        assert claim_job(session, job_id, reindex.runner.runner_id)
        session.commit()
    assert reindex.runner._admit(job_id)
    assert calls == [0.01, 0.01, 0.0]
    with reindex.sessions() as session:
        assert pause_job(session, job_id)
        session.commit()
    assert not reindex.runner._admit(job_id)


def test_a_started_service_guards_switches_with_the_live_embedder(tmp_path: Path):
    from detect.embedder import AppearanceEmbedder
    from models.registry import default_cache_dir, model_path

    reindex = service(tmp_path, [0.0])
    embedder = AppearanceEmbedder(model_path("mobilenetv2-embedder", default_cache_dir()))
    reindex.start(embedder)
    try:
        assert reindex.versions.live_ingest == (
            embedder.embedding_version, reindex.settings.embedder_model
        )  # fmt: skip
        live = reindex.versions.live()
        assert live is not None and live.version == embedder.embedding_version
    finally:
        reindex.stop()
