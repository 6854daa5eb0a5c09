"""Converter "tfjs_onnx": TF.js graph model (model.json + weight shards) -> ONNX (numpy + onnx)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from models.onnx_ops import (
    HANDLERS,
    OnnxBuilder,
    UnsupportedOpError,
    Value,
    fold_constant,
)
from models.tf_node import TfNode

INPUT_NAME = "images"
NUM_CLASSES = 80
OPSET = 17
IR_VERSION = 8

_DTYPES: dict[str, type[np.generic]] = {
    "float32": np.float32,
    "float16": np.float16,
    "int32": np.int32,
    "uint8": np.uint8,
    "uint16": np.uint16,
    "bool": np.bool_,
}


@dataclass
class TfGraph:
    """A TF.js graph: nodes in file order, constants by name, graph inputs and outputs."""

    nodes: list[TfNode]
    consts: dict[str, np.ndarray]
    inputs: list[str]
    outputs: list[str]


def _read_weights(manifest: list[dict[str, Any]], bin_dir: Path) -> dict[str, np.ndarray]:
    consts: dict[str, np.ndarray] = {}
    for group in manifest:
        buf = b"".join((bin_dir / p).read_bytes() for p in group["paths"])
        offset = 0
        for spec in group["weights"]:
            shape = [int(s) for s in spec["shape"]]
            count = int(np.prod(shape)) if shape else 1
            quant = spec.get("quantization")
            stored = np.dtype(_DTYPES[quant["dtype"] if quant else spec["dtype"]])
            raw = np.frombuffer(buf, stored, count, offset)
            offset += count * stored.itemsize
            if quant and "scale" in quant:
                raw = raw.astype(np.float32) * quant["scale"] + quant["min"]
            consts[spec["name"]] = raw.astype(_DTYPES[spec["dtype"]]).reshape(shape)
        if offset != len(buf):
            raise ValueError(f"weight shard size {len(buf)} != {offset} bytes named by manifest")
    return consts


def load_tfjs_graph(json_path: Path, weight_files: list[Path] | None = None) -> TfGraph:
    """Parse `model.json`; weight shards are read from its directory (or `weight_files`' dir)."""
    model = json.loads(json_path.read_text())
    if model.get("format") != "graph-model":
        raise ValueError(f"{json_path} is not a TF.js graph model (format {model.get('format')!r})")
    bin_dir = weight_files[0].parent if weight_files else json_path.parent
    consts = _read_weights(model["weightsManifest"], bin_dir)
    nodes: list[TfNode] = []
    for raw in model["modelTopology"]["node"]:
        inputs = tuple(i for i in raw.get("input", []) if not i.startswith("^"))
        node = TfNode(raw["name"], raw["op"], inputs, raw.get("attr", {}))
        if node.op == "Const":
            if node.name not in consts:
                raise ValueError(f"constant {node.name!r} has no weights in {json_path}")
            continue
        nodes.append(node)
    signature = model.get("signature", {})
    input_names = [n.name for n in nodes if n.op == "Placeholder"]
    outputs = [k.split(":")[0] for k in signature.get("outputs", {})]
    if not outputs:
        consumed = {i.split(":")[0] for n in nodes for i in n.inputs}
        outputs = [n.name for n in nodes if n.name not in consumed]
    return TfGraph(_topological(nodes), consts, input_names, sorted(outputs))


def _topological(nodes: list[TfNode]) -> list[TfNode]:
    """Nodes reordered so that each comes after its producers (file order kept where valid)."""
    by_name = {n.name: n for n in nodes}
    done: set[str] = set()
    ordered: list[TfNode] = []
    for root in nodes:
        stack: list[tuple[TfNode, bool]] = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if node.name in done:
                continue
            if expanded:
                done.add(node.name)
                ordered.append(node)
                continue
            stack.append((node, True))
            for name in reversed(node.inputs):
                producer = by_name.get(name.split(":")[0])
                if producer is not None and producer.name not in done:
                    stack.append((producer, False))
    return ordered


# --------------------------------------------------------------------------- conversion


def _fuse_pads(nodes: list[onnx.NodeProto], inits: dict[str, np.ndarray]) -> list[onnx.NodeProto]:
    """Fold a spatial constant Pad into the Conv (zero fill) / MaxPool (-inf fill) it feeds."""
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for n in nodes:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    dropped: set[str] = set()
    for n in nodes:
        if n.op_type != "Pad" or len(consumers.get(n.output[0], [])) != 1:
            continue
        target = consumers[n.output[0]][0]
        pads = inits[n.input[1]]
        fill = float(inits[n.input[2]].reshape(-1)[0])
        rank = len(pads) // 2
        wanted_fill = {"Conv": 0.0, "MaxPool": -np.inf}.get(target.op_type)
        if wanted_fill is None or fill != wanted_fill or pads[[0, 1, rank, rank + 1]].any():
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in target.attribute}
        if attrs.get("auto_pad", b"VALID") not in (b"VALID", b"NOTSET"):
            continue
        old = list(attrs.get("pads", [0] * (2 * (rank - 2))))
        spatial = [int(p) for p in list(pads[2:rank]) + list(pads[rank + 2 :])]
        attrs["pads"] = [a + b for a, b in zip(old, spatial, strict=True)]
        attrs.pop("auto_pad", None)
        del target.attribute[:]
        target.attribute.extend(helper.make_attribute(k, v) for k, v in sorted(attrs.items()))
        target.input[0] = n.input[0]
        dropped.add(n.name)
    return [n for n in nodes if n.name not in dropped]


def _fuse_bias(nodes: list[onnx.NodeProto], inits: dict[str, np.ndarray]) -> list[onnx.NodeProto]:
    """Fold `Add(Conv(x), per-channel constant)` into the Conv's bias input."""
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for n in nodes:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    producer = {n.output[0]: n for n in nodes}
    dropped: set[str] = set()
    for n in nodes:
        if n.op_type != "Add" or n.input[1] not in inits or n.input[0] not in producer:
            continue
        conv = producer[n.input[0]]
        bias = inits[n.input[1]]
        if conv.op_type != "Conv" or len(conv.input) != 2 or len(consumers[conv.output[0]]) != 1:
            continue
        if bias.ndim != 4 or bias.shape[0] != 1 or bias.shape[2:] != (1, 1):
            continue
        bias_name = f"{n.input[1]}_bias"
        inits[bias_name] = bias.reshape(-1)
        conv.input.append(bias_name)
        conv.output[0] = n.output[0]
        dropped.add(n.name)
    return [n for n in nodes if n.name not in dropped]


def nanodet_output_name(shape: tuple[int, ...], input_hw: tuple[int, int]) -> str:
    """`cls_s8` / `dist_s16` ... from an output's [N, cells, 80|44] shape at the build size."""
    cells, width = shape[-2], shape[-1]
    stride = round((input_hw[0] * input_hw[1] / cells) ** 0.5)
    kind = "cls" if width == NUM_CLASSES else "dist"
    return f"{kind}_s{stride}"


OutputNamer = Callable[[str, tuple[int, ...], tuple[int, int]], str]


def _tf_output_name(tf_name: str, shape: tuple[int, ...], input_hw: tuple[int, int]) -> str:
    return tf_name.replace("/", "_").replace(":", "_")


def tfjs_to_onnx(
    graph: TfGraph, output_namer: OutputNamer = _tf_output_name, opset: int = OPSET
) -> onnx.ModelProto:
    """Translate a TF.js graph (one 4-D NCHW input) into ONNX with dynamic N, H, W.

    `output_namer(tf_name, logical_shape, input_hw)` names each graph output.
    """
    if len(graph.inputs) != 1:
        raise UnsupportedOpError(f"expected one graph input, got {graph.inputs}")
    consts = dict(graph.consts)
    b = OnnxBuilder(consts)
    input_shape: tuple[int, ...] = ()
    for node in graph.nodes:
        if node.op == "Placeholder":
            input_shape = tuple(node.attr_shape("shape"))
            if len(input_shape) != 4:
                raise UnsupportedOpError(f"input {node.name} must be 4-D NCHW, got {input_shape}")
            b.values[node.name] = Value(INPUT_NAME, (0, 1, 2, 3), input_shape)
            continue
        if all(b.is_const(i) for i in node.inputs):
            folded = fold_constant(node, [b.const(i) for i in node.inputs])
            if folded is None:
                raise UnsupportedOpError(f"{node.name}: cannot fold constant op {node.op}")
            consts[node.name] = folded
            continue
        if node.op not in HANDLERS:
            raise UnsupportedOpError(f"{node.name}: TF op {node.op} has no ONNX translation")
        HANDLERS[node.op](b, node)
    outputs = []
    for tf_name in graph.outputs:
        v = b.value(tf_name)
        v = b.in_layout(v, tuple(range(len(v.shape))))
        name = output_namer(tf_name, v.shape, (input_shape[2], input_shape[3]))
        b.nodes.append(helper.make_node("Identity", [v.name], [name], name=f"out_{name}"))
        dims: list[str | int] = [
            "N",
            *(f"{name}_d{i}" for i in range(1, len(v.shape) - 1)),
            int(v.shape[-1]),
        ]
        outputs.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, dims))
    inits = {t.name: numpy_helper.to_array(t) for t in b.initializers}
    nodes = _fuse_bias(_fuse_pads(b.nodes, inits), inits)
    used = {i for n in nodes for i in n.input}
    initializers = [numpy_helper.from_array(a, k) for k, a in inits.items() if k in used]
    image = helper.make_tensor_value_info(
        INPUT_NAME, onnx.TensorProto.FLOAT, ["N", input_shape[1], "H", "W"]
    )
    onnx_graph = helper.make_graph(nodes, "tfjs_graph", [image], outputs, initializers)
    model = helper.make_model(
        onnx_graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="skynet-tfjs-onnx"
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


def _nanodet_namer(tf_name: str, shape: tuple[int, ...], input_hw: tuple[int, int]) -> str:
    return nanodet_output_name(shape, input_hw)


def convert(source_files: list[Path], out_path: Path) -> None:
    """Build-step converter "tfjs_onnx" for NanoDet: `[model.json, shard.bin...]` -> ONNX file.

    Outputs are named `cls_s{stride}` / `dist_s{stride}` and ordered by stride.
    """
    json_files = [p for p in source_files if p.suffix == ".json"]
    if len(json_files) != 1:
        raise ValueError(f"tfjs_onnx needs exactly one model .json among {source_files}")
    shards = [p for p in source_files if p.suffix != ".json"]
    model = tfjs_to_onnx(load_tfjs_graph(json_files[0], shards or None), _nanodet_namer)
    outputs = sorted(model.graph.output, key=lambda o: (int(o.name.split("_s")[-1]), o.name))
    del model.graph.output[:]
    model.graph.output.extend(outputs)
    out_path.write_bytes(model.SerializeToString(deterministic=True))
