"""Execution of the ``evaluation`` service: read both inputs, score, write the report and two plots."""

from __future__ import annotations

import json
from typing import Any

from spt_api.services import JobContext
from workers.services.evaluation.checks import check_coco, parse_json
from workers.services.evaluation.inputs import read_input
from workers.services.evaluation.params import EvaluationParams

__all__ = ["evaluate", "run"]

def _classification(params: EvaluationParams, ctx: JobContext) -> tuple[dict[str, Any], bytes, bytes]:
    from workers.services.evaluation.classification import classification_report, pr_curves
    from workers.services.evaluation.plots import confusion_png, pr_curve_png
    from workers.services.evaluation.tables import EXAMPLE_IDS, join_tables, read_table

    predictions = read_table(read_input(ctx, params.predictions), "predictions")
    truth = read_table(read_input(ctx, params.truth), "truth")
    joined = join_tables(predictions, truth)
    ctx.progress(1, 3, "tables read")
    report = classification_report(joined)
    # Ids on one side only are left out of every figure, and counted here.
    report["unmatched"] = {
        "predictions_without_truth": len(joined.predictions_without_truth),
        "truth_without_prediction": len(joined.truth_without_prediction),
        "examples": {
            "predictions_without_truth": joined.predictions_without_truth[:EXAMPLE_IDS],
            "truth_without_prediction": joined.truth_without_prediction[:EXAMPLE_IDS],
        },
    }
    notes = []
    if joined.truth_without_prediction:
        notes.append(f"{len(joined.truth_without_prediction)} truth id(s) have no prediction and are not scored")
    if joined.predictions_without_truth:
        notes.append(f"{len(joined.predictions_without_truth)} prediction id(s) have no truth and are not scored")
    if joined.scores is None:
        notes.append("predictions have no score column: each class's precision-recall curve is one point")
    report["notes"] = notes
    ctx.progress(2, 3, "metrics computed")
    confusion = confusion_png(report["classes"], report["confusion"]["matrix"], title="Confusion matrix")
    curves = pr_curves(joined, report["classes"])
    return report, confusion, pr_curve_png(curves, title="Precision-recall per class (by score)")


def _detection(params: EvaluationParams, ctx: JobContext) -> tuple[dict[str, Any], bytes, bytes]:
    from workers.services.evaluation.detection import detection_report
    from workers.services.evaluation.plots import confusion_png, pr_curve_png

    truth = parse_json(read_input(ctx, params.truth), "truth")
    predictions = parse_json(read_input(ctx, params.predictions), "predictions")
    check_coco({"truth": truth, "predictions": predictions})
    ctx.progress(1, 3, "inputs read")
    report, curves = detection_report(
        truth, predictions, iou_threshold=params.iou_threshold, score_threshold=params.score_threshold
    )
    report["notes"] = [] if report["detections"] else ["there are no detections"]
    ctx.progress(2, 3, "metrics computed")
    confusion = confusion_png(
        report["confusion"]["labels"],
        report["confusion"]["matrix"],
        title=f"Detections matched one to one at IoU >= {params.iou_threshold:g}",
    )
    return report, confusion, pr_curve_png(curves, title="COCO precision-recall per class at IoU 0.5")


def evaluate(params: EvaluationParams, ctx: JobContext) -> tuple[dict[str, Any], bytes, bytes]:
    """The report and the two PNGs (confusion matrix, precision-recall curves)."""
    if params.kind == "classification":
        return _classification(params, ctx)
    return _detection(params, ctx)


def run(params: EvaluationParams, ctx: JobContext) -> None:
    ctx.progress(0, 3, "reading inputs")
    report, confusion, pr_curve = evaluate(params, ctx)
    ctx.add_result("report.json", json.dumps(report, indent=1).encode(), "application/json", result_id="report")
    ctx.add_result("confusion.png", confusion, "image/png", result_id="confusion")
    ctx.add_result("pr_curve.png", pr_curve, "image/png", result_id="pr_curve")
    ctx.progress(3, 3, "done")
