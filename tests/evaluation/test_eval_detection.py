"""Detection metrics: COCO figures against running pycocotools' COCOeval directly, and the Hungarian matching."""

from __future__ import annotations

import contextlib
import copy
import io
import json
from typing import Any

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from tests.evaluation.data import coco_pair
from workers.services.evaluation.detection import COCO_STATS, detection_report, iou_matrix, match_boxes


def _cocoeval(truth: dict[str, Any], detections: list[dict[str, Any]]) -> COCOeval:
    """COCOeval run as its README says, on a file-free copy of the inputs."""
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = copy.deepcopy(truth)
        gt.createIndex()
        dt = gt.loadRes(copy.deepcopy(detections))
        evaluator = COCOeval(gt, dt, "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator


@pytest.mark.parametrize("seed", [0, 1])
def test_coco_figures_match_cocoeval(seed: int) -> None:
    truth, detections = coco_pair(seed)
    report, curves = detection_report(truth, detections)
    reference = _cocoeval(truth, detections)
    assert json.loads(json.dumps(report)) == report  # plain JSON types only
    for name, value in zip(COCO_STATS, reference.stats, strict=True):
        expected = None if value < 0 else pytest.approx(value, abs=1e-12)
        assert report["coco"][name] == expected, name
    assert 0.2 < report["coco"]["mAP"] < 0.95  # a real mix of hits and misses, not a degenerate case
    precision = reference.eval["precision"]
    for k, category in enumerate(reference.params.catIds):
        row = next(c for c in report["per_class"] if c["category_id"] == category)
        p = precision[:, :, k, 0, -1]
        assert row["AP"] == pytest.approx(p[p > -1].mean(), abs=1e-12)
        assert row["AP50"] == pytest.approx(precision[0, :, k, 0, -1].mean(), abs=1e-12)
        assert row["AP75"] == pytest.approx(precision[5, :, k, 0, -1].mean(), abs=1e-12)
        recall, curve = curves[row["name"]]
        assert recall.tolist() == pytest.approx(np.linspace(0, 1, 101).tolist())
        assert curve.tolist() == precision[0, :, k, 0, -1].tolist()
    # The mean of the per-class APs is COCO's mAP.
    assert np.mean([c["AP"] for c in report["per_class"]]) == pytest.approx(report["coco"]["mAP"], abs=1e-12)


def test_missing_area_iscrowd_and_ids_default_as_coco_expects() -> None:
    truth, detections = coco_pair(2)
    bare = copy.deepcopy(truth)
    bare["annotations"] = [a for a in bare["annotations"] if not a["iscrowd"]]
    full = copy.deepcopy(bare)
    for ann in bare["annotations"]:
        del ann["area"], ann["iscrowd"], ann["id"]
    for category in bare["categories"]:
        del category["name"]
    report, _ = detection_report(bare, detections)
    assert report["coco"]["mAP"] == pytest.approx(_cocoeval(full, detections).stats[0], abs=1e-12)
    assert [c["name"] for c in report["per_class"]] == ["1", "2", "7"]


def test_annotation_ids_from_zero_or_repeated_do_not_change_the_figures() -> None:
    truth, detections = coco_pair(3)
    expected, _ = detection_report(truth, detections)
    for ids in ("from zero", "repeated"):
        odd = copy.deepcopy(truth)
        for i, ann in enumerate(odd["annotations"]):
            ann["id"] = i if ids == "from zero" else 7
        report, _ = detection_report(odd, detections)
        assert report["coco"] == expected["coco"], ids
    # COCOeval itself, given ids from 0, takes the match of box 0 for no match at all.
    zero = copy.deepcopy(truth)
    for i, ann in enumerate(zero["annotations"]):
        ann["id"] = i
    assert _cocoeval(zero, detections).stats[0] != expected["coco"]["mAP"]


def test_no_detection_scores_zero() -> None:
    truth, _ = coco_pair(0)
    report, _ = detection_report(truth, [])
    assert report["coco"]["mAP"] == 0 and report["coco"]["AP50"] == 0
    assert report["matching"]["tp"] == 0 and report["matching"]["recall"] == 0
    assert report["matching"]["fn"] == report["ground_truths"] > 0


def _box(x: float, w: float) -> list[float]:
    return [x, 0.0, w, 10.0]


def test_hungarian_matching_on_a_case_known_by_hand() -> None:
    """Two boxes A, B; detection P1 (higher score) overlaps both, B more; P2 overlaps only B.

    Greedy matching by score (as COCOeval does) gives P1 to B and leaves P2 and A unmatched; the
    one-to-one assignment pairs P1-A and P2-B. Image 2 has a miss (C), a stray detection (D), and a
    box found under the wrong class (E: a miss of class 1 and a false positive of class 2).
    """
    a, b = _box(0, 10), _box(6, 10)
    p1, p2 = _box(2, 13), _box(8, 10)
    iou = iou_matrix(np.array([p1, p2]), np.array([a, b]))
    assert iou.round(3).tolist() == [[0.533, 0.643], [0.111, 0.667]]  # the case is as described
    assert match_boxes(np.array([p1, p2]), np.array([a, b]), 0.5) == [(0, 0), (1, 1)]
    truth = {
        "images": [{"id": 1}, {"id": 2}],
        "categories": [{"id": 1, "name": "galaxy"}, {"id": 2, "name": "star"}],
        "annotations": [
            {"image_id": 1, "category_id": 1, "bbox": a},
            {"image_id": 1, "category_id": 1, "bbox": b},
            {"image_id": 2, "category_id": 1, "bbox": _box(0, 10)},  # C: missed
            {"image_id": 2, "category_id": 1, "bbox": _box(100, 10)},  # E: found as a star
        ],
    }
    detections = [
        {"image_id": 1, "category_id": 1, "bbox": p1, "score": 0.9},
        {"image_id": 1, "category_id": 1, "bbox": p2, "score": 0.8},
        {"image_id": 2, "category_id": 1, "bbox": _box(50, 10), "score": 0.7},  # D: nothing there
        {"image_id": 2, "category_id": 2, "bbox": _box(101, 10), "score": 0.6},  # E, wrong class
        {"image_id": 2, "category_id": 1, "bbox": _box(0, 10), "score": 0.01},  # C, below score_threshold
    ]
    report, _ = detection_report(truth, detections, iou_threshold=0.5, score_threshold=0.05)
    # Class 1: P1, P2 matched; D stray; A, B found, C and E missed. Class 2: E's detection stray.
    assert report["matching"] | {} == {
        "iou_threshold": 0.5, "score_threshold": 0.05, "tp": 2, "fp": 2, "fn": 2,
        "precision": 0.5, "recall": 0.5, "f1": 0.5,
    }  # fmt: skip
    galaxy, star = report["per_class"]
    assert (galaxy["tp"], galaxy["fp"], galaxy["fn"]) == (2, 1, 2)
    assert galaxy["precision"] == pytest.approx(2 / 3) and galaxy["recall"] == 0.5
    assert galaxy["f1"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 2))
    assert (star["tp"], star["fp"], star["fn"], star["precision"], star["f1"]) == (0, 1, 0, 0.0, 0.0)
    # Without the class: E's box went to "star", C to background, D came from background.
    assert report["confusion"] == {
        "labels": ["galaxy", "star", "background"],
        "matrix": [[2, 1, 1], [0, 0, 0], [1, 0, 0]],
    }
    # COCO's greedy matching at IoU .5 finds one of image 1's two boxes first: its AP50 shows it.
    assert report["coco"]["AP50"] == pytest.approx(_cocoeval(truth | {"annotations": [
        dict(ann, id=i + 1, area=100.0, iscrowd=0) for i, ann in enumerate(truth["annotations"])
    ]}, detections).stats[1], abs=1e-12)  # fmt: skip


def test_the_matching_prefers_more_pairs_over_a_larger_iou_sum() -> None:
    # One detection overlaps both boxes well; the other only one of them, barely above the threshold.
    truth = np.array([_box(0, 10), _box(5, 10)])
    detected = np.array([_box(3, 10), _box(0, 10)])
    pairs = match_boxes(detected, truth, 0.3)
    assert sorted(pairs) == [(0, 1), (1, 0)]
    assert match_boxes(detected, truth[:0], 0.5) == [] and match_boxes(detected[:0], truth, 0.5) == []
