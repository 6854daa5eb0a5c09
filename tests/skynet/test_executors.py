"""The re-index executor choice (skynet/executors.py): in-process unless SKYNET_RAY_ADDRESS is
set, and Ray never imported on the in-process path (the demo runs without the extra)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from index.catalog.engine import init_catalog, session_factory
from index.reindex_units import InProcessExecutor, UnitContext
from skynet.executors import reindex_executor
from skynet.settings import Settings
from storage.local import LocalObjectStore


def test_no_ray_address_runs_units_in_process(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, models_dir=tmp_path / "models")
    context = UnitContext(
        session_factory(init_catalog(settings.catalog_url)),
        LocalObjectStore(settings.objects_dir, "http://127.0.0.1/objects", b"k" * 32),
        settings.models_dir,
    )
    executor = reindex_executor(settings, context, threads=2)
    assert isinstance(executor, InProcessExecutor)
    assert executor.context is context and executor.threads == 2


def test_choosing_in_process_never_imports_ray() -> None:
    code = (
        "import sys; import skynet.executors; "
        "assert 'ray' not in sys.modules, 'ray imported'; print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
