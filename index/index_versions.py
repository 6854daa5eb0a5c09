"""Versioned vector indexes (issue #15): one FAISS index per embedding version on disk, the live
one chosen in the catalog, a shadow one built beside it by a re-index, an atomic switch.

Files: each version's index is `index_file(vectors_dir, version)` (the same place the live
path saves its index), so a shadow index sits beside the live one and becomes live without a
copy. The catalog's `index_versions` row says which version is live; searches read it (the API
process swaps its vector index and query embedder through `on_switch`). A version's tracks stay
in the catalog when it is retired (they are history: they carry the detector and embedder
versions that made them, and no search uses them once their index is gone); `retire` removes
the index files and marks the version retired.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from index.catalog.reindex import (
    IndexVersion,
    add_index_version,
    get_index_version,
    live_index_version,
    retire_index_version,
    switch_live_version,
)
from index.track_indexer import index_file, rebuild_vector_index
from index.vectors import VectorIndex

log = logging.getLogger(__name__)

SwitchListener = Callable[[IndexVersion], None]


class SwitchRefused(ValueError):
    """A switch to a version that live ingest does not embed into (its new tracks would not be
    searchable after the switch)."""


class IndexVersions:
    """Builds, switches and retires the versions' vector indexes under `vectors_dir`."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        vectors_dir: Path,
        on_switch: SwitchListener | None = None,
    ) -> None:
        self._sessions = sessions
        self.vectors_dir = vectors_dir
        self._listeners: list[SwitchListener] = [] if on_switch is None else [on_switch]
        self.live_ingest: tuple[str, str] | None = None  # (embedding version, embedder name)

    def guard_live_ingest(self, embedding_version: str, embedder: str) -> None:
        """Refuse switches to any version but `embedding_version`: the one live ingest (the
        running runtime, made by `embedder`, i.e. SKYNET_EMBEDDER_MODEL) embeds into."""
        self.live_ingest = (embedding_version, embedder)

    def listen(self, listener: SwitchListener) -> None:
        """Call `listener` with the new live version after each switch (the API's context)."""
        self._listeners.append(listener)

    def live(self) -> IndexVersion | None:
        with self._sessions() as session:
            return live_index_version(session)

    def ensure_live(self, version: str, detector: str, embedder: str, dim: int) -> IndexVersion:
        """The live version; records `version` as live when none is yet (first start)."""
        with self._sessions() as session:
            live = live_index_version(session)
            if live is None:
                live = add_index_version(session, version, detector, embedder, dim, "live")
                session.commit()
            return live

    def build(self, version: str, dim: int) -> VectorIndex:
        """The version's index built from the catalog's tracks of that version and saved
        (atomically) to its file: the shadow index a finished re-index leaves."""
        index = rebuild_vector_index(self._sessions, self.vectors_dir, version, dim)
        self.vectors_dir.mkdir(parents=True, exist_ok=True)
        index.save(index_file(self.vectors_dir, version))
        log.info("index version %s built: %d vectors", version, len(index))
        return index

    def switch(self, version: str) -> IndexVersion:
        """Make `version` live (one catalog transaction), then tell the listeners. Its index
        file must exist (built); LookupError / ValueError from the catalog for an unknown or
        retired version, FileNotFoundError when it was never built, SwitchRefused when live
        ingest is guarded and embeds into another version."""
        with self._sessions() as session:
            known = get_index_version(session, version)
            if known is not None and self.live_ingest is not None:
                ingest_version, ingest_embedder = self.live_ingest
                if known.version != ingest_version:
                    raise SwitchRefused(
                        f"index version {version!r} (embedder {known.embedder!r}) is not what"
                        f" live ingest embeds: it makes {ingest_version!r} with"
                        f" SKYNET_EMBEDDER_MODEL={ingest_embedder!r}, so new tracks would not be"
                        f" searchable after the switch; restart with"
                        f" SKYNET_EMBEDDER_MODEL={known.embedder!r}, then switch"
                    )
            if known is not None and known.state != "retired":
                path = index_file(self.vectors_dir, version)
                if not path.exists():
                    raise FileNotFoundError(f"index version {version!r} has no index at {path}")
            switch_live_version(session, version)
            session.commit()
            live = get_index_version(session, version)
        assert live is not None
        for listener in self._listeners:
            listener(live)
        return live

    def retire(self, version: str) -> IndexVersion:
        """Mark a version that is not live retired and delete its index files."""
        with self._sessions() as session:
            retired = retire_index_version(session, version)
            session.commit()
        path = index_file(self.vectors_dir, version)
        for file in [path, *path.parent.glob(f"{path.name}.*")]:
            file.unlink(missing_ok=True)
        return retired
