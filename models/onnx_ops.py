"""TF op -> ONNX node translation with lazy layout tracking (transposes emitted only when needed).

Each TF tensor becomes a `Value`: an ONNX tensor name plus `perm`, the order in which the tensor's
logical (TF) axes are stored physically (`physical = logical.transpose(perm)`). A TF `Transpose`
only changes `perm`; layout-agnostic ops (element-wise, Pad, Concat, Split, Resize) work in
whatever layout their input has; NHWC Conv2D / MaxPool want NCHW storage, Reshape wants logical.
So the NHWC<->NCHW transpose pairs of an ONNX->TF exported graph vanish.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from models.tf_node import TfNode

NHWC_AS_NCHW = (0, 3, 1, 2)


class UnsupportedOpError(ValueError):
    """The TF.js graph uses an op (or an op variant) this converter does not translate."""


@dataclass(frozen=True)
class Value:
    """A converted tensor: ONNX name, physical axis order and logical shape at the build size."""

    name: str
    perm: tuple[int, ...]
    shape: tuple[int, ...]


@dataclass
class OnnxBuilder:
    """Accumulates ONNX nodes/initializers while TF nodes are translated one by one."""

    consts: dict[str, np.ndarray]
    values: dict[str, Value] = field(default_factory=dict)
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    initializers: list[onnx.TensorProto] = field(default_factory=list)
    _transposed: dict[tuple[str, tuple[int, ...]], Value] = field(default_factory=dict)
    _count: int = 0

    def unique(self, hint: str) -> str:
        self._count += 1
        return f"{hint.replace('PartitionedCall/', '')}__{self._count}"

    def initializer(self, array: np.ndarray, hint: str) -> str:
        name = self.unique(hint)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def emit(
        self, op: str, inputs: list[str], hint: str, n_out: int = 1, **attrs: Any
    ) -> list[str]:
        outs = [self.unique(f"{hint}_{i}" if n_out > 1 else hint) for i in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=self.unique(op), **attrs))
        return outs

    def value(self, tf_name: str) -> Value:
        key = tf_name[:-2] if tf_name.endswith(":0") else tf_name
        if key not in self.values:
            raise UnsupportedOpError(f"tensor {tf_name!r} is not produced by a converted node")
        return self.values[key]

    def const(self, tf_name: str) -> np.ndarray:
        return self.consts[tf_name[:-2] if tf_name.endswith(":0") else tf_name]

    def is_const(self, tf_name: str) -> bool:
        return (tf_name[:-2] if tf_name.endswith(":0") else tf_name) in self.consts

    def in_layout(self, value: Value, perm: tuple[int, ...]) -> Value:
        """`value` stored in `perm` order (emits one Transpose, cached, when it differs)."""
        if value.perm == perm:
            return value
        key = (value.name, perm)
        if key not in self._transposed:
            onnx_perm = [value.perm.index(axis) for axis in perm]
            (out,) = self.emit("Transpose", [value.name], f"{value.name}_t", perm=onnx_perm)
            self._transposed[key] = Value(out, perm, value.shape)
        return self._transposed[key]


Handler = Callable[[OnnxBuilder, TfNode], None]


def _identity(rank: int) -> tuple[int, ...]:
    return tuple(range(rank))


def _axis(value: Value, tf_axis: int) -> int:
    """Physical axis holding logical axis `tf_axis`."""
    return value.perm.index(tf_axis % len(value.shape))


def _padding_mode(node: TfNode) -> str:
    mode = node.attr_str("padding")
    if mode == "VALID":
        return "VALID"
    if mode == "SAME":
        return "SAME_UPPER"
    raise UnsupportedOpError(f"{node.name}: padding {mode!r} (explicit paddings) not supported")


def _spatial_out(size: int, kernel: int, stride: int, dilation: int, mode: str) -> int:
    if mode == "SAME_UPPER":
        return -(-size // stride)
    return (size - (kernel - 1) * dilation - 1) // stride + 1


def _check_nhwc(node: TfNode) -> None:
    fmt = node.attr_str("data_format") if "data_format" in node.attr else "NHWC"
    if fmt != "NHWC":
        raise UnsupportedOpError(f"{node.name}: data_format {fmt} not supported (NHWC only)")


def conv2d(b: OnnxBuilder, node: TfNode) -> None:
    _check_nhwc(node)
    x = b.in_layout(b.value(node.inputs[0]), NHWC_AS_NCHW)
    kernel = b.const(node.inputs[1]).astype(np.float32)  # HWIO
    kh, kw, c_per_group, c_out = kernel.shape
    c_in = x.shape[3]
    if c_in % c_per_group:
        raise UnsupportedOpError(f"{node.name}: {c_in} input channels vs filter {kernel.shape}")
    strides = node.attr_ints("strides")[1:3]
    dilations = node.attr_ints("dilations")[1:3] if "dilations" in node.attr else [1, 1]
    mode = _padding_mode(node)
    w = b.initializer(kernel.transpose(3, 2, 0, 1), f"{node.name}_w")
    (out,) = b.emit(
        "Conv", [x.name, w], node.name, kernel_shape=[kh, kw], strides=strides,
        dilations=dilations, group=c_in // c_per_group, auto_pad=mode,
    )  # fmt: skip
    oh = _spatial_out(x.shape[1], kh, strides[0], dilations[0], mode)
    ow = _spatial_out(x.shape[2], kw, strides[1], dilations[1], mode)
    b.values[node.name] = Value(out, NHWC_AS_NCHW, (x.shape[0], oh, ow, c_out))


def max_pool(b: OnnxBuilder, node: TfNode) -> None:
    _check_nhwc(node)
    x = b.in_layout(b.value(node.inputs[0]), NHWC_AS_NCHW)
    kh, kw = node.attr_ints("ksize")[1:3]
    strides = node.attr_ints("strides")[1:3]
    mode = _padding_mode(node)
    (out,) = b.emit(
        "MaxPool", [x.name], node.name, kernel_shape=[kh, kw], strides=strides, auto_pad=mode
    )
    oh = _spatial_out(x.shape[1], kh, strides[0], 1, mode)
    ow = _spatial_out(x.shape[2], kw, strides[1], 1, mode)
    b.values[node.name] = Value(out, NHWC_AS_NCHW, (x.shape[0], oh, ow, x.shape[3]))


def pad(b: OnnxBuilder, node: TfNode) -> None:
    x = b.value(node.inputs[0])
    pads_tf = b.const(node.inputs[1]).astype(np.int64)
    fill = float(b.const(node.inputs[2])) if len(node.inputs) > 2 else 0.0
    begins = [int(pads_tf[axis, 0]) for axis in x.perm]
    ends = [int(pads_tf[axis, 1]) for axis in x.perm]
    pads_name = b.initializer(np.array(begins + ends, np.int64), f"{node.name}_pads")
    fill_name = b.initializer(np.array(fill, np.float32), f"{node.name}_value")
    (out,) = b.emit("Pad", [x.name, pads_name, fill_name], node.name, mode="constant")
    shape = tuple(int(s + p.sum()) for s, p in zip(x.shape, pads_tf, strict=True))
    b.values[node.name] = Value(out, x.perm, shape)


def transpose(b: OnnxBuilder, node: TfNode) -> None:
    x = b.value(node.inputs[0])
    perm = [int(p) for p in b.const(node.inputs[1])]
    new_perm = tuple(perm.index(axis) for axis in x.perm)
    b.values[node.name] = Value(x.name, new_perm, tuple(x.shape[p] for p in perm))


def _unary(onnx_op: str, **fixed: object) -> Handler:
    def handler(b: OnnxBuilder, node: TfNode) -> None:
        x = b.value(node.inputs[0])
        attrs: dict[str, Any] = dict(fixed)
        if onnx_op == "LeakyRelu":
            attrs["alpha"] = node.attr_float("alpha") if "alpha" in node.attr else 0.2
        (out,) = b.emit(onnx_op, [x.name], node.name, **attrs)
        b.values[node.name] = Value(out, x.perm, x.shape)

    return handler


def identity(b: OnnxBuilder, node: TfNode) -> None:
    b.values[node.name] = b.value(node.inputs[0])


def _const_in_layout(b: OnnxBuilder, array: np.ndarray, like: Value, hint: str) -> str:
    rank = len(like.shape)
    if array.ndim > rank:
        raise UnsupportedOpError(f"{hint}: constant of rank {array.ndim} > tensor rank {rank}")
    full = array.reshape((1,) * (rank - array.ndim) + array.shape).astype(np.float32)
    return b.initializer(full.transpose(like.perm), hint)


def _binary(onnx_op: str) -> Handler:
    def handler(b: OnnxBuilder, node: TfNode) -> None:
        left_name, right_name = node.inputs[:2]
        if b.is_const(left_name) and b.is_const(right_name):
            raise UnsupportedOpError(f"{node.name}: both inputs constant but not folded")
        if b.is_const(left_name):
            y = b.value(right_name)
            x_name = _const_in_layout(b, b.const(left_name), y, f"{node.name}_c")
            inputs, like = [x_name, y.name], y
        elif b.is_const(right_name):
            x = b.value(left_name)
            y_name = _const_in_layout(b, b.const(right_name), x, f"{node.name}_c")
            inputs, like = [x.name, y_name], x
        else:
            x = b.value(left_name)
            y = b.in_layout(b.value(right_name), x.perm)
            inputs, like = [x.name, y.name], x
        (out,) = b.emit(onnx_op, inputs, node.name)
        b.values[node.name] = Value(out, like.perm, like.shape)

    return handler


def concat(b: OnnxBuilder, node: TfNode) -> None:
    n = int(node.attr["N"]["i"]) if "N" in node.attr else len(node.inputs) - 1
    parts = [b.value(name) for name in node.inputs[:n]]
    parts = [b.in_layout(p, parts[0].perm) for p in parts]
    tf_axis = int(b.const(node.inputs[n])) % len(parts[0].shape)
    (out,) = b.emit("Concat", [p.name for p in parts], node.name, axis=_axis(parts[0], tf_axis))
    shape = list(parts[0].shape)
    shape[tf_axis] = sum(p.shape[tf_axis] for p in parts)
    b.values[node.name] = Value(out, parts[0].perm, tuple(shape))


def split_v(b: OnnxBuilder, node: TfNode) -> None:
    x = b.value(node.inputs[0])
    tf_axis = int(b.const(node.inputs[2])) % len(x.shape)
    sizes = [int(s) for s in b.const(node.inputs[1])]
    if -1 in sizes:
        sizes[sizes.index(-1)] = x.shape[tf_axis] - (sum(sizes) + 1)
    split_name = b.initializer(np.array(sizes, np.int64), f"{node.name}_split")
    outs = b.emit(
        "Split", [x.name, split_name], node.name, n_out=len(sizes), axis=_axis(x, tf_axis)
    )
    for i, (out, size) in enumerate(zip(outs, sizes, strict=True)):
        shape = list(x.shape)
        shape[tf_axis] = size
        b.values[node.name if i == 0 else f"{node.name}:{i}"] = Value(out, x.perm, tuple(shape))


def shape_agnostic(target: list[int], source: tuple[int, ...]) -> list[int]:
    """Reshape target with the dims copied from the input as 0 and the size-dependent one as -1."""
    out = list(target)
    prefix = 0
    while prefix < min(len(out), len(source)) and out[prefix] in (source[prefix], 0):
        out[prefix] = 0
        prefix += 1
    rest = [i for i in range(prefix, len(out)) if out[i] != -1]
    if -1 not in out and len(rest) == 1:
        out[rest[0]] = -1
    return out


def reshape(b: OnnxBuilder, node: TfNode) -> None:
    x = b.value(node.inputs[0])
    x = b.in_layout(x, _identity(len(x.shape)))
    target = [int(s) for s in b.const(node.inputs[1])]
    total = int(np.prod(x.shape))
    resolved = [s if s != -1 else total // -int(np.prod(target)) for s in target]
    shape_name = b.initializer(np.array(shape_agnostic(target, x.shape), np.int64), node.name)
    (out,) = b.emit("Reshape", [x.name, shape_name], node.name)
    b.values[node.name] = Value(out, _identity(len(resolved)), tuple(resolved))


def resize_bilinear(b: OnnxBuilder, node: TfNode) -> None:
    x = b.value(node.inputs[0])  # logical NHWC
    out_h, out_w = (int(s) for s in b.const(node.inputs[1]))
    if node.attr_bool("align_corners"):
        mode = "align_corners"
    elif node.attr_bool("half_pixel_centers"):
        mode = "half_pixel"
    else:
        mode = "asymmetric"
    logical_scales = [1.0, out_h / x.shape[1], out_w / x.shape[2], 1.0]
    scales = np.array([logical_scales[axis] for axis in x.perm], np.float32)
    scales_name = b.initializer(scales, f"{node.name}_scales")
    (out,) = b.emit(
        "Resize", [x.name, "", scales_name], node.name, mode="linear",
        coordinate_transformation_mode=mode,
    )  # fmt: skip
    b.values[node.name] = Value(out, x.perm, (x.shape[0], out_h, out_w, x.shape[3]))


def fold_constant(node: TfNode, args: list[np.ndarray]) -> np.ndarray | None:
    """numpy value of a node whose inputs are all constants (None when not foldable)."""
    if node.op in ("Add", "AddV2"):
        return np.asarray(args[0] + args[1])
    if node.op == "Sub":
        return np.asarray(args[0] - args[1])
    if node.op == "Mul":
        return np.asarray(args[0] * args[1])
    if node.op == "Identity":
        return args[0]
    if node.op == "SparseToDense":
        indices, shape, values, default = args
        dense = np.full([int(s) for s in np.atleast_1d(shape)], default, dtype=values.dtype)
        if indices.size:
            idx = indices.reshape(len(indices), -1) if indices.ndim > 1 else indices[:, None]
            dense[tuple(idx.T)] = values
        return dense
    return None


HANDLERS: dict[str, Handler] = {
    "Conv2D": conv2d,
    "MaxPool": max_pool,
    "Pad": pad,
    "PadV2": pad,
    "Transpose": transpose,
    "Identity": identity,
    "LeakyRelu": _unary("LeakyRelu"),
    "Relu": _unary("Relu"),
    "Sigmoid": _unary("Sigmoid"),
    "Add": _binary("Add"),
    "AddV2": _binary("Add"),
    "Sub": _binary("Sub"),
    "Mul": _binary("Mul"),
    "ConcatV2": concat,
    "SplitV": split_v,
    "Reshape": reshape,
    "ResizeBilinear": resize_bilinear,
}
