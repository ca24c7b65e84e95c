"""Detection metrics: COCO's AP by pycocotools itself, and a one-to-one Hungarian matching.

The AP figures are pycocotools' ``COCOeval`` (bbox) unchanged: mAP@[.5:.95], AP50, AP75 and the rest of
its twelve numbers, and per class the mean of its precision table over IoU thresholds and recall points
(area "all", 100 detections), as Detectron2 reports it. The matching is separate: per image and class,
detections (at or above ``score_threshold``) and non-crowd ground-truth boxes are paired one to one by
``scipy.optimize.linear_sum_assignment`` so that the most pairs reach ``iou_threshold`` (ties: the larger
IoU sum); paired detections are true positives, the others false positives, unpaired boxes misses. The
confusion matrix uses the same matching without the class, so a box found under the wrong class shows
where it went, and a missed box or a stray detection falls in the ``background`` row or column.
"""

from __future__ import annotations

import contextlib
import copy
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from workers.services.evaluation.checks import predictions_list

__all__ = [
    "BACKGROUND",
    "COCO_STATS",
    "Matching",
    "coco_eval",
    "detection_report",
    "iou_matrix",
    "match_boxes",
    "prepare_truth",
]

#: The names of ``COCOeval.stats``, in its order.
COCO_STATS = (
    "mAP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large",
    "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large",
)  # fmt: skip
#: The row and column of the confusion matrix for "no box" (a miss, or a detection of nothing).
BACKGROUND = "background"


def prepare_truth(truth: dict[str, Any]) -> dict[str, Any]:
    """A copy of the ground truth with what COCOeval needs and detection tools often leave out.

    ``iscrowd`` defaults to 0 and ``area`` to the box's width x height; a category without a
    ``name`` is named by its id. Annotation ids are renumbered 1..N: COCOeval takes a match's
    ground-truth id for "matched", so an id 0 would count a true positive as a false one, and
    repeated ids would load one box twice.
    """
    truth = copy.deepcopy(truth)
    for number, ann in enumerate(truth["annotations"], start=1):
        ann.setdefault("iscrowd", 0)
        ann.setdefault("area", float(ann["bbox"][2] * ann["bbox"][3]))
        ann["id"] = number
    for category in truth["categories"]:
        category.setdefault("name", str(category["id"]))
    return truth


def coco_eval(truth: dict[str, Any], detections: list[dict[str, Any]]) -> Any:
    """pycocotools' ``COCOeval`` (bbox) over ``truth`` (prepared) and ``detections``, evaluated and summarised."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        gt = COCO()
        gt.dataset = truth
        gt.createIndex()
        if detections:
            dt = gt.loadRes(copy.deepcopy(detections))
        else:  # loadRes cannot take an empty list; no detection scores 0
            dt = COCO()
            dt.dataset = {"images": truth["images"], "categories": truth["categories"], "annotations": []}
            dt.createIndex()
        evaluator = COCOeval(gt, dt, iouType="bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator


def _mean_precision(precision: np.ndarray) -> float | None:
    valid = precision[precision > -1]
    return float(valid.mean()) if valid.size else None


def _stat(value: float) -> float | None:
    """COCOeval writes -1 where a figure has no ground truth to be measured on: null in the report."""
    return None if value < 0 else float(value)


def iou_matrix(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """IoU of every pair of COCO boxes ``[x, y, w, h]`` (rows: ``boxes_a``), as pycocotools' maskUtils.iou."""
    a = boxes_a[:, None, :]
    b = boxes_b[None, :, :]
    width = np.clip(
        np.minimum(a[..., 0] + a[..., 2], b[..., 0] + b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None
    )
    height = np.clip(
        np.minimum(a[..., 1] + a[..., 3], b[..., 1] + b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None
    )
    inter = width * height
    union = a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter
    out = np.zeros(inter.shape, dtype=float)
    np.divide(inter, union, out=out, where=union > 0)
    return out


def match_boxes(detected: np.ndarray, truth: np.ndarray, iou_threshold: float) -> list[tuple[int, int]]:
    """The one-to-one pairs (detection index, truth index) with the most pairs at IoU >= ``iou_threshold``.

    Each allowed pair weighs ``n + IoU`` with ``n`` above any possible pair count, so the assignment
    first maximises the number of pairs, then their IoU sum.
    """
    if len(detected) == 0 or len(truth) == 0:
        return []
    iou = iou_matrix(detected, truth)
    allowed = iou >= iou_threshold
    weight = np.where(allowed, min(iou.shape) + 1 + iou, 0.0)
    rows, cols = linear_sum_assignment(weight, maximize=True)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if allowed[r, c]]


@dataclass
class Matching:
    """Counts of the one-to-one matching, per class."""

    tp: dict[int, int]
    fp: dict[int, int]
    fn: dict[int, int]


def _boxes(anns: Iterable[dict[str, Any]]) -> np.ndarray:
    return np.asarray([ann["bbox"] for ann in anns], dtype=float).reshape(-1, 4)


def _matching(
    truth: dict[str, Any], detections: list[dict[str, Any]], iou_threshold: float, score_threshold: float
) -> tuple[Matching, np.ndarray]:
    categories = [category["id"] for category in truth["categories"]]
    column = {category: i for i, category in enumerate(categories)}
    background = len(categories)
    confusion = np.zeros((background + 1, background + 1), dtype=np.int64)
    truth_by_image: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for ann in truth["annotations"]:
        if not ann.get("iscrowd"):
            truth_by_image[ann["image_id"]].append(ann)
    detected_by_image: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for ann in detections:
        if ann["score"] >= score_threshold:
            detected_by_image[ann["image_id"]].append(ann)
    counts = Matching(defaultdict(int), defaultdict(int), defaultdict(int))
    for image in set(truth_by_image) | set(detected_by_image):
        gts, dts = truth_by_image[image], detected_by_image[image]
        # With the class: true and false positives, misses (only the classes present in this image).
        for category in {ann["category_id"] for ann in gts} | {ann["category_id"] for ann in dts}:
            g = [ann for ann in gts if ann["category_id"] == category]
            d = [ann for ann in dts if ann["category_id"] == category]
            pairs = len(match_boxes(_boxes(d), _boxes(g), iou_threshold))
            counts.tp[category] += pairs
            counts.fp[category] += len(d) - pairs
            counts.fn[category] += len(g) - pairs
        pairs_any = match_boxes(_boxes(dts), _boxes(gts), iou_threshold)  # without: where each box went
        for d_index, g_index in pairs_any:
            confusion[column[gts[g_index]["category_id"]], column[dts[d_index]["category_id"]]] += 1
        matched_d = {d for d, _ in pairs_any}
        matched_g = {g for _, g in pairs_any}
        for i, ann in enumerate(gts):
            if i not in matched_g:
                confusion[column[ann["category_id"]], background] += 1
        for i, ann in enumerate(dts):
            if i not in matched_d:
                confusion[background, column[ann["category_id"]]] += 1
    return counts, confusion


def _prf(tp: int, fp: int, fn: int) -> dict[str, float | int]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": precision, "recall": recall, "f1": f1}


def detection_report(
    truth: dict[str, Any], predictions: Any, *, iou_threshold: float = 0.5, score_threshold: float = 0.0
) -> tuple[dict[str, Any], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """The report, and per class (by name) its COCO precision-recall curve at IoU 0.5.

    ``truth`` and ``predictions`` have passed :mod:`workers.services.evaluation.checks`.
    """
    truth = prepare_truth(truth)
    detections = predictions_list(predictions)
    evaluator = coco_eval(truth, detections)
    precision = evaluator.eval["precision"]  # [IoU threshold, recall point, class, area, max detections]
    area_all, max_dets = 0, len(evaluator.params.maxDets) - 1
    iou_50 = int(np.argmin(np.abs(evaluator.params.iouThrs - 0.5)))
    iou_75 = int(np.argmin(np.abs(evaluator.params.iouThrs - 0.75)))
    recall_points = np.asarray(evaluator.params.recThrs)
    counts, confusion = _matching(truth, detections, iou_threshold, score_threshold)
    names = {category["id"]: str(category["name"]) for category in truth["categories"]}
    gt_count: dict[int, int] = defaultdict(int)
    for ann in truth["annotations"]:
        gt_count[ann["category_id"]] += 0 if ann.get("iscrowd") else 1
    dt_count: dict[int, int] = defaultdict(int)
    for ann in detections:
        dt_count[ann["category_id"]] += 1
    per_class = []
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for k, category_id in enumerate(evaluator.params.catIds):
        category = int(category_id)  # numpy's int64 in recent pycocotools: not JSON
        per_class.append(
            {
                "category_id": category,
                "name": names[category],
                "AP": _mean_precision(precision[:, :, k, area_all, max_dets]),
                "AP50": _mean_precision(precision[iou_50, :, k, area_all, max_dets]),
                "AP75": _mean_precision(precision[iou_75, :, k, area_all, max_dets]),
                "ground_truths": gt_count[category],
                "detections": dt_count[category],
                **_prf(counts.tp[category], counts.fp[category], counts.fn[category]),
            }
        )
        curve = precision[iou_50, :, k, area_all, max_dets]
        if (curve > -1).all():
            curves[names[category]] = (recall_points, curve)
    total = _prf(sum(counts.tp.values()), sum(counts.fp.values()), sum(counts.fn.values()))
    labels = [names[category["id"]] for category in truth["categories"]] + [BACKGROUND]
    report = {
        "kind": "detection",
        "images": len(truth["images"]),
        "ground_truths": sum(gt_count.values()),
        "detections": len(detections),
        "coco": {name: _stat(value) for name, value in zip(COCO_STATS, evaluator.stats, strict=True)},
        "per_class": per_class,
        "matching": {"iou_threshold": iou_threshold, "score_threshold": score_threshold, **total},
        "confusion": {"labels": labels, "matrix": confusion.tolist()},
    }
    return report, curves
