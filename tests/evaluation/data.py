"""Synthetic evaluation inputs made by the tests: classification tables and COCO detection sets."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np

__all__ = ["classification_rows", "coco_pair", "csv_text", "json_text", "parquet_bytes"]


def classification_rows(seed: int = 0, n: int = 300) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Predictions and truth over ``n`` ids: four true classes, a fifth only ever predicted, one rarely.

    About 70 % of the predictions are right; the tables are in different orders, and ``rare`` is a
    true class that is never predicted, so both zero-division cases of precision and recall occur.
    """
    rng = np.random.default_rng(seed)
    classes = ["cat", "dog", "owl", "rare"]
    truth = rng.choice(classes, size=n, p=[0.4, 0.3, 0.27, 0.03])
    predicted = np.where(rng.random(n) < 0.7, truth, rng.choice(["cat", "dog", "owl", "ghost"], size=n))
    predicted = np.where(predicted == "rare", "cat", predicted)
    scores = rng.random(n).round(4)
    ids = [f"img-{i:04d}" for i in range(n)]
    truth_rows = [{"id": i, "label": str(t)} for i, t in zip(ids, truth, strict=True)]
    prediction_rows = [
        {"id": i, "label": str(p), "score": float(s)} for i, p, s in zip(ids, predicted, scores, strict=True)
    ]
    order = rng.permutation(n)
    return [prediction_rows[i] for i in order], truth_rows


def csv_text(rows: list[dict[str, Any]]) -> str:
    columns = list(rows[0])
    lines = [",".join(columns)] + [",".join(str(row[c]) for c in columns) for row in rows]
    return "\n".join(lines) + "\n"


def parquet_bytes(rows: list[dict[str, Any]]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buffer)
    return buffer.getvalue()


def coco_pair(seed: int = 0, images: int = 12) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A COCO ground truth (three categories, a crowd box) and detections: jittered, missed, stray, mislabelled."""
    rng = np.random.default_rng(seed)
    categories = [{"id": 1, "name": "galaxy"}, {"id": 2, "name": "star"}, {"id": 7, "name": "cluster"}]
    truth: dict[str, Any] = {
        "images": [{"id": 100 + i, "width": 640, "height": 480} for i in range(images)],
        "categories": categories,
        "annotations": [],
    }
    detections: list[dict[str, Any]] = []
    for image in truth["images"]:
        for _ in range(int(rng.integers(1, 6))):
            x, y = rng.uniform(0, 500), rng.uniform(0, 350)
            w, h = rng.uniform(8, 130), rng.uniform(8, 120)
            category = int(rng.choice([1, 2, 7]))
            truth["annotations"].append(
                {"id": len(truth["annotations"]) + 1, "image_id": image["id"], "category_id": category,
                 "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0}
            )  # fmt: skip
            draw = rng.random()
            if draw < 0.15:
                continue  # missed
            if draw < 0.25:
                category = int(rng.choice([c for c in (1, 2, 7) if c != category]))  # wrong class
            jitter = rng.normal(0, 0.07, 4) * [w, h, w, h]
            detections.append(
                {"image_id": image["id"], "category_id": category,
                 "bbox": [float(x + jitter[0]), float(y + jitter[1]), float(max(1, w + jitter[2])),
                          float(max(1, h + jitter[3]))],
                 "score": float(rng.uniform(0.05, 1))}
            )  # fmt: skip
        for _ in range(int(rng.integers(0, 3))):  # strays
            detections.append(
                {"image_id": image["id"], "category_id": int(rng.choice([1, 2, 7])),
                 "bbox": [float(rng.uniform(0, 500)), float(rng.uniform(0, 350)), 40.0, 30.0],
                 "score": float(rng.uniform(0, 0.6))}
            )  # fmt: skip
    first = truth["images"][0]["id"]
    truth["annotations"].append(
        {"id": len(truth["annotations"]) + 1, "image_id": first, "category_id": 1,
         "bbox": [10.0, 10.0, 200.0, 200.0], "area": 40000.0, "iscrowd": 1}
    )  # fmt: skip
    return truth, detections


def json_text(value: Any) -> str:
    return json.dumps(value)
