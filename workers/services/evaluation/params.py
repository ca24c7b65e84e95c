"""Parameters of the ``evaluation`` service (light: imported by the API).

``predictions`` and ``truth`` hold the input itself (CSV or COCO JSON text, as a form field or an
uploaded file) or name a stored object under ``inputs/`` (how a Parquet table arrives until binary
uploads exist). Inline inputs are checked here, at submission: a missing column, an empty table,
malformed JSON or a wrong COCO structure is a 400 naming the parameter. A stored input is checked by
the worker, which ends the job in ERROR with the same message.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from spt_api.services import ParamsModel, ServiceSpec
from workers.services.evaluation.checks import (
    check_coco,
    check_table_head,
    is_reference,
    parse_json,
    reference_key,
)

__all__ = ["SERVICE", "EvaluationParams"]


class EvaluationParams(ParamsModel):
    kind: Literal["classification", "detection"] = Field(
        title="What is evaluated: classification (id/label tables) or detection (COCO JSON)"
    )
    predictions: str = Field(
        title="The model's output: a CSV table (id, label, optional score) or COCO detections JSON; "
        "or the name of a stored object under inputs/",
        min_length=1,
    )
    truth: str = Field(
        title="The ground truth: a CSV table (id, label) or a COCO JSON object (images, annotations, "
        "categories); or the name of a stored object under inputs/",
        min_length=1,
    )
    iou_threshold: float = Field(
        0.5, title="Detection: smallest IoU of a matched pair in the one-to-one (Hungarian) matching", gt=0, le=1
    )
    score_threshold: float = Field(
        0.0, title="Detection: detections scoring below it are left out of the one-to-one matching", ge=0
    )

    @model_validator(mode="after")
    def _check_inline_inputs(self) -> Self:
        inline: dict[str, bytes] = {}
        for name, value in (("predictions", self.predictions), ("truth", self.truth)):
            if is_reference(value):
                reference_key(value, name)  # its content is checked by the worker
            else:
                inline[name] = value.encode()
        if self.kind == "classification":
            for name, data in inline.items():
                check_table_head(data, name, complete=True)
            return self
        check_coco({name: parse_json(data, name) for name, data in inline.items()})
        return self


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
)
