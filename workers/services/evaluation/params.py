"""Parameters of the ``evaluation`` service (light: imported by the API).

``predictions`` and ``truth`` are input files (``InputFile``): uploaded as multipart file parts and
stored byte for byte (so Parquet arrives intact), or named by reference (an upload of one of the
user's jobs, a shared object, an allowed ``s3://`` URL: the core decides which, see
:mod:`spt_api.input_access`). :func:`check_inputs` reads what is cheap at submission (a table's header,
a Parquet file's magic, a COCO file up to 16 MiB), so a missing column, an empty table, malformed
JSON or a wrong COCO structure is a 400 naming the parameter; whatever it cannot see the worker
checks, ending the job in ERROR with the same kind of message.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from spt_api.services import InputFile, InputReader, ParamsModel, ServiceSpec
from workers.services.evaluation.checks import check_stored_inputs

__all__ = ["SERVICE", "EvaluationParams", "check_inputs"]


class EvaluationParams(ParamsModel):
    kind: Literal["classification", "detection"] = Field(
        title="What is evaluated: classification (id/label tables) or detection (COCO JSON)"
    )
    predictions: InputFile = Field(
        title="The model's output: a CSV or Parquet table (id, label, optional score) or COCO detections JSON"
    )
    truth: InputFile = Field(
        title="The ground truth: a CSV or Parquet table (id, label) or a COCO JSON object "
        "(images, annotations, categories)"
    )
    iou_threshold: float = Field(
        0.5, title="Detection: smallest IoU of a matched pair in the one-to-one (Hungarian) matching", gt=0, le=1
    )
    score_threshold: float = Field(
        0.0, title="Detection: detections scoring below it are left out of the one-to-one matching", ge=0
    )


def check_inputs(params: EvaluationParams, inputs: InputReader) -> None:
    """The submission check (``ServiceSpec.check_inputs``): headers and small files, in the API process."""
    check_stored_inputs(params.kind, {"predictions": params.predictions, "truth": params.truth}, inputs)


SERVICE = ServiceSpec(
    name="evaluation",
    title="Evaluation",
    description=(
        "Scores a model's predictions against ground truth: classification tables (accuracy, per-class "
        "precision/recall/F1, macro and weighted averages, confusion matrix) or COCO detections (mAP@[.5:.95], "
        "AP50, AP75 and per-class AP as pycocotools computes them, plus precision/recall/F1 of a one-to-one "
        "Hungarian matching at an IoU threshold). Results: report (JSON), confusion (PNG), pr_curve (PNG)."
    ),
    params_model=EvaluationParams,
    run="workers.services.evaluation.run:run",
    queue="evaluation",
    extra="evaluation",
    check_inputs="workers.services.evaluation.params:check_inputs",
)
