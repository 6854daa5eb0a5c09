"""Appearance embeddings of crops: MobileNetV2 (ImageNet) stripe features + CIELAB colour, on ORT.

Deep part: the trunk's last inverted-residual output (features.17, 320 linear channels at stride
32, an 8×4 map for a 256×128 input) is average-pooled over `stripes` horizontal bands
(head/shoulders … legs, as in part-based re-ID), each band L2-normalised, concatenated and
normalised again, so the deep cosine is the mean of the per-band cosines. With 4 stripes that is
4 × 320 = 1280 floats. Colour part: `detect.lab_colour` (192 floats, upper/lower-body Lab grid).

The combined vector is `concat(deep_weight · deep, colour_weight · colour)` where both parts are
L2-normalised and `deep_weight² + colour_weight² = 1`, so the result is unit length again and its
cosine similarity is `deep_weight² · cos_deep + colour_weight² · cos_colour`.

Measured on vtest (bench/search_quality.py, rank-1 / mAP with every track of the query's person
relevant: 13 headline queries, then 128 secondary queries; and the 88 short-gap pairs of
tests/data/vtest_pairs.json, same-person-nearer rate):
deep part alone                       0.923 / 0.919, 0.812 / 0.833, pairs 0.984;
v2, HSV colour (`detect.colour`) 0.3  0.923 / 0.929, 0.797 / 0.850, pairs 0.995;
v3, Lab colour at colour_share 0.5    1.000 / 1.000, 0.844 / 0.884, pairs 1.000;
v3 on the INT8 trunk (the default)    0.923 / 0.962, 0.836 / 0.883, pairs 1.000.
These are tune figures (≈ 700 variants were chosen on them). On the held-out split of issue #16
(bench/reid_split.py: other persons, later frames) v3 scores 0.957 / 0.958 with one-crop queries
and 1.000 / 0.986 with track queries (5 persons, so wide intervals; BENCHMARKS.md).
From colour_share 0.2 to 0.7 the float secondary set stays above deep-only (best at 0.45-0.5); the
headline's 13th query (a frontal view of a man whose look-alike's track is in the gallery) is won
by 0.002 only at 0.45-0.5: headline rank-1 is 12/13 at 0.2-0.4 and 0.6, 11/13 at 0.7.
Also measured (for v2 or v3), none better: input 288×144 … 384×192, flip averaging, GeM,
max and signed-sqrt pooling, 3/6/8 stripes (within noise on the secondary set); a head colour
slot (worse).

The trunk is the `embedder_model` setting: the float `mobilenetv2-embedder` (default; the figures
above) or `mobilenetv2-embedder-int8` (4.9 instead of 7.2 ms of CPU per crop; combined 0.923 /
0.962 headline, 0.836 / 0.883 secondary; its deep part alone 1.000 / 0.947, 0.789 / 0.827 — on the
INT8 trunk colour + deep no longer wins the headline rank-1, so it is not the default). A model's
ONNX metadata entry `deep_model_version` names its vector space, so `embedding_version` differs
between the two.

With a learned re-ID metric (`detect.reid_metric`, issue #16) the combined vector is projected
into the metric's space: `dim` and `embedding_version` become the metric's, so its vectors live in
their own index. `AppearanceEmbedder.from_settings` builds the embedder every caller shares.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import onnxruntime as ort

from detect.colour import check_crop
from detect.detections import VEHICLE_CLASSES
from detect.lab_colour import LAB_COLOUR_DIM, LAB_COLOUR_VERSION, lab_colour_descriptors
from detect.reid_calibration import Calibration, base_calibration
from detect.reid_metric import ReidMetric, load_metric
from models.registry import DEEP_MODEL_VERSION, DEEP_MODEL_VERSION_KEY, model_path

IMAGENET_MEAN_RGB = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD_RGB = np.array([0.229, 0.224, 0.225], np.float32)
BOTTLENECK_OUTPUT = "bottleneck"
BOTTLENECK_CHANNELS = 320
STRIDE_PX = 32
DEFAULT_STRIPES = 4
DEEP_DIM = BOTTLENECK_CHANNELS * DEFAULT_STRIPES  # deep floats with the default config
EMBEDDING_FORMAT_VERSION = "v3"
METRIC_NAME_SEPARATOR = "+reid:"  # "mobilenetv2-embedder+reid:<metric id>"
VECTOR_DIM = DEEP_DIM + LAB_COLOUR_DIM  # combined floats with the default config


@dataclass(frozen=True)
class EmbedderConfig:
    """How crops become vectors; any change here changes `embedding_version`.

    `colour_share` is colour_weight² (the colour part's share of the cosine similarity);
    `stripes` is the number of horizontal bands the deep feature map is pooled over.
    """

    input_height_px: int = 256
    input_width_px: int = 128
    colour_share: float = 0.5
    stripes: int = DEFAULT_STRIPES
    max_batch: int = 16

    def __post_init__(self) -> None:
        if self.input_height_px % 32 or self.input_width_px % 32 or self.input_width_px <= 0:
            raise ValueError(
                f"input size must be a positive multiple of 32 px, got "
                f"{self.input_height_px}×{self.input_width_px}"
            )
        if not 0.0 <= self.colour_share <= 1.0:
            raise ValueError(f"colour_share must be in [0, 1], got {self.colour_share}")
        if not 1 <= self.stripes <= self.input_height_px // STRIDE_PX:
            raise ValueError(
                f"stripes must be in [1, {self.input_height_px // STRIDE_PX}] (feature-map rows"
                f" at {self.input_height_px} px input), got {self.stripes}"
            )
        if self.max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {self.max_batch}")

    @property
    def deep_weight(self) -> float:
        return math.sqrt(1.0 - self.colour_share)

    @property
    def colour_weight(self) -> float:
        return math.sqrt(self.colour_share)


def _l2_normalise(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    return (rows / np.maximum(norms, 1e-12)).astype(np.float32)


def preprocess_crop(crop: np.ndarray, config: EmbedderConfig) -> np.ndarray:
    """3×H×W float32 model input of one BGR uint8 crop: resized, RGB, ImageNet-normalised."""
    size = (config.input_width_px, config.input_height_px)
    resized = cv2.resize(crop, size, interpolation=cv2.INTER_LINEAR)
    rgb = resized[:, :, ::-1].astype(np.float32) / 255.0
    return ((rgb - IMAGENET_MEAN_RGB) / IMAGENET_STD_RGB).transpose(2, 0, 1)


def stripe_features(feature_map: np.ndarray, stripes: int) -> np.ndarray:
    """N×(C·stripes) unit rows: N×C×H×W map average-pooled over `stripes` horizontal bands.

    Each band's C-vector is L2-normalised before concatenation, so every band weighs the same.
    """
    if feature_map.ndim != 4 or not 1 <= stripes <= feature_map.shape[2]:
        raise ValueError(f"cannot pool a {feature_map.shape} map into {stripes} stripes")
    edges = np.linspace(0, feature_map.shape[2], stripes + 1).round().astype(int)
    bands = np.stack(
        [feature_map[:, :, a:b].mean(axis=(2, 3)) for a, b in itertools.pairwise(edges)],
        axis=1,
    )
    return _l2_normalise(_l2_normalise(bands).reshape(len(feature_map), -1))


class EmbedderSettings(Protocol):
    """The settings fields the embedder reads (skynet.settings.Settings has them)."""

    @property
    def embedder_model(self) -> str: ...
    @property
    def models_dir(self) -> Path: ...
    @property
    def reid_metric_path(self) -> Path | None: ...


class AppearanceEmbedder:
    """Embeds BGR uint8 crops into unit vectors of `dim` floats with one batched ORT call."""

    def __init__(
        self,
        model_path: Path,
        config: EmbedderConfig | None = None,
        intra_op_threads: int = 1,
        metric: ReidMetric | None = None,
    ) -> None:
        if not Path(model_path).is_file():
            raise FileNotFoundError(
                f"embedder model {model_path} does not exist; build it with "
                "`python -m models.build mobilenetv2-embedder`"
            )
        self.config = config or EmbedderConfig()
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        # Idle ORT threads must sleep, not spin: spinning doubled detection CPU on 2 cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(
            str(model_path), options, providers=["CPUExecutionProvider"]
        )
        self._input_name = self._session.get_inputs()[0].name
        outputs = {o.name: o.shape for o in self._session.get_outputs()}
        shape = outputs.get(BOTTLENECK_OUTPUT)
        if shape is None or len(shape) != 4 or shape[1] != BOTTLENECK_CHANNELS:
            raise ValueError(
                f"{model_path} has no [N, {BOTTLENECK_CHANNELS}, H, W] output "
                f"{BOTTLENECK_OUTPUT!r} (outputs: {outputs}); rebuild it with "
                "`python -m models.build --rebuild mobilenetv2-embedder`"
            )
        metadata = self._session.get_modelmeta().custom_metadata_map
        self.deep_model_version = metadata.get(DEEP_MODEL_VERSION_KEY, DEEP_MODEL_VERSION)
        if metric is not None:
            metric.check_base(self.base_embedding_version, self.base_dim)
        self.metric = metric
        self.calibration: Calibration | None = (
            base_calibration(self.base_embedding_version) if metric is None else metric.calibration
        )
        # Vehicles' own mapping (issue #16 part 5); fitted on base vectors only.
        self.vehicle_calibration: Calibration | None = (
            base_calibration(self.base_embedding_version, vehicles=True) if metric is None else None
        )

    def calibration_for(self, class_name: str) -> Calibration | None:
        """The score → confidence mapping of hits of this class (None: not calibrated)."""
        if class_name == "person":
            return self.calibration
        return self.vehicle_calibration if class_name in VEHICLE_CLASSES else None

    @classmethod
    def from_settings(
        cls, settings: EmbedderSettings, intra_op_threads: int = 1
    ) -> AppearanceEmbedder:
        """The embedder search and indexing use: the configured trunk and learned metric.

        A metric file learned on another embedding version or dimension is refused here (at
        start-up), never mixed silently into this vector space."""
        metric_file = settings.reid_metric_path
        return cls(
            model_path(settings.embedder_model, settings.models_dir),
            intra_op_threads=intra_op_threads,
            metric=None if metric_file is None else load_metric(Path(metric_file)),
        )

    @classmethod
    def from_name(
        cls, name: str, models_dir: Path, intra_op_threads: int = 1
    ) -> AppearanceEmbedder:
        """An embedder by name: a manifest name, or `<manifest>+reid:<metric id>` for that
        trunk through the metric file `reid_metric-<id>.npz` in `models_dir` (how a re-index
        job can name a learned metric's embedding version)."""
        manifest, _, metric_id = name.partition(METRIC_NAME_SEPARATOR)
        metric = None
        if metric_id:
            if not metric_id.isalnum():
                raise ValueError(f"embedder {name!r}: a metric id is hex digits, got {metric_id!r}")
            metric = load_metric(Path(models_dir) / f"reid_metric-{metric_id}.npz")
        return cls(
            model_path(manifest, models_dir), intra_op_threads=intra_op_threads, metric=metric
        )

    @property
    def name_suffix(self) -> str:
        """What `from_name` appends to the manifest name for this embedder's metric."""
        return "" if self.metric is None else f"{METRIC_NAME_SEPARATOR}{self.metric.metric_id}"

    @property
    def deep_dim(self) -> int:
        return BOTTLENECK_CHANNELS * self.config.stripes

    @property
    def base_dim(self) -> int:
        """Floats of the vector before any learned metric."""
        return self.deep_dim + LAB_COLOUR_DIM

    @property
    def dim(self) -> int:
        return self.base_dim if self.metric is None else self.metric.dim

    @property
    def embedding_version(self) -> str:
        if self.metric is not None:
            return self.metric.embedding_version()
        return self.base_embedding_version

    @property
    def base_embedding_version(self) -> str:
        """The version of vectors before any learned metric (what a metric is learned on)."""
        c = self.config
        return (
            f"{self.deep_model_version}x{c.stripes}stripes@{c.input_height_px}x{c.input_width_px}"
            f"+{LAB_COLOUR_VERSION}:colour{c.colour_share:.2f}-{EMBEDDING_FORMAT_VERSION}"
        )

    def embed_deep(self, crops: list[np.ndarray]) -> np.ndarray:
        """N×`deep_dim` unit rows: MobileNetV2 stripe features of BGR uint8 crops."""
        for index, crop in enumerate(crops):
            try:
                check_crop(crop)
            except ValueError as exc:
                raise ValueError(f"crop {index}: {exc}") from None
        if not crops:
            return np.zeros((0, self.deep_dim), np.float32)
        batch = np.stack([preprocess_crop(c, self.config) for c in crops]).astype(np.float32)
        step = self.config.max_batch
        parts = [
            self._session.run([BOTTLENECK_OUTPUT], {self._input_name: batch[i : i + step]})[0]
            for i in range(0, len(batch), step)
        ]
        return stripe_features(np.concatenate(parts), self.config.stripes)

    def embed(self, crops: list[np.ndarray], class_names: list[str]) -> np.ndarray:
        """N×`dim` float32 unit vectors: the base vectors, through the learned metric if any."""
        base = self.embed_base(crops, class_names)
        return base if self.metric is None else self.metric.project(base)

    def embed_base(self, crops: list[np.ndarray], class_names: list[str]) -> np.ndarray:
        """N×`base_dim` float32 unit vectors: weighted concat of deep and colour parts."""
        if not isinstance(crops, list | tuple):
            raise ValueError(f"crops must be a list of images, got {type(crops).__name__}")
        if len(crops) != len(class_names):
            raise ValueError(f"{len(crops)} crops but {len(class_names)} class names")
        deep = self.embed_deep(list(crops))
        colour = lab_colour_descriptors(list(crops), list(class_names))
        combined = np.concatenate(
            [self.config.deep_weight * deep, self.config.colour_weight * colour], axis=1
        )
        return _l2_normalise(combined)
