"""Ultralytics backend, proven in the optional .venv-yolo: untrained yolo11n as .pt and .onnx."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from detect.detections import COCO_CLASSES
from models.build import ensure_models

REPO = Path(__file__).resolve().parents[2]
YOLO_VENV = REPO / ".venv-yolo"
YOLO_PYTHON = YOLO_VENV / "bin" / "python"
SETUP_HINT = "run `bash scripts/setup_yolo.sh` (torch + ultralytics: about 6 GB, 2 to 3 minutes)"
STAMP = YOLO_VENV / ".skynet-yolo-installed"
CHECK_SCRIPT = REPO / "scripts" / "ultralytics_check.py"  # offline, run in .venv-yolo
CHECK_TIMEOUT_S = 300
FORMATS = ("pt", "onnx")
FRAMES = ("base", "padded", "doubled", "full")


def _boxes(record: dict[str, Any]) -> np.ndarray:
    return np.asarray(record["xyxy"], float).reshape(-1, 4)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    assert YOLO_PYTHON.exists(), f"{YOLO_VENV} is missing: {SETUP_HINT}"
    script = hashlib.sha256((REPO / "scripts" / "setup_yolo.sh").read_bytes()).hexdigest()
    stamp = STAMP.read_text().strip() if STAMP.exists() else "none"
    assert stamp == script, (
        f"{YOLO_VENV} is incomplete or older than scripts/setup_yolo.sh: {SETUP_HINT}"
    )
    image = ensure_models(None, ["asset-bus"])["asset-bus"]
    workdir = tmp_path_factory.mktemp("ultralytics")
    report_path = workdir / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PYTHONPATH"] = str(REPO)
    command = [str(YOLO_PYTHON), str(CHECK_SCRIPT), str(image), str(workdir)]
    proc = subprocess.run(
        [*command, str(report_path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=CHECK_TIMEOUT_S,
    )  # fmt: skip
    assert proc.returncode == 0, (
        f"check failed in {YOLO_VENV}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    loaded: dict[str, Any] = json.loads(report_path.read_text())
    return loaded


def test_main_product_never_imports_torch() -> None:
    probe = (
        "import sys, detect.registry, detect.ultralytics_backend, skynet.cli, skynet.runtime; "
        "print(sorted({'torch', 'ultralytics'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_adapter_without_the_extra_names_the_setup_script(tmp_path: Path) -> None:
    from detect.ultralytics_backend import UltralyticsDetector

    if importlib.util.find_spec("ultralytics") is not None:
        pytest.fail("ultralytics is installed in the main venv; it belongs in .venv-yolo only")
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"never read")
    with pytest.raises(ImportError, match=r"setup_yolo\.sh"):
        UltralyticsDetector(weights)


@pytest.mark.slow
def test_check_ran_offline_with_the_pinned_ultralytics(report: dict[str, Any]) -> None:
    assert report["versions"]["ultralytics"] == "8.4.190"
    assert report["network_events"] == [], "ultralytics tried to reach the network"
    assert report["weights_bytes"]["yolo11n.pt"] > 1_000_000
    assert report["weights_bytes"]["yolo11n.onnx"] > 1_000_000


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
def test_outputs_are_detections_in_source_pixels(report: dict[str, Any], fmt: str) -> None:
    backend = report["backends"][fmt]
    assert backend["output_type"] == "list"
    assert backend["empty_batch"] == 0
    for output in ("frames", "filtered"):
        for name in FRAMES:
            record = backend[output][name]
            assert record["type"] == "Detections", (output, name)
            assert record["dtypes"] == {
                "xyxy": "float32",
                "confidence": "float32",
                "class_id": "int64",
            }
            boxes = _boxes(record)
            n = len(boxes)
            # score_threshold=0 keeps every candidate up to the NMS cap: never empty, even untrained
            assert n > 0 and record["xyxy_shape"] == [n, 4]
            assert len(record["confidence"]) == n and len(record["class_id"]) == n
            h, w = record["frame_hw"]
            assert (boxes[:, 0] >= 0).all() and (boxes[:, 1] >= 0).all(), (output, name)
            assert (boxes[:, 2] <= w).all() and (boxes[:, 3] <= h).all(), (output, name)
            assert (boxes[:, 2] >= boxes[:, 0]).all() and (boxes[:, 3] >= boxes[:, 1]).all()
            assert all(0 <= c < len(COCO_CLASSES) for c in record["class_id"])
            conf = np.asarray(record["confidence"])
            assert ((conf >= 0) & (conf <= 1)).all()


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
def test_boxes_map_back_through_padding_and_scale(report: dict[str, Any], fmt: str) -> None:
    """Frames whose letterboxed inputs are identical must give boxes shifted or scaled exactly."""
    frames = report["backends"][fmt]["frames"]
    base, padded, doubled = (_boxes(frames[n]) for n in ("base", "padded", "doubled"))
    base_h, base_w = frames["base"]["frame_hw"]
    assert base_h != base_w, "the base frame must need letterbox padding"
    pad_x, pad_y = report["pad_px"]
    unpadded = padded - [pad_x, pad_y, pad_x, pad_y]
    unpadded[:, [0, 2]] = unpadded[:, [0, 2]].clip(0, base_w)
    unpadded[:, [1, 3]] = unpadded[:, [1, 3]].clip(0, base_h)
    assert padded.shape == base.shape and np.allclose(unpadded, base, atol=0.05)
    assert doubled.shape == base.shape and np.allclose(doubled, 2 * base, atol=0.05)
    full_h, full_w = frames["full"]["frame_hw"]
    assert max(full_h, full_w) > report["input_size_px"]
    full = _boxes(frames["full"])
    # boxes reach past the model input size: they are in source pixels, not letterbox pixels
    assert full[:, 3].max() > report["input_size_px"]


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
def test_class_filter_keeps_only_the_chosen_classes(report: dict[str, Any], fmt: str) -> None:
    backend = report["backends"][fmt]
    chosen = set(report["filter_class_ids"])
    for name in FRAMES:
        every = Counter(backend["frames"][name]["class_id"])
        kept = Counter(backend["filtered"][name]["class_id"])
        assert set(every) - chosen, (
            f"{name}: the untrained head should predict a class outside the filter"
        )
        assert set(kept) <= chosen and kept, name
        # NMS is per class: dropping other classes can only leave room for more of the chosen ones
        assert all(kept[c] >= every[c] for c in chosen), (name, every, kept)


@pytest.mark.slow
def test_pt_and_onnx_agree(report: dict[str, Any]) -> None:
    pt, onnx = (report["backends"][f]["frames"]["padded"] for f in FORMATS)
    assert Counter(pt["class_id"]) == Counter(onnx["class_id"])
    assert np.allclose(sorted(pt["confidence"]), sorted(onnx["confidence"]), atol=1e-5)
    rows = {f: np.column_stack([_boxes(r), r["class_id"]]) for f, r in (("pt", pt), ("onnx", onnx))}
    pt_rows, onnx_rows = (r[np.lexsort(r.T[::-1])] for r in rows.values())
    assert np.allclose(pt_rows, onnx_rows, atol=0.5)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
def test_the_registry_name_builds_the_same_detector(report: dict[str, Any], fmt: str) -> None:
    """`SKYNET_DETECTOR_MODEL=ultralytics:PATH` gives the adapter, no code change, no tiling."""
    built = report["registry"][fmt]
    assert built["type"] == "UltralyticsDetector"
    assert built["input_size_px"] == 640  # Ultralytics' default; the ONNX export's own size
    assert built["boxes"] > 0 and built["same_as_direct"]
    assert built["tiling_offered"] is False


@pytest.mark.slow
def test_bad_weights_and_frames_are_refused(report: dict[str, Any]) -> None:
    refused = report["refused"]
    assert "not COCO-80" in refused["unlabelled_pt"]
    assert "exported for 640 px" in refused["onnx_size_mismatch"]
    for fmt in FORMATS:
        assert "uint8" in report["backends"][fmt]["bad_frame"]


def test_adapter_refuses_bad_arguments_without_ultralytics(tmp_path: Path) -> None:
    from detect.ultralytics_backend import UltralyticsDetector

    with pytest.raises(ValueError, match=r"\.pt"):
        UltralyticsDetector(tmp_path / "weights.tflite")
    with pytest.raises(FileNotFoundError, match="not found"):
        UltralyticsDetector(tmp_path / "missing.pt")
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"not used")
    with pytest.raises(ValueError, match="score_threshold"):
        UltralyticsDetector(weights, score_threshold=1.5)
    with pytest.raises(ValueError, match="multiple of 32"):
        UltralyticsDetector(weights, input_size_px=500)
    with pytest.raises(ValueError, match="unknown class"):
        UltralyticsDetector(weights, classes=("unicorn",))
