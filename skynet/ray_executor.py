"""Re-index units on a Ray cluster (issue #15): the `Executor` of index/reindex_units.py for
`SKYNET_RAY_ADDRESS`. Only this module imports `ray`, so nothing else needs the extra.

A pool of actors, each holding one `UnitContext` built from the settings it was given (models
loaded once per actor, catalog and object store opened by the actor itself), takes one task per
batch of `batch_units` units. Every unit goes through `run_unit` on the actor, so its tracks and
its checkpoint reach the shared catalog and object storage from the worker, exactly as they do
in-process; the driver only passes the results to `on_done`.

An actor that dies (its process killed, its node lost) fails its batch as a whole: it is
replaced and the batch submitted again, up to `MAX_BATCH_ATTEMPTS` times. Units the dead actor
had committed come back `already_done` (the checkpoint is conditional on `pending`), the one it
was in the middle of is redone from scratch, so no unit is lost or stored twice.

The catalog must be one every node reaches (PostgreSQL in production; SQLite on one machine
works for a local cluster) and so must object storage (S3) and `models_dir`; relative paths in
the settings are made absolute here before they travel. The settings (secrets included) go to
every actor: the cluster belongs on a private network (Ray's token authentication on).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

import ray
from ray.exceptions import RayActorError

from index.catalog.engine import init_catalog, session_factory
from index.reindex_units import AnalysisSettings, SegmentUnit, UnitContext, UnitResult, run_unit
from skynet.settings import Settings

log = logging.getLogger(__name__)

MAX_BATCH_ATTEMPTS = 3  # a batch whose actor died this often: its units fail, stay pending
ACTOR_CPUS = 1.0  # each actor runs its models on one ONNX Runtime thread
ACTOR_START_TIMEOUT_S = 300.0


def portable_settings(settings: Settings) -> Settings:
    """`settings` with the data and model directories absolute: actors run elsewhere."""
    return settings.model_copy(
        update={
            "data_dir": settings.data_dir.resolve(),
            "models_dir": settings.models_dir.resolve(),
        }
    )


def unit_context(settings: Settings, analysis: AnalysisSettings) -> UnitContext:
    """The context a worker builds for itself: its own catalog sessions and object store."""
    from skynet.object_store import open_object_store  # not skynet.runtime: no cycle

    sessions = session_factory(init_catalog(settings.catalog_url))
    return UnitContext(sessions, open_object_store(settings), settings.models_dir, analysis)


class UnitActor:
    """One Ray worker's `UnitContext`, kept for the actor's life (models load once)."""

    def __init__(self, settings: Settings, analysis: AnalysisSettings) -> None:
        self._context = unit_context(settings, analysis)

    def pid(self) -> int:
        """The actor's process id (tests kill it to play a lost worker)."""
        return os.getpid()

    def run_batch(self, units: list[SegmentUnit]) -> list[UnitResult]:
        return [run_unit(unit, self._context) for unit in units]


def _failed(unit: SegmentUnit, error: str) -> UnitResult:
    return UnitResult(unit.unit_id, "failed", unit.footage_s, error=error)


class RayExecutor:
    """Runs units on the Ray cluster at `settings.ray_address` (see the module docstring)."""

    def __init__(self, settings: Settings, analysis: AnalysisSettings) -> None:
        if not settings.ray_address:
            raise ValueError("RayExecutor needs settings.ray_address (SKYNET_RAY_ADDRESS)")
        self.settings = portable_settings(settings)
        self.analysis = analysis
        self.batch_units = settings.ray_batch_units
        self._connected_here = not ray.is_initialized()
        if self._connected_here:
            ray.init(
                address=settings.ray_address, logging_level=logging.WARNING,
                log_to_driver=False, namespace="skynet",
            )  # fmt: skip
        cpus = int(ray.cluster_resources().get("CPU", 0))
        self.actor_count = settings.ray_actors or max(1, cpus)
        self._remote_actor = ray.remote(num_cpus=ACTOR_CPUS, max_restarts=0)(UnitActor)
        self._actors: list[Any] = []
        self.actor_pids: dict[int, int] = {}  # actor slot → its worker's process id
        self.actor_deaths = 0
        self._lock = threading.Lock()
        self._in_flight: dict[int, tuple[int, ...]] = {}  # actor slot → its batch's unit ids

    def _actor(self, slot: int) -> Any:
        """The slot's actor, the missing ones of every slot started first (all at once: each
        spends seconds importing the pipeline)."""
        while len(self._actors) < self.actor_count:
            self._actors.append(None)
        if self._actors[slot] is None:
            missing = [s for s, actor in enumerate(self._actors) if actor is None]
            for s in missing:
                self._actors[s] = self._remote_actor.remote(self.settings, self.analysis)
            # GetTimeoutError when the cluster cannot place them (fewer CPUs than ray_actors)
            pids = ray.get(
                [self._actors[s].pid.remote() for s in missing], timeout=ACTOR_START_TIMEOUT_S
            )
            self.actor_pids.update(zip(missing, (int(pid) for pid in pids), strict=True))
        return self._actors[slot]

    def _replace(self, slot: int) -> None:
        """Forget the dead actor in `slot`; the next batch for it starts a new one."""
        dead = self._actors[slot]
        self._actors[slot] = None
        self.actor_pids.pop(slot, None)
        self.actor_deaths += 1
        ray.kill(dead, no_restart=True)

    def in_flight(self) -> dict[int, tuple[int, ...]]:
        """Process id of each busy actor → the unit ids of its batch (safe from any thread)."""
        with self._lock:
            busy = dict(self._in_flight)
        pids = {slot: self.actor_pids.get(slot) for slot in busy}
        return {pid: busy[slot] for slot, pid in pids.items() if pid is not None}

    def run(
        self,
        units: Sequence[SegmentUnit],
        on_done: Callable[[UnitResult], None],
        admit: Callable[[], bool],
    ) -> None:
        """One task per batch on free actors; a dead actor's batch is resubmitted."""
        waiting = [
            (list(units[i : i + self.batch_units]), 1)
            for i in range(0, len(units), self.batch_units)
        ]
        running: dict[Any, tuple[int, list[SegmentUnit], int]] = {}  # ref → slot, batch, try
        stopping = False
        while waiting or running:
            free = [s for s in range(self.actor_count) if s not in {v[0] for v in running.values()}]
            while waiting and free and not stopping:
                batch, attempt = waiting[0]
                if not all(admit() for _ in batch):  # stop: unstarted units stay pending
                    stopping = True
                    break
                waiting.pop(0)
                slot = free.pop(0)
                actor = self._actor(slot)
                with self._lock:
                    self._in_flight[slot] = tuple(unit.unit_id for unit in batch)
                running[actor.run_batch.remote(batch)] = (slot, batch, attempt)
            if stopping:
                waiting.clear()
            if not running:
                return
            ready, _ = ray.wait(list(running), num_returns=1)
            slot, batch, attempt = running.pop(ready[0])
            with self._lock:
                self._in_flight.pop(slot, None)
            for result in self._results(ready[0], slot, batch, attempt, waiting):
                on_done(result)

    def _results(
        self,
        ref: Any,
        slot: int,
        batch: list[SegmentUnit],
        attempt: int,
        waiting: list[tuple[list[SegmentUnit], int]],
    ) -> list[UnitResult]:
        """The finished batch's results; for a dead actor, none yet (the batch is queued again
        first in line) or, past the last attempt, `failed` ones."""
        try:
            results: list[UnitResult] = ray.get(ref)
            return results
        except RayActorError as error:
            self._replace(slot)
            if attempt < MAX_BATCH_ATTEMPTS:
                log.warning("re-index actor %d died (%s): batch resubmitted", slot, error)
                waiting.insert(0, (batch, attempt + 1))
                return []
            reason = f"ray actor died {attempt} times: {error}"
        except Exception as error:  # the task broke outside run_unit (e.g. unpicklable)
            reason = f"{type(error).__name__}: {error}"
        return [_failed(unit, reason) for unit in batch]

    def close(self) -> None:
        """Stop the actors (their models and connections go with them) and leave the cluster
        if this executor joined it (a driver left connected exits when the cluster goes)."""
        for actor in self._actors:
            if actor is not None:
                ray.kill(actor, no_restart=True)
        self._actors.clear()
        self.actor_pids.clear()
        if self._connected_here:
            ray.shutdown()
