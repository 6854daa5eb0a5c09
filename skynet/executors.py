"""The one place a re-index executor is chosen (issue #15): in this process by default, on the
Ray cluster at `SKYNET_RAY_ADDRESS` when it is set (skynet/ray_executor.py, imported only
then, so the demo and a plain install never need Ray)."""

from __future__ import annotations

from index.reindex_units import Executor, InProcessExecutor, UnitContext
from skynet.settings import Settings


def reindex_executor(settings: Settings, context: UnitContext, threads: int = 1) -> Executor:
    """In-process on `threads` threads sharing `context`, or Ray when `settings.ray_address`
    is set (its actors build their own contexts with `context.analysis`)."""
    if not settings.ray_address:
        return InProcessExecutor(context, threads)
    from skynet.ray_executor import RayExecutor

    return RayExecutor(settings, context.analysis)
