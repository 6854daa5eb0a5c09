"""Appearance embedder: torch-free MobileNetV2 conversion, colour descriptors, re-ID quality."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from bench.search_quality import average_precision, load_benchmark
from detect.colour import COLOUR_DIM, REGION_BINS, colour_descriptor
from detect.embedder import (
    DEEP_DIM,
    VECTOR_DIM,
    AppearanceEmbedder,
    EmbedderConfig,
    stripe_features,
)
from detect.lab_colour import (
    LAB_COLOUR_DIM,
    LAB_REGION_BINS,
    lab_colour_descriptor,
    lab_colour_descriptors,
)
from models.build import ensure_models, fetch_source
from models.embedder_export import (
    BN_EPS,
    BOTTLENECK_CHANNELS,
    EMBEDDING_DIM,
    CheckpointError,
    convert,
    load_state_dict,
)
from models.registry import DEEP_MODEL_VERSION, default_cache_dir, load_manifest

DATA_DIR = Path(__file__).parents[1] / "data"
MODEL_NAME = "mobilenetv2-embedder"
INT8_MODEL_NAME = "mobilenetv2-embedder-int8"


@pytest.fixture(scope="module")
def model_file() -> Path:
    return ensure_models(default_cache_dir().resolve(), [MODEL_NAME])[MODEL_NAME]


@pytest.fixture(scope="module")
def embedder(model_file: Path) -> AppearanceEmbedder:
    return AppearanceEmbedder(model_file)


@pytest.fixture(scope="module")
def int8_embedder() -> AppearanceEmbedder:
    path = ensure_models(default_cache_dir().resolve(), [INT8_MODEL_NAME])[INT8_MODEL_NAME]
    return AppearanceEmbedder(path)


@pytest.fixture(scope="module")
def vtest_pairs() -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Crops A (frame k), B (frame k+3) of the hand-checked pairs and the frame of each pair."""
    doc = json.loads((DATA_DIR / "vtest_pairs.json").read_text())
    video = Path(doc["video"])
    if not video.is_file():
        pytest.fail(f"{video} is missing: install the Debian package opencv-doc")
    wanted = {p["frame_a"] for p in doc["pairs"]} | {p["frame_b"] for p in doc["pairs"]}
    frames: dict[int, np.ndarray] = {}
    capture = cv2.VideoCapture(str(video))
    index = 0
    while index <= max(wanted):
        ok, frame = capture.read()
        if not ok:
            break
        if index in wanted:
            frames[index] = frame
        index += 1
    capture.release()

    def crop(frame: int, box: list[int]) -> np.ndarray:
        return frames[frame][box[1] : box[3], box[0] : box[2]]

    crops_a = [crop(p["frame_a"], p["box_a"]) for p in doc["pairs"]]
    crops_b = [crop(p["frame_b"], p["box_b"]) for p in doc["pairs"]]
    return crops_a, crops_b, np.array([p["frame_a"] for p in doc["pairs"]])


def same_person_rate(emb_a: np.ndarray, emb_b: np.ndarray, frame_of_pair: np.ndarray) -> float:
    """Share of (person i, other person j in the same frame) cases where B_i is nearer A_i."""
    return same_person_rate_of(emb_a @ emb_b.T, frame_of_pair)


def same_person_rate_of(sims: np.ndarray, frame_of_pair: np.ndarray) -> float:
    """`same_person_rate` from the A×B similarity matrix."""
    wins = total = 0
    for i in range(len(frame_of_pair)):
        for j in np.flatnonzero(frame_of_pair == frame_of_pair[i]):
            if j != i:
                total += 1
                wins += int(sims[i, i] > sims[i, j])
    assert total > 100, "too few same-frame distractors in the label file"
    return wins / total


def test_checkpoint_reads_without_torch() -> None:
    entry = load_manifest()[MODEL_NAME]
    (pt_file,) = fetch_source(entry, default_cache_dir().resolve())
    weights = load_state_dict(pt_file)
    assert len(weights) == 312  # 52 convs + 52 batch norms × 5 tensors
    assert weights["features.0.0.weight"].shape == (32, 3, 3, 3)
    assert weights["features.18.0.weight"].shape == (1280, 320, 1, 1)
    assert weights["features.0.1.running_var"].dtype == np.float32
    assert np.all(weights["features.0.1.running_var"] > 0)


def test_conversion_matches_torch_reference(model_file: Path) -> None:
    ref = json.loads((DATA_DIR / "mobilenetv2_reference.json").read_text())
    _, c, h, w = ref["input_shape"]
    cc, hh, ww = np.meshgrid(np.arange(c), np.arange(h), np.arange(w), indexing="ij")
    x = (2.0 * np.sin(0.05 * hh + 0.11 * ww + 1.3 * cc)).astype(np.float32)[None]
    session = ort.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
    out, bottleneck = session.run(["embedding", "bottleneck"], {"image": x})
    expected = np.array(ref["embedding"], np.float32)
    assert out.shape == (1, EMBEDDING_DIM)
    assert float(np.abs(out[0] - expected).max()) < 1e-3
    # The bottleneck map (what the embedder pools) must lead to the torch output through the
    # checkpoint's last layer (1×1 conv + batch norm + ReLU6 + global average pool) in numpy.
    assert bottleneck.shape == (1, BOTTLENECK_CHANNELS, h // 32, w // 32)
    weights = load_state_dict(
        fetch_source(load_manifest()[MODEL_NAME], default_cache_dir().resolve())[0]
    )
    conv = weights["features.18.0.weight"][:, :, 0, 0]
    scale = weights["features.18.1.weight"] / np.sqrt(weights["features.18.1.running_var"] + BN_EPS)
    shift = weights["features.18.1.bias"] - weights["features.18.1.running_mean"] * scale
    pre = np.einsum("oc,chw->ohw", conv, bottleneck[0]) * scale[:, None, None]
    from_bottleneck = np.clip(pre + shift[:, None, None], 0.0, 6.0).mean(axis=(1, 2))
    assert float(np.abs(from_bottleneck - expected).max()) < 1e-3


def test_conversion_is_deterministic(model_file: Path, tmp_path: Path) -> None:
    entry = load_manifest()[MODEL_NAME]
    sources = fetch_source(entry, default_cache_dir().resolve())
    convert(sources, tmp_path / "again.onnx")
    assert (tmp_path / "again.onnx").read_bytes() == model_file.read_bytes()


def test_non_checkpoint_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x80\x02K\x05.")  # a pickle of the int 5, not a checkpoint
    with pytest.raises(CheckpointError, match="legacy checkpoint"):
        load_state_dict(bad)


def test_colour_descriptor_layout() -> None:
    red_top_blue_bottom = np.zeros((100, 40, 3), np.uint8)
    red_top_blue_bottom[:50] = (0, 0, 220)
    red_top_blue_bottom[50:] = (220, 0, 0)
    person = colour_descriptor(red_top_blue_bottom, "person")
    car = colour_descriptor(red_top_blue_bottom, "car")
    assert person.shape == car.shape == (COLOUR_DIM,)
    assert np.isclose(np.linalg.norm(person), 1.0) and np.isclose(np.linalg.norm(car), 1.0)
    assert np.all(car[: 2 * REGION_BINS] == 0) and np.all(person[2 * REGION_BINS :] == 0)
    upper, lower = person[:REGION_BINS], person[REGION_BINS : 2 * REGION_BINS]
    assert np.argmax(upper) != np.argmax(lower)  # red and blue land in different hue bins
    assert float(person @ car) == 0.0
    swapped = colour_descriptor(red_top_blue_bottom[::-1].copy(), "person")
    assert float(person @ swapped) < 0.1


def test_lab_colour_descriptor_layout() -> None:
    red_top_blue_bottom = np.zeros((100, 40, 3), np.uint8)
    red_top_blue_bottom[:50] = (0, 0, 220)
    red_top_blue_bottom[50:] = (220, 0, 0)
    person = lab_colour_descriptor(red_top_blue_bottom, "person")
    car = lab_colour_descriptor(red_top_blue_bottom, "car")
    assert person.shape == car.shape == (LAB_COLOUR_DIM,)
    assert np.isclose(np.linalg.norm(person), 1.0) and np.isclose(np.linalg.norm(car), 1.0)
    assert np.all(car[: 2 * LAB_REGION_BINS] == 0) and np.all(person[2 * LAB_REGION_BINS :] == 0)
    upper, lower = person[:LAB_REGION_BINS], person[LAB_REGION_BINS : 2 * LAB_REGION_BINS]
    assert np.argmax(upper) != np.argmax(lower)
    assert float(person @ car) == 0.0
    swapped = lab_colour_descriptor(red_top_blue_bottom[::-1].copy(), "person")
    assert float(person @ swapped) < 0.1


def test_lab_colour_separates_dark_tints_that_hsv_lumps() -> None:
    navy = np.full((100, 40, 3), (45, 30, 28), np.uint8)  # BGR, value 45: grey bins in HSV
    brown = np.full((100, 40, 3), (28, 32, 45), np.uint8)
    hsv_similarity = float(colour_descriptor(navy, "person") @ colour_descriptor(brown, "person"))
    lab_similarity = float(
        lab_colour_descriptor(navy, "person") @ lab_colour_descriptor(brown, "person")
    )
    assert hsv_similarity > 0.99
    assert lab_similarity < 0.01  # b* < 0 and b* > 0 fall either side of the neutral edge
    assert lab_colour_descriptors([], []).shape == (0, LAB_COLOUR_DIM)


def test_embed_shapes_and_version(
    embedder: AppearanceEmbedder, model_file: Path, vtest_pairs: tuple
) -> None:
    crops_a, _, _ = vtest_pairs
    out = embedder.embed(crops_a[:5], ["person"] * 5)
    assert out.shape == (5, embedder.dim) and out.dtype == np.float32
    assert embedder.dim == DEEP_DIM + LAB_COLOUR_DIM == VECTOR_DIM
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([], []).shape == (0, embedder.dim)
    other = AppearanceEmbedder(model_file, EmbedderConfig(colour_share=0.6))
    assert other.embedding_version != embedder.embedding_version
    two_stripes = AppearanceEmbedder(model_file, EmbedderConfig(stripes=2))
    assert two_stripes.embedding_version != embedder.embedding_version
    assert two_stripes.embed(crops_a[:2], ["person"] * 2).shape == (2, 2 * 320 + LAB_COLOUR_DIM)
    batch_of_one = embedder.embed(crops_a[:1], ["person"])
    assert np.allclose(batch_of_one[0], out[0], atol=1e-5)


def test_stripe_features_pool_horizontal_bands() -> None:
    feature_map = np.zeros((1, 3, 8, 4), np.float32)
    feature_map[0, 0, :4] = 1.0  # channel 0 lights the top half, channel 1 the bottom half
    feature_map[0, 1, 4:] = 2.0
    rows = stripe_features(feature_map, 2)
    assert rows.shape == (1, 6)
    assert np.allclose(rows[0], np.array([1, 0, 0, 0, 1, 0]) / np.sqrt(2))
    flipped = stripe_features(feature_map[:, :, ::-1].copy(), 2)
    assert float(rows[0] @ flipped[0]) == 0.0  # same global pool, different layout
    with pytest.raises(ValueError, match="stripes"):
        stripe_features(feature_map, 9)
    with pytest.raises(ValueError, match="stripes"):
        EmbedderConfig(stripes=9)


@pytest.mark.parametrize(
    ("crop", "cause"),
    [
        (np.zeros((0, 10, 3), np.uint8), "empty"),
        (np.zeros((40, 20, 3), np.float32), "dtype"),
        (np.zeros((40, 20), np.uint8), "shape"),
        (np.zeros((40, 20, 4), np.uint8), "shape"),
    ],
)
def test_bad_crops_are_refused(embedder: AppearanceEmbedder, crop: np.ndarray, cause: str) -> None:
    with pytest.raises(ValueError, match=cause):
        embedder.embed([np.zeros((40, 20, 3), np.uint8), crop], ["person", "person"])


def test_mismatched_class_names_are_refused(embedder: AppearanceEmbedder) -> None:
    with pytest.raises(ValueError, match="class names"):
        embedder.embed([np.zeros((40, 20, 3), np.uint8)], [])


def test_same_person_is_nearest(embedder: AppearanceEmbedder, vtest_pairs: tuple) -> None:
    crops_a, crops_b, frame_of_pair = vtest_pairs
    names = ["person"] * len(crops_a)
    combined = same_person_rate(
        embedder.embed(crops_a, names), embedder.embed(crops_b, names), frame_of_pair
    )
    deep = same_person_rate(
        embedder.embed_deep(crops_a), embedder.embed_deep(crops_b), frame_of_pair
    )
    colour = same_person_rate(
        lab_colour_descriptors(crops_a, names),
        lab_colour_descriptors(crops_b, names),
        frame_of_pair,
    )
    print(f"same-person rate: combined {combined:.3f} deep {deep:.3f} colour {colour:.3f}")
    # Measured: combined 1.000, deep 0.984, Lab colour 1.000 (v2 with HSV colour: 0.995).
    assert combined >= 0.95
    assert deep >= 0.95
    assert combined >= deep


def test_average_precision_counts_every_track_of_the_person() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.7])
    assert average_precision(scores, np.array([True, False, False, False])) == (1.0, True)
    ap, hit = average_precision(scores, np.array([False, True, False, True]))
    assert not hit and np.isclose(ap, (1 / 2 + 2 / 4) / 2)
    ap, _ = average_precision(scores, np.array([False, False, True, False]))
    assert np.isclose(ap, 1 / 4)  # a tie is resolved against the query


@pytest.mark.slow
def test_combined_beats_deep_only_on_vtest_reid(embedder: AppearanceEmbedder) -> None:
    """Issue #6: later crops find the person's track at rank 1 in ≥ 80 % of queries, and the
    colour + deep embedding beats its deep part alone (bench/search_quality.py sets)."""
    bench = load_benchmark()
    combined = bench.measure(embedder.embed(bench.crops, ["person"] * len(bench.crops)))
    deep = bench.measure(embedder.embed_deep(bench.crops))
    print(f"rank-1 / mAP: combined {combined}, deep {deep}")
    # Measured: headline 1.000 / 1.000 vs 0.923 / 0.919; secondary 0.844 / 0.884 vs 0.812 / 0.833.
    assert combined["headline"][0] >= 0.8
    for part in ("headline", "secondary"):
        assert combined[part][0] >= deep[part][0]
        assert combined[part][1] > deep[part][1]


def nearest_agreement(sims_a: np.ndarray, sims_b: np.ndarray, frame_of_pair: np.ndarray) -> float:
    """Share of crops A_i whose nearest same-frame crop B_j is the same under both similarities."""
    same = [
        np.argmax(sims_a[i, frame_of_pair == frame]) == np.argmax(sims_b[i, frame_of_pair == frame])
        for i, frame in enumerate(frame_of_pair)
    ]
    return float(np.mean(same))


def order_agreement(sims_a: np.ndarray, sims_b: np.ndarray, frame_of_pair: np.ndarray) -> float:
    """Share of (A_i, B_j, B_k) same-frame triples that both similarities order alike."""
    agree = total = 0
    for i, frame in enumerate(frame_of_pair):
        a, b = sims_a[i, frame_of_pair == frame], sims_b[i, frame_of_pair == frame]
        upper = np.triu_indices(len(a), 1)
        signs = (a[:, None] - a[None, :])[upper] * (b[:, None] - b[None, :])[upper]
        agree, total = agree + int((signs > 0).sum()), total + len(signs)
    return agree / total


@pytest.mark.slow
def test_int8_embedder_keeps_same_person_nearest_and_float_rankings(
    embedder: AppearanceEmbedder, int8_embedder: AppearanceEmbedder, vtest_pairs: tuple
) -> None:
    """Issue #4: the INT8 trunk keeps the short-gap property (≥ 80 %) and the float rankings."""
    crops_a, crops_b, frame_of_pair = vtest_pairs
    names = ["person"] * len(crops_a)
    sims = {}
    for label, model in (("float", embedder), ("int8", int8_embedder)):
        sims[label] = model.embed(crops_a, names) @ model.embed(crops_b, names).T
        sims[label + " deep"] = model.embed_deep(crops_a) @ model.embed_deep(crops_b).T
    rate = {label: same_person_rate_of(s, frame_of_pair) for label, s in sims.items()}
    nearest = nearest_agreement(sims["float"], sims["int8"], frame_of_pair)
    order = order_agreement(sims["float"], sims["int8"], frame_of_pair)
    deep_order = order_agreement(sims["float deep"], sims["int8 deep"], frame_of_pair)
    print(f"same-person rate {rate}; nearest agree {nearest:.3f}, order agree {order:.3f}"
          f" (deep {deep_order:.3f})")  # fmt: skip
    # Measured: int8 1.000 (deep 0.995); nearest 1.000, order 0.984 (deep 0.944).
    assert rate["int8"] >= 0.95 and rate["int8 deep"] >= 0.95
    assert nearest >= 0.95
    assert order >= 0.9 and deep_order >= 0.85
    assert int8_embedder.dim == embedder.dim
    assert int8_embedder.deep_model_version == f"{DEEP_MODEL_VERSION}-int8"
    assert int8_embedder.embedding_version != embedder.embedding_version


@pytest.mark.slow
def test_int8_embedder_keeps_vtest_reid_quality(
    embedder: AppearanceEmbedder, int8_embedder: AppearanceEmbedder
) -> None:
    """The INT8 default's bar (issue #4): headline rank-1 ≥ 0.92; secondary rank-1 and mAP
    within 0.01 of the float embedder's (bench/search_quality.py sets)."""
    bench = load_benchmark()
    names = ["person"] * len(bench.crops)
    float_result = bench.measure(embedder.embed(bench.crops, names))
    int8_result = bench.measure(int8_embedder.embed(bench.crops, names))
    print(f"rank-1 / mAP: float {float_result}, int8 {int8_result}")
    # Measured: headline 0.923 / 0.962 (float 1.000 / 1.000); secondary 0.836 / 0.883 (float
    # 0.844 / 0.884): one headline and one secondary query lost.
    assert int8_result["headline"][0] >= 0.92
    float_rank1, float_map = float_result["secondary"]
    int8_rank1, int8_map = int8_result["secondary"]
    assert int8_rank1 >= float_rank1 - 0.01 and int8_map >= float_map - 0.01
