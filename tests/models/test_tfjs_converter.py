"""TF.js -> ONNX converter: every translated op against a numpy reference of TF semantics."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from models.build import ensure_models, fetch_source
from models.onnx_ops import UnsupportedOpError, shape_agnostic
from models.registry import load_manifest
from models.tf_node import TfNode
from models.tfjs_onnx import TfGraph, load_tfjs_graph, tfjs_to_onnx

RNG = np.random.default_rng(7)
NHWC = np.array([0, 2, 3, 1], np.int32)
NCHW = np.array([0, 3, 1, 2], np.int32)

# ----------------------------------------------------------------------------- numpy reference


def _tf_pads(size: int, k: int, s: int, d: int, mode: str) -> tuple[int, int]:
    if mode == "VALID":
        return 0, 0
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def ref_conv2d(x: np.ndarray, w: np.ndarray, strides: list[int], dil: list[int], mode: str):
    kh, kw, cin_g, cout = w.shape
    (pt, pb), (pl, pr) = (
        _tf_pads(x.shape[1], kh, strides[0], dil[0], mode),
        _tf_pads(x.shape[2], kw, strides[1], dil[1], mode),
    )
    x = np.pad(x, [(0, 0), (pt, pb), (pl, pr), (0, 0)])
    span_h, span_w = (kh - 1) * dil[0] + 1, (kw - 1) * dil[1] + 1
    win = np.lib.stride_tricks.sliding_window_view(x, (span_h, span_w), axis=(1, 2))
    win = win[:, :: strides[0], :: strides[1], :, :: dil[0], :: dil[1]]  # N,oh,ow,C,kh,kw
    groups = x.shape[3] // cin_g
    n, oh, ow = win.shape[:3]
    win = win.reshape(n, oh, ow, groups, cin_g, kh, kw)
    wg = w.reshape(kh, kw, cin_g, groups, cout // groups)
    out = np.einsum("nhwgcij,ijcgo->nhwgo", win, wg, optimize=True)
    return out.reshape(n, oh, ow, cout).astype(np.float32)


def ref_max_pool(x: np.ndarray, k: list[int], strides: list[int], mode: str) -> np.ndarray:
    (pt, pb), (pl, pr) = (
        _tf_pads(x.shape[1], k[0], strides[0], 1, mode),
        _tf_pads(x.shape[2], k[1], strides[1], 1, mode),
    )
    x = np.pad(x, [(0, 0), (pt, pb), (pl, pr), (0, 0)], constant_values=-np.inf)
    win = np.lib.stride_tricks.sliding_window_view(x, tuple(k), axis=(1, 2))
    return win[:, :: strides[0], :: strides[1]].max(axis=(4, 5))


def ref_resize_bilinear_half_pixel(x: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """TF ResizeBilinear(half_pixel_centers=True) on NHWC."""
    out = x
    for axis, out_len in ((1, out_hw[0]), (2, out_hw[1])):
        in_len = out.shape[axis]
        pos = (np.arange(out_len) + 0.5) * (in_len / out_len) - 0.5
        lo_f = np.floor(pos)
        lo = np.clip(lo_f, 0, in_len - 1).astype(int)
        hi = np.clip(np.ceil(pos), 0, in_len - 1).astype(int)
        frac = (pos - lo_f).reshape([-1 if a == axis else 1 for a in range(4)])
        a, b = np.take(out, lo, axis=axis), np.take(out, hi, axis=axis)
        out = a + (b - a) * frac
    return out.astype(np.float32)


def ref_sparse_to_dense(idx, shape, values, default):
    dense = np.full(np.atleast_1d(shape), default, values.dtype)
    if idx.size:
        dense[tuple(idx.reshape(len(idx), -1).T)] = values
    return dense


def _attr_s(node: TfNode, key: str) -> str:
    return node.attr_str(key)


REFERENCE: dict[str, Callable[..., np.ndarray]] = {
    "Identity": lambda n, x: x,
    "Transpose": lambda n, x, p: np.transpose(x, p),
    "Pad": lambda n, x, p: np.pad(x, p),
    "PadV2": lambda n, x, p, v: np.pad(x, p, constant_values=v),
    "Conv2D": lambda n, x, w: ref_conv2d(
        x,
        w.astype(np.float32),
        n.attr_ints("strides")[1:3],
        n.attr_ints("dilations")[1:3],
        _attr_s(n, "padding"),
    ),
    "MaxPool": lambda n, x: ref_max_pool(
        x, n.attr_ints("ksize")[1:3], n.attr_ints("strides")[1:3], _attr_s(n, "padding")
    ),
    "Add": lambda n, a, b: a + b,
    "AddV2": lambda n, a, b: a + b,
    "Sub": lambda n, a, b: a - b,
    "Mul": lambda n, a, b: a * b,
    "LeakyRelu": lambda n, x: np.where(x > 0, x, x * n.attr_float("alpha")),
    "Relu": lambda n, x: np.maximum(x, 0),
    "Sigmoid": lambda n, x: 1 / (1 + np.exp(-x)),
    "ConcatV2": lambda n, *a: np.concatenate(a[:-1], axis=int(a[-1])),
    "Reshape": lambda n, x, s: x.reshape(s),
    "ResizeBilinear": lambda n, x, s: ref_resize_bilinear_half_pixel(x, (int(s[0]), int(s[1]))),
    "SparseToDense": lambda n, *a: ref_sparse_to_dense(*a),
}


def run_reference(graph: TfGraph, image: np.ndarray) -> dict[str, np.ndarray]:
    """Evaluate the TF graph with numpy, TF semantics (NHWC ops), node by node."""
    env: dict[str, np.ndarray] = {k: v for k, v in graph.consts.items()}
    for node in graph.nodes:
        if node.op == "Placeholder":
            env[node.name] = image
            continue
        args = [env[i[:-2] if i.endswith(":0") else i] for i in node.inputs]
        if node.op == "SplitV":
            x, sizes, axis = args
            cuts = np.cumsum(sizes)[:-1]
            for k, part in enumerate(np.split(x, cuts, axis=int(axis))):
                env[node.name if k == 0 else f"{node.name}:{k}"] = part
            continue
        env[node.name] = np.asarray(REFERENCE[node.op](node, *args))
    return {name: env[name] for name in graph.outputs}


# ----------------------------------------------------------------------------- graph helpers


def _attr_list(values: list[int]) -> dict:
    return {"list": {"i": [str(v) for v in values]}}


def _attr_str(value: str) -> dict:
    return {"s": base64.b64encode(value.encode()).decode()}


class GraphSpec:
    """Builds small TF graphs: NCHW placeholder -> NHWC -> ops -> outputs."""

    def __init__(self, shape: tuple[int, int, int, int]) -> None:
        self.nodes = [TfNode("x", "Placeholder", (), {"shape": {"shape": {"dim": [
            {"size": str(s)} for s in shape]}}})]  # fmt: skip
        self.consts: dict[str, np.ndarray] = {}
        self.count = 0

    def const(self, value: np.ndarray) -> str:
        self.count += 1
        name = f"c{self.count}"
        self.consts[name] = value
        return name

    def op(self, op: str, *inputs: str, **attr: dict) -> str:
        self.count += 1
        name = f"{op.lower()}_{self.count}"
        self.nodes.append(TfNode(name, op, tuple(inputs), dict(attr)))
        return name

    def nhwc(self, name: str = "x") -> str:
        return self.op("Transpose", name, self.const(NHWC))

    def graph(self, *outputs: str) -> TfGraph:
        return TfGraph(self.nodes, self.consts, ["x"], list(outputs))


def _run_onnx(graph: TfGraph, image: np.ndarray) -> dict[str, np.ndarray]:
    model = tfjs_to_onnx(graph)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(graph.outputs, sess.run(names, {"images": image}), strict=True))


def _check(graph: TfGraph, image: np.ndarray, atol: float = 1e-4) -> None:
    got = _run_onnx(graph, image)
    want = run_reference(graph, image)
    for name in graph.outputs:
        assert got[name].shape == want[name].shape, name
        np.testing.assert_allclose(got[name], want[name], atol=atol, rtol=1e-4)


def _img(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


CONV_ATTRS = {"data_format": _attr_str("NHWC"), "dilations": _attr_list([1, 1, 1, 1])}

# ----------------------------------------------------------------------------- per-op tests


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("padding", ["VALID", "SAME"])
def test_conv2d_dense(stride: int, padding: str) -> None:
    g = GraphSpec((1, 3, 9, 11))
    w = g.const(_img(3, 3, 3, 5))
    conv = g.op("Conv2D", g.nhwc(), w, strides=_attr_list([1, stride, stride, 1]),
                padding=_attr_str(padding), **CONV_ATTRS)  # fmt: skip
    _check(g.graph(conv), _img(2, 3, 9, 11))


def test_conv2d_grouped_depthwise_with_bias_and_zero_pad_fused() -> None:
    g = GraphSpec((1, 4, 8, 8))
    padded = g.op("Pad", "x", g.const(np.array([[0, 0], [0, 0], [1, 1], [1, 1]], np.int32)))
    w = g.const(_img(3, 3, 1, 4))  # depthwise: 1 input channel per group
    conv = g.op("Conv2D", g.nhwc(padded), w, strides=_attr_list([1, 2, 2, 1]),
                padding=_attr_str("VALID"), **CONV_ATTRS)  # fmt: skip
    biased = g.op("Add", conv, g.const(_img(4)))
    graph = g.graph(biased)
    model = tfjs_to_onnx(graph)
    assert [n.op_type for n in model.graph.node] == ["Conv", "Transpose", "Identity"]
    _check(graph, _img(1, 4, 8, 8))


def test_maxpool_with_neg_inf_pad_fused() -> None:
    g = GraphSpec((1, 2, 7, 7))
    padded = g.op("PadV2", "x", g.const(np.array([[0, 0], [0, 0], [1, 1], [1, 1]], np.int32)),
                  g.const(np.array(-np.inf, np.float32)))  # fmt: skip
    pool = g.op("MaxPool", g.nhwc(padded), ksize=_attr_list([1, 3, 3, 1]),
                strides=_attr_list([1, 2, 2, 1]), padding=_attr_str("VALID"),
                data_format=_attr_str("NHWC"))  # fmt: skip
    graph = g.graph(pool)
    assert [n.op_type for n in tfjs_to_onnx(graph).graph.node] == [
        "MaxPool",
        "Transpose",
        "Identity",
    ]
    _check(graph, _img(1, 2, 7, 7))


def test_pad_nonzero_value_kept_as_pad() -> None:
    g = GraphSpec((1, 2, 4, 5))
    out = g.op("PadV2", g.nhwc(), g.const(np.array([[0, 0], [2, 1], [0, 3], [1, 0]], np.int32)),
               g.const(np.array(1.5, np.float32)))  # fmt: skip
    _check(g.graph(out), _img(1, 2, 4, 5))


@pytest.mark.parametrize("op", ["LeakyRelu", "Relu", "Sigmoid"])
def test_unary(op: str) -> None:
    g = GraphSpec((1, 3, 4, 4))
    attrs = {"alpha": {"f": 0.1}} if op == "LeakyRelu" else {}
    _check(g.graph(g.op(op, g.nhwc(), **attrs)), _img(1, 3, 4, 4))


@pytest.mark.parametrize("op", ["Add", "AddV2", "Sub", "Mul"])
def test_binary_tensor_and_const_in_mixed_layouts(op: str) -> None:
    g = GraphSpec((1, 3, 4, 6))
    nhwc = g.nhwc()
    both = g.op(op, nhwc, g.op("Transpose", nhwc, g.const(np.array([0, 1, 2, 3], np.int32))))
    with_const = g.op(op, g.const(_img(3, 1, 1)), g.op("Transpose", both, g.const(NCHW)))
    _check(g.graph(with_const, both), _img(1, 3, 4, 6))


def test_transpose_pairs_cancel() -> None:
    g = GraphSpec((1, 3, 4, 4))
    back = g.op("Transpose", g.nhwc(), g.const(NCHW))
    out = g.op("Sigmoid", back)
    graph = g.graph(out)
    assert "Transpose" not in [n.op_type for n in tfjs_to_onnx(graph).graph.node]
    _check(graph, _img(1, 3, 4, 4))


def test_concat_and_split_v_on_nhwc_channels() -> None:
    g = GraphSpec((1, 4, 3, 5))
    nhwc = g.nhwc()
    cat = g.op("ConcatV2", nhwc, g.op("Sigmoid", nhwc), g.const(np.array(-1, np.int32)),
               N={"i": "2"})  # fmt: skip
    split = g.op("SplitV", cat, g.const(np.array([5, 3], np.int32)),
                 g.const(np.array(3, np.int32)), num_split={"i": "2"})  # fmt: skip
    _check(g.graph(split, f"{split}:1"), _img(2, 4, 3, 5))


def test_reshape_becomes_shape_agnostic() -> None:
    assert shape_agnostic([1, 80, -1], (1, 80, 52, 52)) == [0, 0, -1]
    assert shape_agnostic([1, 80, 2704], (1, 80, 52, 52)) == [0, 0, -1]
    g = GraphSpec((1, 6, 4, 4))
    flat = g.op("Reshape", "x", g.const(np.array([1, 6, -1], np.int32)))
    out = g.op("Transpose", flat, g.const(np.array([0, 2, 1], np.int32)))
    graph = g.graph(out)
    _check(graph, _img(1, 6, 4, 4))
    got = _run_onnx(graph, _img(3, 6, 8, 4))[out]  # other batch and size than at build time
    assert got.shape == (3, 32, 6)


def test_resize_bilinear_half_pixel_and_non_square_inputs() -> None:
    g = GraphSpec((1, 2, 4, 4))
    up = g.op("ResizeBilinear", g.nhwc(), g.const(np.array([8, 8], np.int32)),
              half_pixel_centers={"b": True}, align_corners={"b": False})  # fmt: skip
    graph = g.graph(up)
    _check(graph, _img(1, 2, 4, 4))
    image = _img(2, 2, 3, 5)  # a graph built for 3×5 has size [6, 10]: same scale
    g2 = GraphSpec((1, 2, 3, 5))
    up2 = g2.op("ResizeBilinear", g2.nhwc(), g2.const(np.array([6, 10], np.int32)),
                half_pixel_centers={"b": True})  # fmt: skip
    np.testing.assert_allclose(
        _run_onnx(graph, image)[up], run_reference(g2.graph(up2), image)[up2], atol=1e-5
    )


def test_constant_subgraph_feeding_reshape_is_folded() -> None:
    g = GraphSpec((1, 4, 2, 2))
    dense = g.op("SparseToDense", g.const(np.zeros((0, 1), np.int32)),
                 g.const(np.array([3], np.int32)), g.const(np.zeros(0, np.int32)),
                 g.const(np.array(0, np.int32)))  # fmt: skip
    shape = g.op("AddV2", g.const(np.array([1, 4, -1], np.int32)), dense)
    out = g.op("Reshape", "x", shape)
    graph = g.graph(out)
    assert [n.op_type for n in tfjs_to_onnx(graph).graph.node] == ["Reshape", "Identity"]
    _check(graph, _img(1, 4, 2, 2))


def test_unsupported_op_is_named() -> None:
    g = GraphSpec((1, 1, 2, 2))
    out = g.op("Erf", "x")
    with pytest.raises(UnsupportedOpError, match="Erf"):
        tfjs_to_onnx(g.graph(out))


# ----------------------------------------------------------------------------- full NanoDet


@pytest.fixture(scope="module")
def nanodet_graph() -> TfGraph:
    cache = Path("var/models")
    entry = load_manifest()["nanodet"]
    files = fetch_source(entry, cache)
    return load_tfjs_graph(files[0], files[1:])


def _bake_size(graph: TfGraph, h: int, w: int) -> TfGraph:
    """The graph's resize sizes rewritten for an h×w input (as TF.js would export it)."""
    consts = dict(graph.consts)
    for node in graph.nodes:
        if node.op == "ResizeBilinear":
            size = consts[node.inputs[1]]
            stride = 416 // int(size[0])
            consts[node.inputs[1]] = np.array([h // stride, w // stride], np.int32)
    return TfGraph(graph.nodes, consts, graph.inputs, graph.outputs)


@pytest.mark.slow
@pytest.mark.parametrize("hw", [(416, 416), (256, 416)])
def test_full_nanodet_matches_numpy_reference(nanodet_graph: TfGraph, hw: tuple[int, int]) -> None:
    onnx_path = ensure_models(None, ["nanodet"])["nanodet"]
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    image = RNG.uniform(-2, 2, (1, 3, *hw)).astype(np.float32)
    names = [o.name for o in sess.get_outputs()]
    got = dict(zip(names, sess.run(names, {"images": image}), strict=True))
    want = run_reference(_bake_size(nanodet_graph, *hw), image)
    cells = {8: hw[0] * hw[1] // 64, 16: hw[0] * hw[1] // 256, 32: hw[0] * hw[1] // 1024}
    matched = 0
    for ref in want.values():
        for name, arr in got.items():
            if arr.shape == ref.shape:
                stride = int(name.split("_s")[1])
                assert arr.shape[1] == cells[stride]
                if np.allclose(arr, ref, atol=2e-3, rtol=1e-3):
                    matched += 1
    assert matched == 6
