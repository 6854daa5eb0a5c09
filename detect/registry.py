"""Detector backends by name: what `SKYNET_DETECTOR_MODEL` may say, and the factory behind each.

A name is `BACKEND` or `BACKEND:ARGUMENT`: `nanodet` and `nanodet-int8` are the shipped NanoDet
graphs (manifest names, verified through `models.registry`); `ultralytics:PATH` loads YOLO
weights the user supplies (.pt or .onnx). A new backend is a new `DETECTOR_BACKENDS` entry, not
an edit of the runtime. Factories import their backend lazily, so naming a backend costs
nothing until it is built (and torch is never imported unless `ultralytics:` is chosen).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from models.registry import model_path

if TYPE_CHECKING:  # the backends' modules load only when a factory runs
    from detect.detector import Detector

ULTRALYTICS_INPUT_PX = 640  # Ultralytics' own default square input for .pt weights


class DetectorChoiceError(ValueError):
    """A detector name that no backend answers to, or a backend built without what it needs."""


@dataclass(frozen=True)
class DetectorOptions:
    """What every factory gets besides the name's argument (settings, minus their source).

    `input_px` (W, H) is NanoDet's input; YOLO weights run at their own square size (640, or
    what a static ONNX export fixes). The defaults are the square any-aspect detector that
    query images go through.
    """

    models_dir: Path
    input_px: tuple[int, int] = (416, 416)
    score_threshold: float = 0.35
    threads: int = 1
    # classes decoded for the zone rules only (#13), never tracked; backends that cannot
    # decode them apart (ultralytics) leave them out
    side_classes: tuple[str, ...] = ()


# (argument after "name:", or None) × options → a detector
DetectorFactory = Callable[[str | None, DetectorOptions], "Detector"]


@dataclass(frozen=True)
class DetectorBackend:
    """One registry entry: `argument` names what follows `name:` (None: the name is whole)."""

    name: str
    factory: DetectorFactory
    argument: str | None = None
    summary: str = ""

    @property
    def usage(self) -> str:
        return self.name if self.argument is None else f"{self.name}:{self.argument}"


def _nanodet(manifest_name: str) -> DetectorFactory:
    def build(argument: str | None, options: DetectorOptions) -> Detector:
        from detect.detector import NanoDetDetector

        return NanoDetDetector(
            model_path(manifest_name, options.models_dir),
            input_size=options.input_px,
            score_threshold=options.score_threshold,
            intra_op_threads=options.threads,
            side_classes=options.side_classes,
        )

    return build


def _ultralytics(argument: str | None, options: DetectorOptions) -> Detector:
    import importlib.util

    from detect.ultralytics_backend import UltralyticsDetector, onnx_input_size_px

    weights = Path(argument or "")
    if importlib.util.find_spec("ultralytics") is None:
        raise DetectorChoiceError(
            f"detector 'ultralytics:{weights}' needs the optional ultralytics package and torch,"
            " which this Python environment lacks; scripts/setup_yolo.sh builds them into"
            " .venv-yolo (run skynet from an environment that has both)"
        )
    input_px = ULTRALYTICS_INPUT_PX
    if weights.suffix == ".onnx" and weights.is_file():
        input_px = onnx_input_size_px(weights) or ULTRALYTICS_INPUT_PX
    return UltralyticsDetector(
        weights, score_threshold=options.score_threshold, input_size_px=input_px
    )


DETECTOR_BACKENDS: dict[str, DetectorBackend] = {
    backend.name: backend
    for backend in (
        DetectorBackend("nanodet", _nanodet("nanodet"), summary="NanoDet-m 416, float"),
        DetectorBackend(
            "nanodet-int8", _nanodet("nanodet-int8"), summary="NanoDet-m, INT8 (the default)"
        ),
        DetectorBackend(
            "ultralytics", _ultralytics, argument="PATH", summary="user-supplied YOLO .pt/.onnx"
        ),
    )
}


def detector_choices() -> list[str]:
    """Every accepted form, e.g. ["nanodet", "nanodet-int8", "ultralytics:PATH"]."""
    return [backend.usage for backend in DETECTOR_BACKENDS.values()]


def parse_detector_name(name: str) -> tuple[DetectorBackend, str | None]:
    """The backend `name` selects and its argument; DetectorChoiceError naming the choices."""
    backend_name, colon, argument = name.partition(":")
    backend = DETECTOR_BACKENDS.get(backend_name)
    choices = ", ".join(detector_choices())
    if backend is None:
        raise DetectorChoiceError(f"unknown detector {name!r}; choose one of: {choices}")
    if backend.argument is None and colon:
        raise DetectorChoiceError(
            f"detector {backend.name!r} takes no argument, got {name!r}; choose one of: {choices}"
        )
    if backend.argument is not None and not argument:
        raise DetectorChoiceError(
            f"detector {backend.name!r} needs {backend.usage}, got {name!r};"
            f" choose one of: {choices}"
        )
    return backend, argument or None


def build_detector(name: str, options: DetectorOptions) -> Detector:
    """The detector `name` selects, built with `options`."""
    backend, argument = parse_detector_name(name)
    return backend.factory(argument, options)
