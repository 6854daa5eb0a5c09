"""The detector registry: names → backends, the settings error for an unknown name, the shipped
NanoDet built from a name, a new backend added as an entry, and the runtime's detectors built
through it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from detect.detections import Detections
from detect.detector import NanoDetDetector, TiledDetector, TileGrid
from detect.registry import (
    DETECTOR_BACKENDS,
    DetectorBackend,
    DetectorChoiceError,
    DetectorOptions,
    build_detector,
    detector_choices,
    parse_detector_name,
)
from detect.violations import SIDE_CLASSES
from models.build import ensure_models
from models.registry import default_cache_dir, model_path
from skynet.runtime import pipeline_detector, query_detector
from skynet.settings import Settings

CHOICES = "nanodet, nanodet-int8, ultralytics:PATH"


@pytest.fixture(scope="module")
def models_dir() -> Path:
    cache = default_cache_dir().resolve()
    ensure_models(cache, ["nanodet", "nanodet-int8"])
    return cache


def test_choices_are_the_shipped_graphs_and_user_weights() -> None:
    assert detector_choices() == ["nanodet", "nanodet-int8", "ultralytics:PATH"]
    backend, argument = parse_detector_name("ultralytics:/models/best.pt")
    assert backend.name == "ultralytics" and argument == "/models/best.pt"
    assert parse_detector_name("nanodet-int8") == (DETECTOR_BACKENDS["nanodet-int8"], None)


@pytest.mark.parametrize(
    ("name", "cause"),
    [
        ("yolo", "unknown detector 'yolo'"),
        ("", "unknown detector ''"),
        ("nanodet:/x.onnx", "'nanodet' takes no argument"),
        ("ultralytics", "needs ultralytics:PATH"),
        ("ultralytics:", "needs ultralytics:PATH"),
    ],
)
def test_bad_names_are_refused_with_the_choices(name: str, cause: str) -> None:
    with pytest.raises(DetectorChoiceError) as error:
        parse_detector_name(name)
    assert cause in str(error.value) and CHOICES in str(error.value)


def test_settings_name_the_field_and_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKYNET_DETECTOR_MODEL", "yolov8")
    with pytest.raises(ValidationError) as error:
        Settings()
    (problem,) = error.value.errors()
    assert problem["loc"] == ("detector_model",)
    assert "unknown detector 'yolov8'" in problem["msg"] and CHOICES in problem["msg"]
    monkeypatch.setenv("SKYNET_DETECTOR_MODEL", "ultralytics:/srv/models/best.pt")
    assert Settings().detector_model == "ultralytics:/srv/models/best.pt"  # no code change


def test_a_nanodet_name_builds_the_verified_graph_with_the_options(models_dir: Path) -> None:
    options = DetectorOptions(models_dir, input_px=(448, 256), score_threshold=0.4, threads=2)
    detector = build_detector("nanodet-int8", options)
    assert isinstance(detector, NanoDetDetector)
    assert detector.settings.input_size == (448, 256)
    assert detector.settings.score_threshold == 0.4
    assert detector.settings.intra_op_threads == 2
    reference = NanoDetDetector(
        model_path("nanodet-int8", models_dir), (448, 256), score_threshold=0.4
    )
    frame = np.full((360, 640, 3), 90, np.uint8)
    frame[100:300, 280:330] = 30  # a dark upright block
    got, want = detector.detect([frame])[0], reference.detect([frame])[0]
    assert np.array_equal(got.xyxy, want.xyxy) and np.array_equal(got.class_id, want.class_id)
    assert isinstance(detector.tiled(TileGrid(2, 2)), TiledDetector)  # declares tiling


def test_ultralytics_without_its_environment_names_the_setup_script(tmp_path: Path) -> None:
    if importlib.util.find_spec("ultralytics") is not None:
        pytest.fail("ultralytics is installed in the main venv; it belongs in .venv-yolo only")
    weights = tmp_path / "best.pt"
    weights.write_bytes(b"never read")
    with pytest.raises(DetectorChoiceError, match=r"ultralytics.*setup_yolo\.sh"):
        build_detector(f"ultralytics:{weights}", DetectorOptions(tmp_path))


class EchoDetector:
    """A stand-in backend: finds nothing, remembers how it was built."""

    def __init__(self, argument: str | None, options: DetectorOptions) -> None:
        self.argument = argument
        self.options = options

    def detect(self, frames: list[np.ndarray]) -> list[Detections]:
        return [Detections.empty() for _ in frames]

    def tiled(self, grid: TileGrid) -> None:
        return None


def test_a_new_backend_is_one_entry_and_the_runtime_builds_through_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    entry = DetectorBackend("echo", EchoDetector, argument="WORD", summary="test double")
    monkeypatch.setitem(DETECTOR_BACKENDS, "echo", entry)
    assert "echo:WORD" in detector_choices()
    settings = Settings(
        data_dir=tmp_path, models_dir=tmp_path, detector_model="echo:hello",
        detector_input_px=(320, 192), detector_score_threshold=0.5, detector_threads=3,
    )  # fmt: skip
    live = pipeline_detector(settings)
    assert isinstance(live, EchoDetector) and live.argument == "hello"
    # the live detector also decodes the zone rules' stall proxies (#13), untracked
    assert live.options == DetectorOptions(tmp_path, (320, 192), 0.5, 3, SIDE_CLASSES)
    plain = pipeline_detector(settings, (416, 416))
    assert isinstance(plain, EchoDetector) and plain.options.input_px == (416, 416)
    query = query_detector(settings)
    assert isinstance(query, EchoDetector)
    assert query.options == DetectorOptions(tmp_path)  # square any-aspect input, one thread
