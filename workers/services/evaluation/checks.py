"""Light checks of the evaluation inputs, stdlib only: the API process runs them at submission.

:func:`check_stored_inputs` is the service's ``check_inputs`` core: it reads a table's head (or the
whole file, when small) and a COCO file whole up to a size, through the SDK's ``InputReader``, and
raises :class:`UsageError` naming the parameter (a 400). The worker runs the same COCO checks on
what it loads, so a file too large to be checked at submission ends its job in ERROR with the same
message.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable
from typing import IO, Any, Protocol

from spt_api.services import UsageError

__all__ = [
    "REQUIRED_COLUMNS",
    "check_coco",
    "check_coco_pair",
    "check_coco_predictions",
    "check_coco_truth",
    "check_stored_inputs",
    "check_table_head",
    "parse_json",
    "predictions_list",
]

#: The columns a classification table must have; ``score`` is optional.
REQUIRED_COLUMNS = ("id", "label")
#: Parquet files begin (and end) with these bytes.
PARQUET_MAGIC = b"PAR1"
#: How many problems one message lists before "...".
_SHOWN = 5


def _shown(items: Iterable[Any]) -> str:
    items = list(items)
    text = ", ".join(repr(i) for i in items[:_SHOWN])
    return text + (f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")


def check_table_head(data: bytes, parameter: str, *, complete: bool) -> None:
    """A classification table's header names ``id`` and ``label`` and at least one row follows.

    ``data`` is the whole table (``complete``) or its first bytes; a Parquet file is only
    recognised here (its schema is at its end) and checked by the worker.
    """
    if data.startswith(PARQUET_MAGIC):
        return
    if not data.strip():
        raise UsageError(f"{parameter}: the table is empty", parameter=parameter)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if complete or exc.start < len(data) - 4:  # a head may end inside a multi-byte character
            raise UsageError(
                f"{parameter}: not a CSV table in UTF-8, nor a Parquet file", parameter=parameter
            ) from None
        text = data[: exc.start].decode("utf-8-sig")
    lines = text.splitlines()
    if not complete and len(lines) > 1:
        lines = lines[:-1]  # the head may cut its last line short
    try:
        rows = [row for row in csv.reader(io.StringIO("\n".join(lines))) if any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise UsageError(f"{parameter}: not a readable CSV table: {exc}", parameter=parameter) from None
    if not rows:
        raise UsageError(f"{parameter}: the table is empty", parameter=parameter)
    header = [cell.strip().lower() for cell in rows[0]]
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise UsageError(
            f"{parameter}: the table lacks the column(s) {_shown(missing)} (its header is {_shown(rows[0])}); "
            "a classification table has the columns id, label and optionally score",
            parameter=parameter,
        )
    if len(rows) < 2 and complete:  # a head may hold the header and only part of a long first row
        raise UsageError(f"{parameter}: the table has a header but no rows", parameter=parameter)


def parse_json(data: bytes, parameter: str) -> Any:
    try:
        return json.loads(data)
    except UnicodeDecodeError:
        raise UsageError(f"{parameter}: not COCO JSON (not UTF-8 text)", parameter=parameter) from None
    except ValueError as exc:
        raise UsageError(f"{parameter}: not valid JSON: {exc}", parameter=parameter) from None
    except RecursionError:
        raise UsageError(f"{parameter}: JSON nested too deeply", parameter=parameter) from None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_box(ann: Any, where: str, parameter: str, fields: tuple[str, ...]) -> None:
    if not isinstance(ann, dict):
        raise UsageError(f"{parameter}: {where} is not a JSON object", parameter=parameter)
    for name in fields:
        if name not in ann:
            raise UsageError(f"{parameter}: {where} has no {name!r}", parameter=parameter)
    for name in ("image_id", "category_id"):
        if not _is_id(ann[name]):
            raise UsageError(f"{parameter}: {where} has a {name} that is not an integer", parameter=parameter)
    bbox = ann["bbox"]
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(_is_number(v) for v in bbox)):
        raise UsageError(
            f"{parameter}: {where} has a bbox that is not four numbers [x, y, width, height]", parameter=parameter
        )
    if bbox[2] < 0 or bbox[3] < 0:
        raise UsageError(f"{parameter}: {where} has a bbox of negative width or height", parameter=parameter)
    if "score" in fields and not _is_number(ann["score"]):
        raise UsageError(f"{parameter}: {where} has a score that is not a number", parameter=parameter)


def check_coco_truth(data: Any, parameter: str = "truth") -> None:
    """COCO ground truth: an object with ``images``, ``annotations`` and ``categories`` lists."""
    if not isinstance(data, dict):
        raise UsageError(
            f"{parameter}: COCO ground truth is a JSON object with images, annotations and categories",
            parameter=parameter,
        )
    for name in ("images", "annotations", "categories"):
        if not isinstance(data.get(name), list):
            raise UsageError(f"{parameter}: COCO ground truth needs a {name!r} list", parameter=parameter)
    if not data["images"]:
        raise UsageError(f"{parameter}: the ground truth has no images", parameter=parameter)
    if not data["categories"]:
        raise UsageError(f"{parameter}: the ground truth has no categories", parameter=parameter)
    for i, image in enumerate(data["images"]):
        if not isinstance(image, dict) or not _is_id(image.get("id")):
            raise UsageError(f"{parameter}: images[{i}] has no integer 'id'", parameter=parameter)
    for i, category in enumerate(data["categories"]):
        if not isinstance(category, dict) or not _is_id(category.get("id")):
            raise UsageError(f"{parameter}: categories[{i}] has no integer 'id'", parameter=parameter)
    for i, ann in enumerate(data["annotations"]):
        _check_box(ann, f"annotations[{i}]", parameter, ("image_id", "category_id", "bbox"))
    image_ids = {image["id"] for image in data["images"]}
    category_ids = {category["id"] for category in data["categories"]}
    stray_images = {ann["image_id"] for ann in data["annotations"]} - image_ids
    if stray_images:
        raise UsageError(
            f"{parameter}: annotations name image ids absent from its images: {_shown(sorted(stray_images))}",
            parameter=parameter,
        )
    stray = {ann["category_id"] for ann in data["annotations"]} - category_ids
    if stray:
        raise UsageError(
            f"{parameter}: annotations name category ids absent from its categories: {_shown(sorted(stray))}",
            parameter=parameter,
        )


def predictions_list(data: Any) -> Any:
    """COCO detections: a results list, or the ``annotations`` of a whole COCO object."""
    if isinstance(data, dict) and "annotations" in data:
        return data["annotations"]
    return data


def check_coco_predictions(data: Any, parameter: str = "predictions") -> None:
    """COCO results: a list of ``{image_id, category_id, bbox, score}`` (an empty list is allowed)."""
    detections = predictions_list(data)
    if not isinstance(detections, list):
        raise UsageError(
            f"{parameter}: COCO detections are a JSON list of {{image_id, category_id, bbox, score}} "
            "(or an object whose 'annotations' is that list)",
            parameter=parameter,
        )
    for i, ann in enumerate(detections):
        _check_box(ann, f"detection {i}", parameter, ("image_id", "category_id", "bbox", "score"))


def check_coco_pair(truth: Any, predictions: Any, parameter: str = "predictions") -> None:
    """The detections name only images and categories of the ground truth."""
    detections = predictions_list(predictions)
    for key, field, what in (("images", "image_id", "image"), ("categories", "category_id", "category")):
        known = {item["id"] for item in truth[key]}
        stray = {ann[field] for ann in detections} - known
        if stray:
            raise UsageError(
                f"{parameter}: detections name {what} ids absent from the ground truth: {_shown(sorted(stray))}",
                parameter=parameter,
            )


class _Reader(Protocol):
    """What :func:`check_stored_inputs` reads: the SDK's ``InputReader`` (head, size, open)."""

    def head(self, ref: str, n: int) -> bytes: ...

    def size(self, ref: str) -> int: ...

    def open(self, ref: str) -> IO[bytes]: ...


#: Bytes of an input read first at submission: a table's header and first rows, a small file whole. The
#: core's ``HEAD_BYTES`` (``spt_api.storage.inputs``): its reference check read as much, which serves this.
HEAD_BYTES = 64 * 1024
#: A COCO JSON input up to this size is parsed and checked whole at submission; a larger one by the worker.
CHECKED_JSON_BYTES = 16 * 1024 * 1024


def _check_parquet_tail(inputs: _Reader, ref: str, head: bytes, size: int, parameter: str) -> None:
    # A Parquet file ends with its footer and the magic again: a cut-off upload fails here, cheaply.
    if size >= 12:
        if len(head) >= size:  # the head is the whole file: its end is here already
            tail = head[-4:]
        else:
            with inputs.open(ref) as handle:
                handle.seek(size - 4)
                tail = handle.read(4)
        if tail == PARQUET_MAGIC:
            return
    raise UsageError(f"{parameter}: a truncated Parquet file (no footer)", parameter=parameter)


def check_stored_inputs(kind: str, refs: dict[str, str], inputs: _Reader) -> None:
    """The submission checks of stored inputs (``refs``: parameter name → reference), read through ``inputs``.

    Classification tables: the CSV header and first rows, or a Parquet file's magic at both ends.
    Detection: the whole JSON parsed and its COCO structure checked, up to :data:`CHECKED_JSON_BYTES`;
    a larger file only shows it begins like JSON, and the worker checks the rest.

    Each input's head is read first (the core's reference check has read it already, so it costs no
    request); a head shorter than :data:`HEAD_BYTES` is the whole file, whose size and bytes then need
    no further request (a small input cost three: the head, a HEAD for the size, a GET of it whole).
    """
    parsed: dict[str, Any] = {}
    for parameter, ref in refs.items():
        head = inputs.head(ref, HEAD_BYTES)
        whole = len(head) < HEAD_BYTES
        size = len(head) if whole else inputs.size(ref)
        if kind == "classification":
            check_table_head(head, parameter, complete=len(head) >= size)
            if head.startswith(PARQUET_MAGIC):
                _check_parquet_tail(inputs, ref, head, size, parameter)
        elif size <= CHECKED_JSON_BYTES:
            if whole:
                parsed[parameter] = parse_json(head, parameter)
            else:
                with inputs.open(ref) as handle:
                    parsed[parameter] = parse_json(handle.read(), parameter)
        elif head[:1024].lstrip()[:1] not in (b"{", b"["):
            raise UsageError(f"{parameter}: not valid JSON (it does not begin with {{ or [)", parameter=parameter)
    check_coco(parsed)


def check_coco(parsed: dict[str, Any]) -> None:
    """The COCO checks of whichever of ``truth`` and ``predictions`` are in ``parsed``, and of the pair."""
    if "truth" in parsed:
        check_coco_truth(parsed["truth"])
    if "predictions" in parsed:
        check_coco_predictions(parsed["predictions"])
        if "truth" in parsed:
            check_coco_pair(parsed["truth"], parsed["predictions"])
