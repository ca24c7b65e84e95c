"""Models the inference tests build: a scikit-learn digits classifier (skl2onnx), a small convolution
made with onnx.helper, a two-input two-output model, a GPU-configured one and a non-ONNX one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

OPSET = [helper.make_opsetid("", 17)]


@dataclass
class Models:
    repository: Path
    digits: Any  # the fitted scikit-learn classifier
    digits_x: np.ndarray
    conv_weight: np.ndarray


def save(model: onnx.ModelProto, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def conv_model(weight: np.ndarray) -> onnx.ModelProto:
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, 8, 8])
    features = helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", 2, 6, 6])
    w = helper.make_tensor("w", TensorProto.FLOAT, weight.shape, weight.ravel().tolist())
    graph = helper.make_graph(
        [helper.make_node("Conv", ["image", "w"], ["conv"]), helper.make_node("Relu", ["conv"], ["features"])],
        "conv", [image], [features], [w],
    )
    return helper.make_model(graph, opset_imports=OPSET)


def two_io_model(scale: float = 1.0) -> onnx.ModelProto:
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, ["N", 4])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, ["N", 4])
    total = helper.make_tensor_value_info("total", TensorProto.FLOAT, ["N", 4])
    dot = helper.make_tensor_value_info("dot", TensorProto.FLOAT, ["N", 1])
    k = helper.make_tensor("k", TensorProto.FLOAT, [], [scale])
    graph = helper.make_graph(
        [
            helper.make_node("Add", ["a", "b"], ["sum"]),
            helper.make_node("Mul", ["sum", "k"], ["total"]),
            helper.make_node("Mul", ["a", "b"], ["ab"]),
            helper.make_node("ReduceSum", ["ab", "axes"], ["dot"], keepdims=1),
        ],
        "two_io", [a, b], [total, dot], [k, helper.make_tensor("axes", TensorProto.INT64, [1], [1])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def build(root: Path) -> Models:
    from skl2onnx import to_onnx
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    repo = root / "models"
    digits = load_digits()
    x = digits.data.astype(np.float32)
    classifier = LogisticRegression(max_iter=2000).fit(x[:1200], digits.target[:1200])
    onx = to_onnx(classifier, x[:1], options={id(classifier): {"zipmap": False}}, target_opset=17)
    save(onx, repo / "digits" / "1" / "model.onnx")  # no config: the signature comes from the graph

    weight = np.random.default_rng(0).standard_normal((2, 1, 3, 3)).astype(np.float32)
    save(conv_model(weight), repo / "conv" / "1" / "model.onnx")
    (repo / "conv" / "config.pbtxt").write_text(
        'name: "conv"\nplatform: "onnxruntime_onnx"\nmax_batch_size: 16\n'
        'input [ { name: "image" data_type: TYPE_FP32 dims: [ 1, 8, 8 ] } ]\n'
        'output [ { name: "features" data_type: TYPE_FP32 dims: [ 2, 6, 6 ] } ]\n'
        "instance_group [ { count: 1 kind: KIND_CPU } ]\n"
    )
    save(two_io_model(), repo / "pair" / "1" / "model.onnx")
    save(two_io_model(), repo / "pair_gpu" / "1" / "model.onnx")
    (repo / "pair_gpu" / "config.pbtxt").write_text(
        'backend: "onnxruntime"\ninstance_group [ { kind: KIND_GPU } ]\n'
        'parameters { key: "requirements" value { string_value: "cuda" } }\n'
    )
    (repo / "torchy" / "1").mkdir(parents=True)
    (repo / "torchy" / "1" / "model.pt").write_bytes(b"not really torch")
    (repo / "torchy" / "config.pbtxt").write_text('backend: "pytorch"\nmax_batch_size: 8\n')
    return Models(repo, classifier, x, weight)
