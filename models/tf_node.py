"""One node of a TF.js graph as the converter reads it (shared by `tfjs_onnx` and `onnx_ops`)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TfNode:
    """One TF graph node: `inputs` are tensor names ("node" or "node:1"), control deps dropped."""

    name: str
    op: str
    inputs: tuple[str, ...]
    attr: dict[str, Any] = field(default_factory=dict)

    def attr_ints(self, key: str) -> list[int]:
        return [int(v) for v in self.attr[key]["list"].get("i", [])]

    def attr_str(self, key: str) -> str:
        return base64.b64decode(self.attr[key]["s"]).decode()

    def attr_float(self, key: str) -> float:
        return float(self.attr[key]["f"])

    def attr_bool(self, key: str, default: bool = False) -> bool:
        return bool(self.attr.get(key, {}).get("b", default))

    def attr_shape(self, key: str) -> list[int]:
        return [int(d.get("size", -1)) for d in self.attr[key]["shape"].get("dim", [])]
