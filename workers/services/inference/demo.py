"""``spt-api models demo``: a small model and rows to try the service with, as ``spt-api maps demo`` makes maps.

The model is a multilayer perceptron built with ``onnx.helper`` (seeded weights); ``bench/inference.py``
makes its larger one here too.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

__all__ = ["DEMO_FEATURES", "DEMO_MODEL", "mlp_model", "write_demo"]

DEMO_MODEL = "demo"
DEMO_FEATURES = 8


def mlp_model(sizes: list[int], seed: int = 0) -> Any:
    """An ONNX MLP ``x [N, sizes[0]] -> y [N, sizes[-1]]``: Gemm layers with ReLU between them."""
    import numpy as np
    from onnx import TensorProto, helper

    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    previous = "x"
    last = len(sizes) - 2
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        w = (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(np.float32)
        b = np.zeros(n_out, np.float32)
        inits += [helper.make_tensor(f"w{i}", TensorProto.FLOAT, w.shape, w.ravel()),
                  helper.make_tensor(f"b{i}", TensorProto.FLOAT, b.shape, b)]
        gemm = "y" if i == last else f"g{i}"
        nodes.append(helper.make_node("Gemm", [previous, f"w{i}", f"b{i}"], [gemm]))
        if i != last:
            nodes.append(helper.make_node("Relu", [gemm], [f"h{i}"]))
            previous = f"h{i}"
    graph = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", sizes[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", sizes[-1]])], inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def write_demo(folder: Path, rows: int = 16) -> tuple[Path, Path]:
    """``demo.onnx`` (8 features → 3 scores) and ``demo_rows.npy`` (``rows`` x 8 float32) in ``folder``."""
    import numpy as np
    import onnx

    folder.mkdir(parents=True, exist_ok=True)
    model = folder / f"{DEMO_MODEL}.onnx"
    onnx.save(mlp_model([DEMO_FEATURES, 16, 3]), str(model))
    data = folder / f"{DEMO_MODEL}_rows.npy"
    np.save(data, np.random.default_rng(1).standard_normal((rows, DEMO_FEATURES)).astype(np.float32))
    return model, data
